"""The runner's view of one worker: typed calls that return futures, and the check of every reply.

A call is queued on the worker's session (`gateway.Session`) and answered in order; its future
holds the decoded value, or an exception when the worker failed: it disconnected (`WorkerGone`),
reported a failure, or sent a reply that fails a check (`ReplyRejected`). The checks, all made
before anything of a reply is used: the reply's kind is the one the request asks for, it answers a
request this session sent, its signature is the worker's over (job, unit, role, request, reply), its
tensors have an allowed dtype, the exact shape expected and the byte length that shape needs, its
floats are finite, a state has exactly the tensors of the state the worker was given, a hash is a
sha-256 hex digest. A failed check is that worker's fault; it never raises in the coordinator.

A tensor argument may be another call's future: the request is sent once that future is done (so a
split model's activations go worker -> coordinator -> worker without the runner waiting on them), and
fails as `UpstreamFailed` without being sent if that future failed.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from databright.protocol import worker_pb2 as pb
from databright.protocol.codec import decode, decode_all, encode, encode_all, finite
from databright.protocol.errors import ProtocolError
from databright.protocol.signing import ResultStatement
from databright.protocol.state import check_like, unpack_state
from databright.training.errors import ComputeError
from databright.training.replica import Array

if TYPE_CHECKING:
    from databright.compute.gateway import Session

HEX64 = re.compile(r"^[0-9a-f]{64}$")


class WorkerGone(ComputeError):
    """The worker's session ended (disconnected, cut off, replaced) before it answered."""


class ReplyRejected(ComputeError):
    """The worker's reply failed a check (or reported a failure): it is that worker's fault."""


class UpstreamFailed(ComputeError):
    """A request was not sent because the call whose output it needed failed (another worker's fault)."""


@dataclass(frozen=True)
class Receipt:
    """A result the worker signed: the statement, its signature and (for a unit's result) the reply's
    body, whose BLAKE3 digest the statement names: kept for slash evidence."""

    statement: ResultStatement
    signature: bytes
    body: bytes | None = None


@dataclass
class Call:
    kind: str
    build: Callable[[list[Any]], Any]               # the request's body, from the resolved dependencies
    check: Callable[[pb.Reply], Any]                # the decoded value of a reply of the right kind
    reply_kind: str
    deps: list[Future[Any]] = field(default_factory=list)
    future: Future[Any] = field(default_factory=Future)
    context: tuple[str, int, str] = ("", 0, "")


def _hash(value: str, what: str) -> str:
    if not HEX64.match(value):
        raise ProtocolError(f"{what}: not a sha-256 hex digest")
    return value


