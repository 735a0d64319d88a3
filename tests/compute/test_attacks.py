"""Attacks on the coordinator, each through its real gRPC server (TLS, challenge, signatures): each
asserts the coordinator stays up (an honest worker is still served), nothing is credited wrongly, and
nothing is written outside the coordinator's folder (which holds only its TLS identity)."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from databright.chain.compute_market import WorkerInfo
from databright.compute.checkpoint import CheckpointStore
from databright.compute.coordinator import chain_admission
from databright.compute.data import prepare
from databright.compute.gateway import CoordinatorIdentity, Gateway
from databright.compute.handle import ReplyRejected, WorkerGone, WorkerHandle
from databright.compute.runner import JobRunner
from databright.protocol import worker_pb2 as pb
from databright.protocol.codec import encode
from databright.training.replica import Replica
from databright.worker.agent import Agent, Endpoint

from .conftest import DIGITS_SPEC, digits_parts, job_spec
from .rogue import Rogue
from .test_on_workers import Supply

IDENTITY = CoordinatorIdentity("0x" + "10" * 20, 31337, "0x" + "20" * 20)
MIN_STAKE = 10
SPEC = job_spec(training={"epochs": 1, "batch_size": 64, "seed": 3}, unit_steps=4, worker_timeout=20)


class Chain:
    """The chain's worker records, as `chain_admission` reads them."""

    min_stake = MIN_STAKE

    def __init__(self) -> None:
        self.records: dict[str, WorkerInfo] = {}

    def register(self, account: LocalAccount, stake: int = MIN_STAKE) -> LocalAccount:
        self.records[str(account.address).lower()] = WorkerInfo(str(account.address), stake, 0, True)
        return account

    def worker(self, address: str) -> WorkerInfo:
        return self.records.get(address.lower(), WorkerInfo(address, 0, 0, False))


class Bomb:
    """Unpickling this writes a file: what a reply must never be able to do to the coordinator."""

    target = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.target).write_text, ("pwned",))


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


