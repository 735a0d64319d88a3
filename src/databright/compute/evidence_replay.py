"""The honest re-run of one group's unit, message by message: what a verifier compares a split stage's or a
data-parallel member's signed transcript with (`evidence_groups`).

From the agreed state and the job's data alone, the verifier plays every member of a group the way an
honest worker would (the same training code, `training.split.Stage` and `training.replica.Replica`, in
the coordinator's message order: `split_exec.execute_split`, `groups.execute_parallel`). For each
message a member is sent it records the digest of the exact request body the coordinator sends (the
stage's slice of the state, the samples and labels of its micro-batch, the activations and gradients an
honest pipeline forwards, the summed gradients) and a fingerprint of the value an honest reply carries
(the tensor's bytes, a state's hash). Times and losses are not compared: only what TMR compares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError, Message

from databright.compute.data import TrainingData
from databright.compute.schedule import ShardPlan, Unit
from databright.compute.split_exec import StageLayout
from databright.protocol import worker_pb2 as pb
from databright.protocol.codec import encode, encode_all
from databright.protocol.signing import body_digest
from databright.training.replica import Array, Replica, packed_state_hash, state_hash, sum_gradients
from databright.training.spec import JobSpec
from databright.training.split import backward_order, build_stages

REPLY: dict[str, type[Message]] = {
    "setup": pb.Hash, "setup_stage": pb.Empty, "stage_forward": pb.TensorResult, "stage_backward": pb.TensorResult,
    "stage_forward_backward": pb.TensorResult, "stage_step": pb.StepResult, "stage_snapshot": pb.Blob,
    "grad_step": pb.GradResult, "finish": pb.FinishResult}
WORK = frozenset(REPLY)  # request kinds that are a unit's work (not pings or traffic counters)


@dataclass(frozen=True)
class Expected:
    label: str        # the trace position the reply is (as `verification.first_divergence` names it)
    kind: str         # the request's kind
    request: str      # sha-256 of the request body the coordinator sends
    value: str        # fingerprint of what an honest reply carries (`fingerprint`)


@dataclass
class Script:
    """Per member (in group order): the setup it is sent if it does not hold the agreed state yet,
    then every message of the unit; and the hash of the group's agreed final state."""

    setups: list[Expected]
    members: list[list[Expected]]
    final: str


def _tensor(t: pb.Tensor) -> str:
    return f"{t.dtype}{list(t.shape)}:{hashlib.sha256(t.data).hexdigest()}"


def _array(a: Array | None) -> str:
    return "none" if a is None else _tensor(encode(a))


def _state(blob: bytes) -> str:
    try:
        return packed_state_hash(blob)
    except Exception:  # a worker's bytes that are no state: no honest value
        return "not a state"


def fingerprint(kind: str, body: bytes) -> str:
    """What a signed reply body to a `kind` request says, in the form `Expected.value` has."""
    try:
        reply = REPLY[kind].FromString(body)
    except (KeyError, DecodeError):
        return "unreadable"
    if isinstance(reply, pb.TensorResult):
        return _tensor(reply.tensor) if reply.HasField("tensor") else "none"
    if isinstance(reply, pb.StepResult | pb.Hash):
        return reply.hash
    if isinstance(reply, pb.Blob):
        return _state(reply.data)
    if isinstance(reply, pb.GradResult):
        return "/".join(_tensor(t) for t in reply.grads)
    if isinstance(reply, pb.FinishResult):
        return _state(reply.state) if reply.has_state else "no state"
    return "ack"


def _grads(arrays: Sequence[Array]) -> str:
    return "/".join(_array(a) for a in arrays)


