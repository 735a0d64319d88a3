"""One request to one reply: decodes a request's typed body, runs the trainer, encodes the result
and signs the statement of (job, unit, role, request digest, reply digest). The coordinator is trusted
by the worker, but its messages are decoded with the same checked codec anyway."""

from __future__ import annotations

import logging

from eth_account.signers.local import LocalAccount

from databright.errors import DataBrightError
from databright.protocol import worker_pb2 as pb
from databright.protocol.codec import decode, decode_all, encode, encode_all
from databright.protocol.signing import request_statement, sign_text
from databright.worker.trainer import Trainer

log = logging.getLogger("databright.worker")


def _shape(dims: object) -> list[int]:
    return [int(d) for d in dims]  # type: ignore[attr-defined]


def _body(trainer: Trainer, request: pb.Request) -> pb.Reply:
    kind = request.WhichOneof("kind")
    if kind == "setup":
        s = request.setup
        return pb.Reply(hash=pb.Hash(hash=trainer.setup(request.job, s.spec_json.encode(), _shape(s.feature_shape),
                                                         s.n_classes, s.state)))
    if kind == "run_unit":
        r = request.run_unit
        out = trainer.run_unit(decode_all(r.xs, what="xs"), decode_all(r.ys, what="ys"), r.every)
        return pb.Reply(unit=pb.UnitResult(losses=out["losses"], state=out["state"], hash=out["hash"],
                                           trace=out["trace"], seconds=out["seconds"]))
    if kind == "grad_step":
        g = request.grad_step
        grads = decode_all(g.grads, what="grads") if g.has_grads else None
        out = trainer.grad_step(grads, decode(g.x, what="x"), decode(g.y, what="y"), g.batch_total)
        return pb.Reply(grad=pb.GradResult(grads=encode_all(out["grads"]), loss_sum=out["loss_sum"],
                                           seconds=out["seconds"]))
    if kind == "finish":
        f = request.finish
        out = trainer.finish(decode_all(f.grads, what="grads"), f.with_state)
        state = out["state"]
        return pb.Reply(finish=pb.FinishResult(hash=out["hash"], state=state or b"", has_state=state is not None))
    if kind == "setup_stage":
        s2 = request.setup_stage
        trainer.setup_stage(request.job, s2.spec_json.encode(), _shape(s2.feature_shape), s2.n_classes, s2.index,
                            s2.state)
        return pb.Reply(ack=pb.Empty())
    if kind == "stage_forward":
        sf = request.stage_forward
        return pb.Reply(tensor=pb.TensorResult(tensor=encode(trainer.stage_forward(sf.mb, decode(sf.x, what="x")))))
    if kind == "stage_backward":
        sb = request.stage_backward
        grad = decode(sb.grad, what="grad") if sb.HasField("grad") else None
        y = decode(sb.y, what="y") if sb.HasField("y") else None
        back = trainer.stage_backward(sb.mb, grad, y, sb.total)
        return pb.Reply(tensor=pb.TensorResult(tensor=encode(back)) if back is not None else pb.TensorResult())
    if kind == "stage_forward_backward":
        fb = request.stage_forward_backward
        back = trainer.stage_forward_backward(fb.mb, decode(fb.x, what="x"), decode(fb.y, what="y"), fb.total)
        return pb.Reply(tensor=pb.TensorResult(tensor=encode(back)) if back is not None else pb.TensorResult())
    if kind == "stage_step":
        st = trainer.stage_step(request.stage_step.with_hash)
        return pb.Reply(step=pb.StepResult(loss=st["loss"], seconds=st["seconds"], hash=st["hash"] or ""))
    if kind == "stage_snapshot":
        return pb.Reply(blob=pb.Blob(data=trainer.stage_snapshot()))
    if kind == "traffic":
        return pb.Reply(counters=pb.Counters(values=trainer.traffic()))
    if kind == "ping":
        address, pid = trainer.ping()
        pong = pb.Pong(address=address, pid=pid)
        if request.ping.HasField("payload"):
            pong.payload.CopyFrom(encode(decode(request.ping.payload, what="payload")))
        return pb.Reply(pong=pong)
    return pb.Reply(failure=pb.Failure(reason=f"unknown request kind {kind!r}"))


def answer(trainer: Trainer, account: LocalAccount, request: pb.Request) -> pb.Reply:
    """The signed reply to `request`; a failure of the work is a signed Failure reply, not a crash."""
    try:
        reply = _body(trainer, request)
    except (DataBrightError, ValueError, RuntimeError, TypeError, KeyError) as exc:
        log.warning("worker %s: request %d failed: %s", trainer.address, request.id, exc)
        reply = pb.Reply(failure=pb.Failure(reason=f"{type(exc).__name__}: {str(exc)[:300]}"))
    reply.id = request.id
    reply.signature = sign_text(account, request_statement(request, reply).text())
    return reply