@pytest.fixture(scope="module")
def gateway(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = Gateway(tmp_path_factory.mktemp("coordinator"), IDENTITY, chain_admission(chain),  # type: ignore[arg-type]
                max_message=2 << 20, handshake_s=2)
    g.start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def honest(gateway: Gateway, chain: Chain) -> Iterator[WorkerHandle]:
    account = chain.register(Account.create())
    agent = Agent(account, Endpoint(gateway.url, gateway.cert_sha256, IDENTITY.address, IDENTITY.chain_id,
                                    IDENTITY.market)).start()
    (handle,) = gateway.wait_for([str(account.address)], timeout=30)
    yield handle
    agent.stop()


@pytest.fixture(autouse=True)
def coordinator_unharmed(gateway: Gateway, honest: WorkerHandle, tmp_path: Path) -> Iterator[Path]:
    """After each attack: the honest worker is still answered, and the coordinator's folder holds only
    its TLS identity (it writes nothing else, anywhere: the bomb's target never appears)."""
    Bomb.target = str(tmp_path / "pwned")
    yield tmp_path
    assert honest.ping().result(10)[0] == honest.address
    folder = Path(gateway.tls_folder)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["tls", "tls/cert.pem", "tls/key.pem"]
    assert not (tmp_path / "pwned").exists()


def admitted(gateway: Gateway, chain: Chain) -> tuple[Rogue, WorkerHandle]:
    rogue = Rogue(gateway, chain.register(Account.create()))
    assert rogue.handshake().WhichOneof("kind") == "welcome"
    (handle,) = gateway.wait_for([str(rogue.account.address)], timeout=10)
    return rogue, handle


def refused(verdict: Any, why: str) -> None:
    assert verdict.WhichOneof("kind") == "refused" and why in verdict.refused.reason, verdict


# ---------------------------------------------------------------- the handshake


def test_a_forged_handshake_for_another_registered_address_is_refused(gateway: Gateway, chain: Chain,
                                                                        honest: WorkerHandle) -> None:
    victim = chain.register(Account.create())
    rogue = Rogue(gateway, chain.register(Account.create()))
    refused(rogue.handshake(address=str(victim.address)), "signature is not the address's")
    assert gateway.handle(str(victim.address)) is None  # nobody speaks for the victim
    assert gateway.handle(honest.address) is honest and honest.alive  # nor took the honest worker's session
    assert (str(victim.address), "the signature is not the address's over this challenge (forged or replayed)") \
        in gateway.refusals
    rogue.close()


def test_a_replayed_handshake_is_refused(gateway: Gateway, chain: Chain) -> None:
    worker = chain.register(Account.create())
    first = Rogue(gateway, worker)
    assert first.handshake().WhichOneof("kind") == "welcome"
    captured = first.sent_answer
    first.close()
    replay = Rogue(gateway, Account.create())  # someone who saw the first session's answer
    refused(replay.handshake(address=str(worker.address), answer=captured), "forged or replayed")
    replay.close()


def test_an_expired_answer_is_refused(gateway: Gateway, chain: Chain) -> None:
    rogue = Rogue(gateway, chain.register(Account.create()))
    rogue.send(hello=pb.Hello(address=str(rogue.account.address)))
    challenge = rogue.next().challenge
    time.sleep(3.2)  # the challenge lived 2 s
    from databright.protocol.signing import challenge_text, sign_text

    rogue.send(answer=pb.Answer(address=str(rogue.account.address),
                                signature=sign_text(rogue.account, challenge_text(challenge))))
    refused(rogue.next(), "after the challenge expired")
    rogue.close()


@pytest.mark.parametrize(("stake", "why"), [(None, "not a registered worker"), (0, "below the minimum")])
def test_an_unregistered_or_slashed_address_is_refused(gateway: Gateway, chain: Chain, stake: int | None,
                                                       why: str) -> None:
    account = Account.create()
    if stake is not None:
        chain.register(account, stake)  # a slash takes the whole stake
    rogue = Rogue(gateway, account)
    refused(rogue.handshake(), why)
    assert gateway.handle(str(account.address)) is None
    rogue.close()


def test_a_server_with_another_certificate_is_refused_by_the_worker(gateway: Gateway, chain: Chain,
                                                                    tmp_path: Path) -> None:
    impostor = Gateway(tmp_path / "impostor", IDENTITY, chain_admission(chain))  # type: ignore[arg-type]
    impostor.start()
    try:
        account = chain.register(Account.create())
        # the chain pins the real coordinator's certificate; the worker is pointed at the impostor
        agent = Agent(account, Endpoint(impostor.url, gateway.cert_sha256)).start()
        time.sleep(1.5)
        agent.stop()
        assert agent.sessions == 0 and "refused" in agent.last_error
        assert impostor.handle(str(account.address)) is None and not impostor.refusals
    finally:
        impostor.stop()


# ---------------------------------------------------------------- replies


def _setup(handle: WorkerHandle) -> Replica:
    replica = Replica(SPEC, (8, 8), 10)
    handle.at("attack", 0, "g0.w0")
    handle.setup("attack", SPEC.to_bytes(), [8, 8], 10, replica.snapshot())
    return replica


def _grads(replica: Replica) -> list[np.ndarray[Any, Any]]:
    return [np.zeros(tuple(p.shape), np.float32) for p in replica.model.parameters()]


def _grad_reply(tensors: list[pb.Tensor]) -> pb.Reply:
    return pb.Reply(grad=pb.GradResult(grads=tensors, loss_sum=1.0, seconds=0.1))


def _bad(kind: str, replica: Replica) -> pb.Reply:
    good = [encode(g) for g in _grads(replica)]
    if kind == "pickle":
        return pb.Reply(unit=pb.UnitResult(losses=[1.0] * 1, state=pickle.dumps(Bomb()), hash="a" * 64))
    if kind == "dtype":
        return _grad_reply([pb.Tensor(dtype="float64", shape=t.shape, data=t.data * 2) for t in good])
    if kind == "int":
        return _grad_reply([pb.Tensor(dtype="int64", shape=t.shape, data=t.data * 2) for t in good])
    if kind == "shape":
        return _grad_reply([pb.Tensor(dtype=t.dtype, shape=list(reversed(t.shape)), data=t.data) for t in good])
    if kind == "truncated":
        return _grad_reply([pb.Tensor(dtype=t.dtype, shape=t.shape, data=t.data[:-1]) for t in good])
    if kind == "nan":
        return _grad_reply([encode(np.full(tuple(t.shape), np.nan, np.float32)) for t in good])
    if kind == "count":
        return _grad_reply(good[:-1])
    if kind == "kind":
        return pb.Reply(pong=pb.Pong(address="0x" + "00" * 20))
    if kind == "failure":
        return pb.Reply(failure=pb.Failure(reason="no"))
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "why"), [
    ("pickle", "state: "), ("dtype", "'float64' is not allowed"), ("int", "expected float32"), ("shape", "expected"),
    ("truncated", "bytes for"),
    ("nan", "not finite"), ("count", "tensors, expected"), ("kind", "a pong reply to a grad_step"),
    ("failure", "reports a failure")])
