from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("data", "dtype", "shape")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: str | None = ..., shape: _Iterable[int] | None = ..., data: bytes | None = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: str | None = ...) -> None: ...

class Challenge(_message.Message):
    __slots__ = ("chain_id", "coordinator", "expires", "market", "nonce")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    nonce: bytes
    coordinator: str
    chain_id: int
    market: str
    expires: int
    def __init__(self, nonce: bytes | None = ..., coordinator: str | None = ..., chain_id: int | None = ..., market: str | None = ..., expires: int | None = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("address", "signature")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    address: str
    signature: bytes
    def __init__(self, address: str | None = ..., signature: bytes | None = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: str | None = ...) -> None: ...

class Refused(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: str | None = ...) -> None: ...

class Setup(_message.Message):
    __slots__ = ("feature_shape", "n_classes", "spec_json", "state")
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SHAPE_FIELD_NUMBER: _ClassVar[int]
    N_CLASSES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    feature_shape: _containers.RepeatedScalarFieldContainer[int]
    n_classes: int
    state: bytes
    def __init__(self, spec_json: str | None = ..., feature_shape: _Iterable[int] | None = ..., n_classes: int | None = ..., state: bytes | None = ...) -> None: ...

class SetupStage(_message.Message):
    __slots__ = ("feature_shape", "index", "n_classes", "spec_json", "state")
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SHAPE_FIELD_NUMBER: _ClassVar[int]
    N_CLASSES_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    feature_shape: _containers.RepeatedScalarFieldContainer[int]
    n_classes: int
    index: int
    state: bytes
    def __init__(self, spec_json: str | None = ..., feature_shape: _Iterable[int] | None = ..., n_classes: int | None = ..., index: int | None = ..., state: bytes | None = ...) -> None: ...

class RunUnit(_message.Message):
    __slots__ = ("every", "xs", "ys")
    XS_FIELD_NUMBER: _ClassVar[int]
    YS_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    xs: _containers.RepeatedCompositeFieldContainer[Tensor]
    ys: _containers.RepeatedCompositeFieldContainer[Tensor]
    every: int
    def __init__(self, xs: _Iterable[Tensor | _Mapping] | None = ..., ys: _Iterable[Tensor | _Mapping] | None = ..., every: int | None = ...) -> None: ...

class GradStep(_message.Message):
    __slots__ = ("batch_total", "grads", "has_grads", "x", "y")
    HAS_GRADS_FIELD_NUMBER: _ClassVar[int]
    GRADS_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    BATCH_TOTAL_FIELD_NUMBER: _ClassVar[int]
    has_grads: bool
    grads: _containers.RepeatedCompositeFieldContainer[Tensor]
    x: Tensor
    y: Tensor
    batch_total: int
    def __init__(self, has_grads: bool | None = ..., grads: _Iterable[Tensor | _Mapping] | None = ..., x: Tensor | _Mapping | None = ..., y: Tensor | _Mapping | None = ..., batch_total: int | None = ...) -> None: ...

class Finish(_message.Message):
    __slots__ = ("grads", "with_state")
    GRADS_FIELD_NUMBER: _ClassVar[int]
    WITH_STATE_FIELD_NUMBER: _ClassVar[int]
    grads: _containers.RepeatedCompositeFieldContainer[Tensor]
    with_state: bool
    def __init__(self, grads: _Iterable[Tensor | _Mapping] | None = ..., with_state: bool | None = ...) -> None: ...

class StageForward(_message.Message):
    __slots__ = ("mb", "x")
    MB_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    mb: int
    x: Tensor
    def __init__(self, mb: int | None = ..., x: Tensor | _Mapping | None = ...) -> None: ...

class StageBackward(_message.Message):
    __slots__ = ("grad", "mb", "total", "y")
    MB_FIELD_NUMBER: _ClassVar[int]
    GRAD_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    mb: int
    grad: Tensor
    y: Tensor
    total: int
    def __init__(self, mb: int | None = ..., grad: Tensor | _Mapping | None = ..., y: Tensor | _Mapping | None = ..., total: int | None = ...) -> None: ...

class StageForwardBackward(_message.Message):
    __slots__ = ("mb", "total", "x", "y")
    MB_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    mb: int
    x: Tensor
    y: Tensor
    total: int
    def __init__(self, mb: int | None = ..., x: Tensor | _Mapping | None = ..., y: Tensor | _Mapping | None = ..., total: int | None = ...) -> None: ...

class StageStep(_message.Message):
    __slots__ = ("with_hash",)
    WITH_HASH_FIELD_NUMBER: _ClassVar[int]
    with_hash: bool
    def __init__(self, with_hash: bool | None = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Request(_message.Message):
    __slots__ = ("finish", "grad_step", "id", "job", "ping", "role", "run_unit", "setup", "setup_stage", "stage_backward", "stage_forward", "stage_forward_backward", "stage_snapshot", "stage_step", "traffic", "unit")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SETUP_FIELD_NUMBER: _ClassVar[int]
    RUN_UNIT_FIELD_NUMBER: _ClassVar[int]
    GRAD_STEP_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    SETUP_STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FORWARD_FIELD_NUMBER: _ClassVar[int]
    STAGE_BACKWARD_FIELD_NUMBER: _ClassVar[int]
    STAGE_FORWARD_BACKWARD_FIELD_NUMBER: _ClassVar[int]
    STAGE_STEP_FIELD_NUMBER: _ClassVar[int]
    STAGE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    id: int
    job: str
    unit: int
    role: str
    setup: Setup
    run_unit: RunUnit
    grad_step: GradStep
    finish: Finish
    setup_stage: SetupStage
    stage_forward: StageForward
    stage_backward: StageBackward
    stage_forward_backward: StageForwardBackward
    stage_step: StageStep
    stage_snapshot: Empty
    traffic: Empty
    ping: Empty
    def __init__(self, id: int | None = ..., job: str | None = ..., unit: int | None = ..., role: str | None = ..., setup: Setup | _Mapping | None = ..., run_unit: RunUnit | _Mapping | None = ..., grad_step: GradStep | _Mapping | None = ..., finish: Finish | _Mapping | None = ..., setup_stage: SetupStage | _Mapping | None = ..., stage_forward: StageForward | _Mapping | None = ..., stage_backward: StageBackward | _Mapping | None = ..., stage_forward_backward: StageForwardBackward | _Mapping | None = ..., stage_step: StageStep | _Mapping | None = ..., stage_snapshot: Empty | _Mapping | None = ..., traffic: Empty | _Mapping | None = ..., ping: Empty | _Mapping | None = ...) -> None: ...

class Hash(_message.Message):
    __slots__ = ("hash",)
    HASH_FIELD_NUMBER: _ClassVar[int]
    hash: str
    def __init__(self, hash: str | None = ...) -> None: ...

class UnitResult(_message.Message):
    __slots__ = ("hash", "losses", "seconds", "state", "trace")
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    losses: _containers.RepeatedScalarFieldContainer[float]
    state: bytes
    hash: str
    trace: _containers.RepeatedScalarFieldContainer[str]
    seconds: float
    def __init__(self, losses: _Iterable[float] | None = ..., state: bytes | None = ..., hash: str | None = ..., trace: _Iterable[str] | None = ..., seconds: float | None = ...) -> None: ...

class GradResult(_message.Message):
    __slots__ = ("grads", "loss_sum", "seconds")
    GRADS_FIELD_NUMBER: _ClassVar[int]
    LOSS_SUM_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    grads: _containers.RepeatedCompositeFieldContainer[Tensor]
    loss_sum: float
    seconds: float
    def __init__(self, grads: _Iterable[Tensor | _Mapping] | None = ..., loss_sum: float | None = ..., seconds: float | None = ...) -> None: ...

class FinishResult(_message.Message):
    __slots__ = ("has_state", "hash", "state")
    HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HAS_STATE_FIELD_NUMBER: _ClassVar[int]
    hash: str
    state: bytes
    has_state: bool
    def __init__(self, hash: str | None = ..., state: bytes | None = ..., has_state: bool | None = ...) -> None: ...

class TensorResult(_message.Message):
    __slots__ = ("tensor",)
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    tensor: Tensor
    def __init__(self, tensor: Tensor | _Mapping | None = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("hash", "loss", "seconds")
    LOSS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    loss: float
    seconds: float
    hash: str
    def __init__(self, loss: float | None = ..., seconds: float | None = ..., hash: str | None = ...) -> None: ...

class Blob(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: bytes | None = ...) -> None: ...

class Counters(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: str | None = ..., value: float | None = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, float]
    def __init__(self, values: _Mapping[str, float] | None = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("address", "pid")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    address: str
    pid: int
    def __init__(self, address: str | None = ..., pid: int | None = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: str | None = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("ack", "blob", "counters", "failure", "finish", "grad", "hash", "id", "pong", "signature", "step", "tensor", "unit")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    GRAD_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    id: int
    signature: bytes
    ack: Empty
    hash: Hash
    unit: UnitResult
    grad: GradResult
    finish: FinishResult
    tensor: TensorResult
    step: StepResult
    blob: Blob
    counters: Counters
    pong: Pong
    failure: Failure
    def __init__(self, id: int | None = ..., signature: bytes | None = ..., ack: Empty | _Mapping | None = ..., hash: Hash | _Mapping | None = ..., unit: UnitResult | _Mapping | None = ..., grad: GradResult | _Mapping | None = ..., finish: FinishResult | _Mapping | None = ..., tensor: TensorResult | _Mapping | None = ..., step: StepResult | _Mapping | None = ..., blob: Blob | _Mapping | None = ..., counters: Counters | _Mapping | None = ..., pong: Pong | _Mapping | None = ..., failure: Failure | _Mapping | None = ...) -> None: ...

class FromWorker(_message.Message):
    __slots__ = ("answer", "hello", "reply")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    answer: Answer
    reply: Reply
    def __init__(self, hello: Hello | _Mapping | None = ..., answer: Answer | _Mapping | None = ..., reply: Reply | _Mapping | None = ...) -> None: ...

class FromCoordinator(_message.Message):
    __slots__ = ("challenge", "refused", "request", "welcome")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    challenge: Challenge
    welcome: Welcome
    refused: Refused
    request: Request
    def __init__(self, challenge: Challenge | _Mapping | None = ..., welcome: Welcome | _Mapping | None = ..., refused: Refused | _Mapping | None = ..., request: Request | _Mapping | None = ...) -> None: ...