class WorkerHandle:
    """One worker address; its session is replaced when the worker reconnects."""

    def __init__(self, address: str, session: Session | None = None) -> None:
        self.address = address
        self.session = session
        self.context: tuple[str, int, str] = ("", 0, "")  # (job, unit, role) the next requests are about
        self.receipts: deque[Receipt] = deque(maxlen=8)  # the last few: evidence is taken right after a gather
        self.transcript: list[Receipt] | None = None     # while a list: every signed reply, body kept (group evidence)
        self._template: dict[str, Any] | None = None        # the state it was last given (its structure is checked)
        self._params: list[tuple[int, ...]] = []
        self._stage_out: tuple[int, ...] | None = None      # a stage's output per sample (None: the last stage)
        self._mb_in: dict[int, tuple[int, ...]] = {}         # a stage's input shape per micro-batch

    def __hash__(self) -> int:
        return hash(self.address)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkerHandle) and other.address == self.address

    def __repr__(self) -> str:
        return f"WorkerHandle({self.address})"

    @property
    def alive(self) -> bool:
        return self.session is not None and self.session.open

    def close(self, reason: str = "replaced") -> None:
        """Ends the worker's session (a replaced worker): its pending calls fail as `WorkerGone`."""
        if self.session is not None:
            self.session.close(reason)

    def at(self, job: str, unit: int, role: str) -> None:
        self.context = (job, unit, role)

    def _call(self, kind: str, reply_kind: str, build: Callable[[list[Any]], Any], check: Callable[[pb.Reply], Any],
              deps: Sequence[Future[Any]] = ()) -> Future[Any]:
        call = Call(kind, build, check, reply_kind, list(deps), context=self.context)
        session = self.session
        if session is None or not session.open:
            call.future.set_exception(WorkerGone(f"worker {self.address} has no session"))
            return call.future
        session.submit(call)
        return call.future

    # ------------------------------------------------------------ a whole replica

    def setup(self, job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int,
              state: bytes) -> Future[str]:
        self._template = unpack_state(state)
        self._params = [tuple(t.shape) for t in self._template["model"].values()]
        body = pb.Setup(spec_json=spec_json.decode(), feature_shape=list(feature_shape), n_classes=n_classes,
                        state=state)
        return self._call("setup", "hash", lambda _: body, lambda r: _hash(r.hash.hash, "setup hash"))

    def _state(self, blob: bytes) -> bytes:
        if self._template is None:
            raise ProtocolError("a state from a worker that was given none")
        check_like(blob, self._template)
        return blob

    def run_unit(self, xs: Sequence[Array], ys: Sequence[Array], every: int = 0) -> Future[dict[str, Any]]:
        steps = len(xs)
        traces = max(0, -(-steps // every) - 1) if every > 0 else 0

        def check(r: pb.Reply) -> dict[str, Any]:
            u = r.unit
            if len(u.losses) != steps or len(u.trace) != traces:
                raise ProtocolError(f"unit: {len(u.losses)} losses and {len(u.trace)} trace hashes, expected "
                                    f"{steps} and {traces}")
            return {"losses": [finite(v, "loss") for v in u.losses], "state": self._state(u.state),
                    "hash": _hash(u.hash, "unit hash"), "trace": [_hash(t, "trace") for t in u.trace],
                    "seconds": max(0.0, finite(u.seconds, "seconds"))}

        return self._call("run_unit", "unit",
                          lambda _: pb.RunUnit(xs=encode_all(xs), ys=encode_all(ys), every=every), check)

    def _grads(self, ts: Sequence[pb.Tensor]) -> list[Array]:
        return decode_all(ts, dtype="float32", shapes=self._params, what="gradient")

    def grad_step(self, grads: Sequence[Array] | None, x: Array, y: Array, batch_total: int) -> Future[dict[str, Any]]:
        def check(r: pb.Reply) -> dict[str, Any]:
            g = r.grad
            return {"grads": self._grads(g.grads), "loss_sum": finite(g.loss_sum, "loss"),
                    "seconds": max(0.0, finite(g.seconds, "seconds"))}

        body = pb.GradStep(has_grads=grads is not None, grads=encode_all(grads or []), x=encode(x), y=encode(y),
                           batch_total=batch_total)
        return self._call("grad_step", "grad", lambda _: body, check)

    def finish(self, grads: Sequence[Array], with_state: bool) -> Future[dict[str, Any]]:
        def check(r: pb.Reply) -> dict[str, Any]:
            f = r.finish
            if f.has_state != with_state:
                raise ProtocolError("finish: a state was asked for and not sent, or the reverse")
            return {"hash": _hash(f.hash, "finish hash"), "state": self._state(f.state) if with_state else None}

        return self._call("finish", "finish", lambda _: pb.Finish(grads=encode_all(grads), with_state=with_state),
                          check)

    # ------------------------------------------------------------ one stage of a split model

    def setup_stage(self, job: str, spec_json: bytes, feature_shape: Sequence[int], n_classes: int, index: int,
                    state: bytes, out_shape: tuple[int, ...] | None) -> Future[None]:
        """`out_shape`: what the stage outputs per sample (None for the last stage): replies are checked by it."""
        self._template = unpack_state(state)
        self._stage_out, self._mb_in = out_shape, {}
        body = pb.SetupStage(spec_json=spec_json.decode(), feature_shape=list(feature_shape), n_classes=n_classes,
                             index=index, state=state)
        return self._call("setup_stage", "ack", lambda _: body, lambda r: None)

    def _tensor_arg(self, value: Array | Future[Any]) -> tuple[list[Future[Any]], Callable[[list[Any]], Array]]:
        if isinstance(value, Future):
            return [value], lambda resolved: np.asarray(resolved[0])
        return [], lambda _: value

    def _gradient(self, mb: int, r: pb.Reply, first: bool) -> Array | None:
        t = r.tensor
        if first:
            if t.HasField("tensor"):
                raise ProtocolError("the first stage sent an input gradient")
            return None
        if not t.HasField("tensor"):
            raise ProtocolError("a later stage sent no input gradient")
        return decode(t.tensor, dtype="float32", shape=self._mb_in.get(mb, ()), what="input gradient")

    def stage_forward(self, mb: int, x: Array | Future[Any]) -> Future[Array]:
        deps, arg = self._tensor_arg(x)
        if self._stage_out is None:
            raise ComputeError("stage_forward on the last stage: use stage_forward_backward")
        out = self._stage_out
        sent: list[int] = []

        def build(resolved: list[Any]) -> pb.StageForward:
            value = arg(resolved)
            self._mb_in[mb] = tuple(value.shape)
            sent.append(len(value))
            return pb.StageForward(mb=mb, x=encode(value))

        def check(r: pb.Reply) -> Array:
            if not r.tensor.HasField("tensor"):
                raise ProtocolError("forward: no activations")
            return decode(r.tensor.tensor, dtype="float32", shape=(sent[0], *out), what="activations")

        return self._call("stage_forward", "tensor", build, check, deps)

    def stage_backward(self, mb: int, grad: Array | Future[Any] | None, y: Array | None, total: int,
                       first: bool) -> Future[Array | None]:
        deps, arg = self._tensor_arg(grad) if grad is not None else ([], None)

        def build(resolved: list[Any]) -> pb.StageBackward:
            g = arg(resolved) if arg is not None else None
            body = pb.StageBackward(mb=mb, total=total)
            if g is not None:
                body.grad.CopyFrom(encode(g))
            if y is not None:
                body.y.CopyFrom(encode(y))
            return body

        return self._call("stage_backward", "tensor", build, lambda r: self._gradient(mb, r, first), deps)

    def stage_forward_backward(self, mb: int, x: Array | Future[Any], y: Array, total: int) -> Future[Array | None]:
        deps, arg = self._tensor_arg(x)

        def build(resolved: list[Any]) -> pb.StageForwardBackward:
            value = arg(resolved)
            self._mb_in[mb] = tuple(value.shape)
            return pb.StageForwardBackward(mb=mb, x=encode(value), y=encode(y), total=total)

        return self._call("stage_forward_backward", "tensor", build, lambda r: self._gradient(mb, r, False), deps)

    def stage_step(self, with_hash: bool = False) -> Future[dict[str, Any]]:
        def check(r: pb.Reply) -> dict[str, Any]:
            s = r.step
            digest = _hash(s.hash, "stage hash") if with_hash else None
            return {"loss": finite(s.loss, "loss"), "seconds": max(0.0, finite(s.seconds, "seconds")), "hash": digest}

        return self._call("stage_step", "step", lambda _: pb.StageStep(with_hash=with_hash), check)

    def stage_snapshot(self) -> Future[bytes]:
        return self._call("stage_snapshot", "blob", lambda _: pb.Empty(), lambda r: self._state(r.blob.data))

    # ------------------------------------------------------------ housekeeping

    def traffic(self) -> Future[dict[str, float]]:
        def check(r: pb.Reply) -> dict[str, float]:
            return {str(k)[:64]: finite(v, "counter") for k, v in r.counters.values.items()}

        return self._call("traffic", "counters", lambda _: pb.Empty(), check)

    def ping(self, payload: Array | None = None) -> Future[tuple[str, int]]:
        """Liveness: the worker's address and pid. A `payload` is echoed back and checked (same dtype, shape
        and bytes): the protocol's round trip with a tensor of any size (bench/compute.py)."""
        def check(r: pb.Reply) -> tuple[str, int]:
            if r.pong.address.lower() != self.address.lower():
                raise ProtocolError("ping: answered for another address")
            if payload is not None:
                echo = decode(r.pong.payload, dtype=payload.dtype.name, shape=payload.shape, what="payload")
                if not np.array_equal(echo, payload):
                    raise ProtocolError("ping: the payload came back changed")
            return self.address, int(r.pong.pid)

        body = pb.Ping(payload=encode(payload)) if payload is not None else pb.Ping()
        return self._call("ping", "pong", lambda _: body, check)