def test_a_reply_that_fails_a_check_is_the_workers_fault(gateway: Gateway, chain: Chain, kind: str,
                                                         why: str) -> None:
    rogue, handle = admitted(gateway, chain)
    replica = _setup(handle)
    x, y = np.zeros((4, 8, 8), np.float32), np.zeros(4, np.int64)

    def forge(request: pb.Request) -> pb.Reply:
        if request.WhichOneof("kind") == "setup":
            return pb.Reply(hash=pb.Hash(hash=replica.state_hash()))
        return _bad(kind, replica)

    rogue.serve(forge)
    future: Future[Any] = handle.run_unit([x], [y]) if kind == "pickle" else handle.grad_step(None, x, y, 4)
    with pytest.raises(ReplyRejected, match=why):
        future.result(10)
    assert gateway.violations[-1][0] == handle.address
    rogue.close()


def test_a_reply_signed_by_another_key_is_refused(gateway: Gateway, chain: Chain) -> None:
    rogue, handle = admitted(gateway, chain)
    other = Account.create()
    rogue.serve(lambda request: rogue.signed(request, pb.Reply(pong=pb.Pong(address=handle.address)), other))
    with pytest.raises(ReplyRejected, match="not signed by the worker"):
        handle.ping().result(10)
    rogue.close()


def test_an_oversized_message_ends_the_session(gateway: Gateway, chain: Chain) -> None:
    rogue, handle = admitted(gateway, chain)
    rogue.serve(lambda request: pb.Reply(blob=pb.Blob(data=b"\0" * (3 << 20))))  # over the 2 MiB limit
    with pytest.raises(WorkerGone):
        handle.stage_snapshot().result(10)
    assert not handle.alive
    rogue.close()


def test_a_reply_to_a_request_it_was_not_sent_ends_the_session(gateway: Gateway, chain: Chain) -> None:
    rogue, handle = admitted(gateway, chain)
    rogue.serve(lambda request: None)  # reads requests, answers none of them
    pending = handle.ping()
    rogue.send(reply=rogue.signed(pb.Request(id=999), pb.Reply(pong=pb.Pong(address=handle.address))))
    with pytest.raises(WorkerGone, match="not asked for"):
        pending.result(10)
    assert gateway.violations[-1] == (handle.address, "reply to request 999")
    rogue.close()


def test_a_flood_of_messages_is_cut_off_at_the_first(gateway: Gateway, chain: Chain, honest: WorkerHandle) -> None:
    rogue, handle = admitted(gateway, chain)
    junk = pb.Reply(id=7, pong=pb.Pong(address=handle.address))
    for _ in range(20_000):
        rogue.send(reply=junk)
    assert honest.ping().result(10)[0] == honest.address  # the other session is still served
    deadline = time.monotonic() + 10
    while handle.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not handle.alive
    # cut off at the first message: of 20,000 unasked replies exactly one was read and logged
    assert [v for v in gateway.violations if v[0] == handle.address] == [(handle.address, "reply to request 7")]
    rogue.close()


def test_a_worker_can_call_nothing_and_cannot_speak_again_for_anyone(gateway: Gateway, chain: Chain,
                                                                      honest: WorkerHandle) -> None:
    rogue, handle = admitted(gateway, chain)
    for method in ("/databright.protocol.Coordinator/Shard", "/databright.protocol.Coordinator/Job",
                   "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
        with pytest.raises(grpc.RpcError) as err:
            rogue.channel.unary_unary(method)(b"", timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    # inside its session it may only answer: a second hello (say, for the honest worker) ends it
    rogue.send(hello=pb.Hello(address=honest.address))
    deadline = time.monotonic() + 10
    while handle.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not handle.alive and honest.alive and gateway.handle(honest.address) is honest
    rogue.close()


def test_a_bad_reply_mid_job_is_replaced_and_never_credited(gateway: Gateway, chain: Chain, honest: WorkerHandle,
                                                             tmp_path: Path) -> None:
    data = prepare(digits_parts(), DIGITS_SPEC, 0.2, 0)
    rogue, handle = admitted(gateway, chain)
    replica = Replica(SPEC, (8, 8), 10)

    def forge(request: pb.Request) -> pb.Reply:
        if request.WhichOneof("kind") == "setup":
            return pb.Reply(hash=pb.Hash(hash=replica.state_hash()))
        steps = len(request.run_unit.xs)  # a well-formed reply in every way but its state: a pickle bomb
        return pb.Reply(unit=pb.UnitResult(losses=[1.0] * steps, state=pickle.dumps(Bomb()), hash="a" * 64))

    rogue.serve(forge)
    supply = Supply([handle, honest])
    progress, _ = JobRunner("rogue", SPEC, data, supply, CheckpointStore(tmp_path / "ck")).run()
    assert supply.failures == [handle.address]
    assert "state: " in progress.faults[0]["reason"]
    assert progress.workers[handle.address].units == 0  # sent a unit, credited nothing
    assert progress.workers[honest.address].units == data.n_train
    rogue.close()
