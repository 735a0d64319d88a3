from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: _Optional[str] = ...) -> None: ...

class Challenge(_message.Message):
    __slots__ = ("nonce", "coordinator", "chain_id", "market", "expires")
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
    def __init__(self, nonce: _Optional[bytes] = ..., coordinator: _Optional[str] = ..., chain_id: _Optional[int] = ..., market: _Optional[str] = ..., expires: _Optional[int] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("address", "signature")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    address: str
    signature: bytes
    def __init__(self, address: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: _Optional[str] = ...) -> None: ...

class Refused(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Setup(_message.Message):
    __slots__ = ("spec_json", "feature_shape", "n_classes", "state")
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SHAPE_FIELD_NUMBER: _ClassVar[int]
    N_CLASSES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    feature_shape: _containers.RepeatedScalarFieldContainer[int]
    n_classes: int
    state: bytes
    def __init__(self, spec_json: _Optional[str] = ..., feature_shape: _Optional[_Iterable[int]] = ..., n_classes: _Optional[int] = ..., state: _Optional[bytes] = ...) -> None: ...

class SetupStage(_message.Message):
    __slots__ = ("spec_json", "feature_shape", "n_classes", "index", "state")
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
    def __init__(self, spec_json: _Optional[str] = ..., feature_shape: _Optional[_Iterable[int]] = ..., n_classes: _Optional[int] = ..., index: _Optional[int] = ..., state: _Optional[bytes] = ...) -> None: ...

class RunUnit(_message.Message):
    __slots__ = ("xs", "ys", "every")
    XS_FIELD_NUMBER: _ClassVar[int]
    YS_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    xs: _containers.RepeatedCompositeFieldContainer[Tensor]
    ys: _containers.RepeatedCompositeFieldContainer[Tensor]
    every: int
    def __init__(self, xs: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., ys: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., every: _Optional[int] = ...) -> None: ...

class GradStep(_message.Message):
    __slots__ = ("has_grads", "grads", "x", "y", "batch_total")
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
    def __init__(self, has_grads: _Optional[bool] = ..., grads: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., x: _Optional[_Union[Tensor, _Mapping]] = ..., y: _Optional[_Union[Tensor, _Mapping]] = ..., batch_total: _Optional[int] = ...) -> None: ...

class Finish(_message.Message):
    __slots__ = ("grads", "with_state")
    GRADS_FIELD_NUMBER: _ClassVar[int]
    WITH_STATE_FIELD_NUMBER: _ClassVar[int]
    grads: _containers.RepeatedCompositeFieldContainer[Tensor]
    with_state: bool
    def __init__(self, grads: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., with_state: _Optional[bool] = ...) -> None: ...

class StageForward(_message.Message):
    __slots__ = ("mb", "x")
    MB_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    mb: int
    x: Tensor
    def __init__(self, mb: _Optional[int] = ..., x: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class StageBackward(_message.Message):
    __slots__ = ("mb", "grad", "y", "total")
    MB_FIELD_NUMBER: _ClassVar[int]
    GRAD_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    mb: int
    grad: Tensor
    y: Tensor
    total: int
    def __init__(self, mb: _Optional[int] = ..., grad: _Optional[_Union[Tensor, _Mapping]] = ..., y: _Optional[_Union[Tensor, _Mapping]] = ..., total: _Optional[int] = ...) -> None: ...

class StageForwardBackward(_message.Message):
    __slots__ = ("mb", "x", "y", "total")
    MB_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    mb: int
    x: Tensor
    y: Tensor
    total: int
    def __init__(self, mb: _Optional[int] = ..., x: _Optional[_Union[Tensor, _Mapping]] = ..., y: _Optional[_Union[Tensor, _Mapping]] = ..., total: _Optional[int] = ...) -> None: ...

class StageStep(_message.Message):
    __slots__ = ("with_hash",)
    WITH_HASH_FIELD_NUMBER: _ClassVar[int]
    with_hash: bool
    def __init__(self, with_hash: _Optional[bool] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Ping(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: Tensor
    def __init__(self, payload: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("id", "job", "unit", "role", "setup", "run_unit", "grad_step", "finish", "setup_stage", "stage_forward", "stage_backward", "stage_forward_backward", "stage_step", "stage_snapshot", "traffic", "ping")
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
    ping: Ping
    def __init__(self, id: _Optional[int] = ..., job: _Optional[str] = ..., unit: _Optional[int] = ..., role: _Optional[str] = ..., setup: _Optional[_Union[Setup, _Mapping]] = ..., run_unit: _Optional[_Union[RunUnit, _Mapping]] = ..., grad_step: _Optional[_Union[GradStep, _Mapping]] = ..., finish: _Optional[_Union[Finish, _Mapping]] = ..., setup_stage: _Optional[_Union[SetupStage, _Mapping]] = ..., stage_forward: _Optional[_Union[StageForward, _Mapping]] = ..., stage_backward: _Optional[_Union[StageBackward, _Mapping]] = ..., stage_forward_backward: _Optional[_Union[StageForwardBackward, _Mapping]] = ..., stage_step: _Optional[_Union[StageStep, _Mapping]] = ..., stage_snapshot: _Optional[_Union[Empty, _Mapping]] = ..., traffic: _Optional[_Union[Empty, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ...) -> None: ...

class Hash(_message.Message):
    __slots__ = ("hash",)
    HASH_FIELD_NUMBER: _ClassVar[int]
    hash: str
    def __init__(self, hash: _Optional[str] = ...) -> None: ...

class UnitResult(_message.Message):
    __slots__ = ("losses", "state", "hash", "trace", "seconds")
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
    def __init__(self, losses: _Optional[_Iterable[float]] = ..., state: _Optional[bytes] = ..., hash: _Optional[str] = ..., trace: _Optional[_Iterable[str]] = ..., seconds: _Optional[float] = ...) -> None: ...

class GradResult(_message.Message):
    __slots__ = ("grads", "loss_sum", "seconds")
    GRADS_FIELD_NUMBER: _ClassVar[int]
    LOSS_SUM_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    grads: _containers.RepeatedCompositeFieldContainer[Tensor]
    loss_sum: float
    seconds: float
    def __init__(self, grads: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., loss_sum: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class FinishResult(_message.Message):
    __slots__ = ("hash", "state", "has_state")
    HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HAS_STATE_FIELD_NUMBER: _ClassVar[int]
    hash: str
    state: bytes
    has_state: bool
    def __init__(self, hash: _Optional[str] = ..., state: _Optional[bytes] = ..., has_state: _Optional[bool] = ...) -> None: ...

class TensorResult(_message.Message):
    __slots__ = ("tensor",)
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    tensor: Tensor
    def __init__(self, tensor: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("loss", "seconds", "hash")
    LOSS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    loss: float
    seconds: float
    hash: str
    def __init__(self, loss: _Optional[float] = ..., seconds: _Optional[float] = ..., hash: _Optional[str] = ...) -> None: ...

class Blob(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class Counters(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, float]
    def __init__(self, values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("address", "pid", "payload")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    address: str
    pid: int
    payload: Tensor
    def __init__(self, address: _Optional[str] = ..., pid: _Optional[int] = ..., payload: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("id", "signature", "ack", "hash", "unit", "grad", "finish", "tensor", "step", "blob", "counters", "pong", "failure")
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
    def __init__(self, id: _Optional[int] = ..., signature: _Optional[bytes] = ..., ack: _Optional[_Union[Empty, _Mapping]] = ..., hash: _Optional[_Union[Hash, _Mapping]] = ..., unit: _Optional[_Union[UnitResult, _Mapping]] = ..., grad: _Optional[_Union[GradResult, _Mapping]] = ..., finish: _Optional[_Union[FinishResult, _Mapping]] = ..., tensor: _Optional[_Union[TensorResult, _Mapping]] = ..., step: _Optional[_Union[StepResult, _Mapping]] = ..., blob: _Optional[_Union[Blob, _Mapping]] = ..., counters: _Optional[_Union[Counters, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., failure: _Optional[_Union[Failure, _Mapping]] = ...) -> None: ...

class FromWorker(_message.Message):
    __slots__ = ("hello", "answer", "reply")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    answer: Answer
    reply: Reply
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., answer: _Optional[_Union[Answer, _Mapping]] = ..., reply: _Optional[_Union[Reply, _Mapping]] = ...) -> None: ...

class FromCoordinator(_message.Message):
    __slots__ = ("challenge", "welcome", "refused", "request")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    challenge: Challenge
    welcome: Welcome
    refused: Refused
    request: Request
    def __init__(self, challenge: _Optional[_Union[Challenge, _Mapping]] = ..., welcome: _Optional[_Union[Welcome, _Mapping]] = ..., refused: _Optional[_Union[Refused, _Mapping]] = ..., request: _Optional[_Union[Request, _Mapping]] = ...) -> None: ...