def split_script(spec: JobSpec, data: TrainingData, unit: Unit, state: bytes) -> Script:
    """The stages' messages of `unit` from the agreed `state`, GPipe order, hashes asked after each step."""
    fs, nc, spec_json = data.feature_shape, data.n_classes, spec.to_bytes().decode()
    layout = StageLayout(spec, fs, nc)
    stages = build_stages(spec, fs, nc)
    setups = []
    for k, stage in enumerate(stages):
        blob = layout.stage_state(state, k)
        stage.load(blob)
        setups.append(Expected("setup", "setup_stage", body_digest(pb.SetupStage(
            spec_json=spec_json, feature_shape=list(fs), n_classes=nc, index=k, state=blob)), "ack"))
    members: list[list[Expected]] = [[] for _ in stages]
    last = len(stages) - 1
    x, y = data.x_train, data.y_train
    micro = max(1, spec.protections.micro_batches)
    step_request = body_digest(pb.StageStep(with_hash=True))
    for step, batch in enumerate(unit.batches, start=unit.start):
        total = len(batch)
        parts = [p for p in np.array_split(batch, micro) if len(p)]
        grads: list[Array | None] = []
        for m, idx in enumerate(parts):
            act: Array = x[idx]
            for k in range(last):
                out = stages[k].forward(act, m)
                members[k].append(Expected(f"step {step} forward {m} stage {k}", "stage_forward",
                                           body_digest(pb.StageForward(mb=m, x=encode(act))), _array(out)))
                act = out
            stages[last].forward(act, m)
            back = stages[last].backward(m, None, y[idx], total)
            members[last].append(Expected(f"step {step} backward {m} stage {last}", "stage_forward_backward",
                                          body_digest(pb.StageForwardBackward(mb=m, x=encode(act), y=encode(y[idx]),
                                                                              total=total)), _array(back)))
            grads.append(back)
        for m in backward_order(len(parts)):
            grad = grads[m]
            for k in reversed(range(last)):
                request = pb.StageBackward(mb=m, total=total)
                if grad is not None:
                    request.grad.CopyFrom(encode(grad))
                grad = stages[k].backward(m, grad, None, total)
                members[k].append(Expected(f"step {step} backward {m} stage {k}", "stage_backward",
                                           body_digest(request), _array(grad)))
        for k, stage in enumerate(stages):
            stage.step()
            members[k].append(Expected(f"step {step} state {k}", "stage_step", step_request,
                                       state_hash(stage.layers, stage.optimizer)))
    snaps = [stage.snapshot() for stage in stages]
    for k, snap in enumerate(snaps):
        members[k].append(Expected(f"final {k}", "stage_snapshot", body_digest(pb.Empty()), packed_state_hash(snap)))
    return Script(setups, members, packed_state_hash(layout.whole_state(snaps)))


def parallel_script(spec: JobSpec, data: TrainingData, unit: Unit, state: bytes) -> Script:
    """The data-parallel members' messages of `unit`: a gradient share per step (the previous step's sum
    applied first), then the last sum and the final state. All members hold the same replica, so one
    replica plays them all."""
    fs, nc = data.feature_shape, data.n_classes
    cap = spec.protections.data_cap
    plan = ShardPlan.build(data.n_train, cap, spec.training.seed) if cap is not None else None
    width = len(unit.shards) if unit.shards else spec.workers
    replica = Replica(spec, fs, nc)
    replica.load(state)
    setup = Expected("setup", "setup", body_digest(pb.Setup(spec_json=spec.to_bytes().decode(), feature_shape=list(fs),
                                                             n_classes=nc, state=state)), replica.state_hash())
    members: list[list[Expected]] = [[] for _ in range(width)]
    x, y = data.x_train, data.y_train
    summed: list[Array] | None = None
    for step, batch in enumerate(unit.batches, start=unit.start):
        parts = plan.split(batch, unit.shards) if plan is not None else list(np.array_split(batch, width))
        if summed is not None:
            replica.apply(summed)
        shares = []
        for i, p in enumerate(parts):
            share, _ = replica.gradient(x[p], y[p], len(batch))
            request = pb.GradStep(has_grads=summed is not None, grads=encode_all(summed or []), x=encode(x[p]),
                                  y=encode(y[p]), batch_total=len(batch))
            members[i].append(Expected(f"step {step} share {i}", "grad_step", body_digest(request), _grads(share)))
            shares.append(share)
        summed = sum_gradients(shares)
    if summed is None:
        return Script([setup] * width, members, replica.state_hash())
    replica.apply(summed)
    final = replica.state_hash()
    request_digest = body_digest(pb.Finish(grads=encode_all(summed), with_state=True))
    for i in range(width):
        members[i].append(Expected(f"final {i}", "finish", request_digest, final))
    return Script([setup] * width, members, final)
