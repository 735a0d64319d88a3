"""Everything that needs worker processes, in one module so the session starts one gateway and one
set of worker processes (each imports PyTorch) that dial it over gRPC with TLS: training equivalence
with a plain PyTorch loop, worker faults (a crash, a hang), a coordinator killed and restarted, the
market's whole job lifecycle and every protection."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from databright.chain.compute_market import JobState
from databright.chain.connection import reset_embedded
from databright.chain.keys import dev_keys, signer
from databright.compute.attestation import approve
from databright.compute.buyer import buyer_spec, fetch_result, submit_job
from databright.compute.checkpoint import CheckpointStore, Progress
from databright.compute.coordinator import Coordinator, JobOutcome
from databright.compute.data import TrainingData, load_registry, prepare
from databright.compute.errors import ComputeError
from databright.compute.gateway import CoordinatorIdentity, Gateway, admit_all
from databright.compute.handle import WorkerHandle
from databright.compute.runner import JobRunner
from databright.compute.schedule import ShardPlan, training_batches
from databright.demo.environment import demo_store, seeded_request, split_digits
from databright.demo.pool import HostedPool, address_of
from databright.demo.pool import dev_keys as sim_keys
from databright.errors import ComputeRevert
from databright.market import Market
from databright.market.units import UNIT
from databright.store.client import StoreClient
from databright.store.errors import AccessDenied
from databright.training.replica import Replica
from databright.training.spec import JobSpec

from .conftest import job_spec

# the embedded chain's dev accounts 12..15 (eth-tester derives them from its fixed mnemonic)
POOL_SIZE = 4
POOLS: list[HostedPool] = []


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    """The tests' coordinator gateway (TLS, challenge and signatures on; every key-holder admitted: the
    runner tests have no chain, and the market tests' supply checks stakes on-chain itself)."""
    with tempfile.TemporaryDirectory(prefix="databright-gateway-") as folder:
        g = Gateway(Path(folder), CoordinatorIdentity("0x" + "10" * 20, 1, "0x" + "20" * 20), admit_all)
        g.start()
        yield g
        for pool in POOLS:
            pool.stop()
        g.stop()


def spawn(gateway: Gateway, keys: list[str], processes: int = 1, fault: str | None = None) -> list[WorkerHandle]:
    """Worker processes hosting these identities, connected to the gateway (stopped at the session's end)."""
    pool = HostedPool(gateway, keys, processes, {address_of(k): fault for k in keys} if fault else None)
    POOLS.append(pool)
    return pool.handles


@pytest.fixture(scope="session")
def workers(gateway: Gateway) -> list[WorkerHandle]:
    from databright.chain.connection import connect

    reset_embedded()
    chain = connect("embedded")
    keys = dev_keys(chain)
    return spawn(gateway, [keys[a] for a in chain.accounts()[12 : 12 + POOL_SIZE]], processes=POOL_SIZE)


@pytest.fixture(scope="session")
def hosted(gateway: Gateway, workers: list[WorkerHandle]) -> list[WorkerHandle]:
    """24 more worker identities in two processes: enough for a data cap's shard owners times three."""
    return spawn(gateway, sim_keys([f"hosted-{i}" for i in range(24)]), processes=2)


def spawn_worker(gateway: Gateway, name: str, fault: str) -> WorkerHandle:
    """A misbehaving identity in its own process (a crash ends that process)."""
    return spawn(gateway, sim_keys([name]), fault=fault)[0]


def cheat_hosted(gateway: Gateway, name: str, fault: str = "corrupt:1.0") -> WorkerHandle:
    return spawn_worker(gateway, name, fault)


class Supply:
    """Hands out the given workers in order; remembers who failed."""

    def __init__(self, handles: list[WorkerHandle]) -> None:
        self.free = list(handles)
        self.given: dict[str, WorkerHandle] = {}
        self.failures: list[str] = []
        self.slashed: list[tuple[str, dict[str, Any]]] = []

    def acquire(self, count: int, exclude: Collection[str]) -> list[WorkerHandle]:
        out = [h for h in self.free if h.address not in exclude][:count]
        self.free = [h for h in self.free if h not in out]
        self.given.update((h.address, h) for h in out)
        return out

    def reclaim(self, address: str) -> WorkerHandle | None:
        return None if address in self.failures else self.given.get(address)

    def failed(self, handle: WorkerHandle, reason: str) -> None:
        self.failures.append(handle.address)

    def slash(self, handle: WorkerHandle, evidence: dict[str, Any]) -> None:
        self.slashed.append((handle.address, evidence))


def plain_loop(spec: JobSpec, data: TrainingData) -> Replica:
    """What a user would write by hand: the same model, seed and batch order, no market."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(spec.training.seed)
    from databright.training.models import build_model

    model = build_model(spec.model, data.feature_shape, data.n_classes, spec.training.seed)
    opt = torch.optim.SGD(model.parameters(), lr=spec.training.lr, momentum=spec.training.momentum)
    for batch in training_batches(spec, data.n_train):  # without a cap: each epoch's batch_order, in turn
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(data.x_train[batch])),
                                                 torch.from_numpy(data.y_train[batch]))
        loss.backward()
        opt.step()
    replica = Replica(spec, data.feature_shape, data.n_classes)
    replica.model.load_state_dict(model.state_dict())
    return replica


def trained(state: bytes, spec: JobSpec, data: TrainingData) -> Replica:
    r = Replica(spec, data.feature_shape, data.n_classes)
    r.load(state)
    return r


def same_weights(a: Replica, b: Replica) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))


SPEC = job_spec(training={"epochs": 2, "batch_size": 64, "seed": 3}, unit_steps=4)


def test_one_worker_gives_the_plain_loops_weights_bitwise(workers: list[WorkerHandle], digits_data: TrainingData,
                                                            tmp_path: Path) -> None:
    progress, state = JobRunner("eq1", SPEC, digits_data, Supply(workers[:1]), CheckpointStore(tmp_path)).run()
    assert same_weights(trained(state, SPEC, digits_data), plain_loop(SPEC, digits_data))
    (stats,) = progress.workers.values()
    assert stats.samples == SPEC.training.epochs * digits_data.n_train == stats.units
    assert len(stats.distinct) == digits_data.n_train
    assert [c["epoch"] for c in progress.curve] == [1.0, 2.0]
    assert progress.curve[-1]["eval_accuracy"] > 0.5


def test_three_workers_match_within_float_tolerance(workers: list[WorkerHandle], digits_data: TrainingData,
                                                    tmp_path: Path) -> None:
    spec = SPEC.model_copy(update={"workers": 3})
    progress, state = JobRunner("eq3", spec, digits_data, Supply(workers[:3]), CheckpointStore(tmp_path)).run()
    market, plain = trained(state, spec, digits_data), plain_loop(spec, digits_data)
    # the gradient of a batch is added from three shares: float32 rounding of the additions only
    diff = max(float((p - q).detach().abs().max()) for p, q in zip(market.model.parameters(), plain.model.parameters(),
                                                            strict=True))
    assert diff < 1e-5
    assert sum(s.samples for s in progress.workers.values()) == spec.training.epochs * digits_data.n_train
    assert all(s.samples > 0 for s in progress.workers.values()) and len(progress.workers) == 3


def test_a_crashed_worker_is_replaced_and_paid_only_for_finished_units(gateway: Gateway,
        workers: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    crasher = spawn_worker(gateway, "crasher", "crash-after:2")
    supply = Supply([crasher, workers[0]])
    progress, state = JobRunner("crash", SPEC, digits_data, supply, CheckpointStore(tmp_path)).run()
    assert supply.failures == [crasher.address]
    assert progress.faults[0]["worker"] == crasher.address and progress.faults[0]["step"] == 8
    # its two finished units were the first epoch (8 batches, 480 samples): exactly those are credited
    assert progress.workers[crasher.address].units == digits_data.n_train == 480
    assert same_weights(trained(state, SPEC, digits_data), plain_loop(SPEC, digits_data))


def test_a_hanging_worker_times_out_and_is_replaced(gateway: Gateway, workers: list[WorkerHandle],
                                                    digits_data: TrainingData, tmp_path: Path) -> None:
    spec = SPEC.model_copy(update={"worker_timeout": 10.0, "training": SPEC.training.model_copy(update={"epochs": 1})})
    hanger = spawn_worker(gateway, "hanger", "hang-after:1")
    supply = Supply([hanger, workers[1]])
    progress, _ = JobRunner("hang", spec, digits_data, supply, CheckpointStore(tmp_path)).run()
    assert supply.failures == [hanger.address]
    assert "no answer within 10 s" in progress.faults[0]["reason"]
    assert progress.workers[hanger.address].units == 4 * 64
    assert progress.workers[workers[1].address].units == digits_data.n_train - 4 * 64


def test_a_hung_identity_does_not_stall_the_others_in_its_process(gateway: Gateway, digits_data: TrainingData,
                                                                   tmp_path: Path) -> None:
    keys = sim_keys(["shared-hanger", "shared-honest"])
    pool = HostedPool(gateway, keys, processes=1, faults={address_of(keys[0]): "hang-after:0"})
    POOLS.append(pool)
    hanger, honest = pool.handles
    state = Replica(SPEC, digits_data.feature_shape, digits_data.n_classes).snapshot()
    for h in (hanger, honest):
        h.setup("iso", SPEC.to_bytes(), list(digits_data.feature_shape), digits_data.n_classes, state).result(30)
    x, y = digits_data.x_train[:64], digits_data.y_train[:64]
    stuck = hanger.run_unit([x], [y])  # its identity's thread now sleeps for good
    for _ in range(3):  # its process-mate keeps working, unit after unit
        assert len(honest.run_unit([x], [y]).result(30)["losses"]) == 1
    assert not stuck.done() and hanger.alive  # hung, not disconnected: the runner's deadline decides


class Killed(Exception):
    pass


def test_a_killed_runner_resumes_from_its_checkpoint(workers: list[WorkerHandle], digits_data: TrainingData,
                                                     tmp_path: Path) -> None:
    def kill_after_three(progress: Progress) -> None:
        if progress.units_done == 3:
            raise Killed

    with pytest.raises(Killed):
        JobRunner("resume", SPEC, digits_data, Supply(workers[:1]), CheckpointStore(tmp_path),
                  on_unit=kill_after_three).run()
    saved = CheckpointStore(tmp_path).load()
    assert saved is not None and saved[0].units_done == 3
    # a fresh runner (a restarted process: nothing shared but the folder) on another worker
    progress, state = JobRunner("resume", SPEC, digits_data, Supply(workers[1:2]), CheckpointStore(tmp_path)).run()
    assert progress.units_done == 4  # two units per epoch: the fourth was done after the restart
    assert same_weights(trained(state, SPEC, digits_data), plain_loop(SPEC, digits_data))
    assert sum(s.samples for s in progress.workers.values()) == SPEC.training.epochs * digits_data.n_train


# ---------------------------------------------------------------- the market: chain, store, coordinator


@dataclass
class World:
    market: Market
    url: str
    database: str
    folder: Path
    pool: list[WorkerHandle]
    gateway: Gateway

    def client(self, account: int | str) -> StoreClient:
        address = account if isinstance(account, str) else self.market.chain.accounts()[account]
        return StoreClient(self.url, signer(self.market.chain, address))

    def coordinator(self, **kwargs: Any) -> Coordinator:
        kwargs.setdefault("workers", lambda: self.pool)
        return Coordinator(self.market.as_account(COORDINATOR), self.client(COORDINATOR), self.folder / "coord",
                           **kwargs)

    def submit(self, data_fee: int = UNIT, compute_fee: int = UNIT // 5, deadline: int = 3600,
               **fields: Any) -> int:
        buyer = self.market.as_account(BUYER)
        spec = buyer_spec(buyer, {"training": {"epochs": 2, "seed": 3}, "unit_steps": 4, **fields}, self.database)
        with self.client(BUYER) as store:
            return submit_job(buyer, store, spec, data_fee, compute_fee, self.market.chain.now() + deadline).job_id

    def misbehaving(self, account: str, fault: str) -> WorkerHandle:
        """A registered, staked worker started with a test-only fault flag."""
        self.market.as_account(account).compute.register_worker(UNIT)
        return spawn(self.gateway, [dev_keys(self.market.chain)[account]], fault=fault)[0]


def cli(world: World, *args: str, account: int, code: int = 0) -> str:
    from typer.testing import CliRunner

    from databright.cli.main import app

    result = CliRunner().invoke(app, ["--rpc", "embedded", "--store", world.url, "-a", str(account), *args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def first_then(first: list[WorkerHandle], later: list[WorkerHandle]) -> Callable[[], list[WorkerHandle]]:
    """A worker source that offers `first` to the coordinator's first two looks (the check that the
    pool can staff the job, then the first draw) and `later` afterwards."""
    calls = []

    def source() -> list[WorkerHandle]:
        calls.append(1)
        return first if len(calls) <= 2 else later

    return source


COORDINATOR, BUYER = 10, 11
MARKET_DIGITS = split_digits(4)


@pytest.fixture
def world(gateway: Gateway, workers: list[WorkerHandle], tmp_path: Path) -> Iterator[World]:
    reset_embedded()
    market = Market.open("embedded")
    a = market.chain.accounts()
    with demo_store(market) as store:
        database = seeded_request(market, store, MARKET_DIGITS.contributions[:2])
        approve(market.compute, a[COORDINATOR], a[COORDINATOR])
        for h in workers:
            market.as_account(h.address).compute.register_worker(UNIT)
        yield World(market, store.url, database, tmp_path, workers, gateway)


def market_data(world: World, spec: JobSpec) -> TrainingData:
    """The data exactly as the coordinator prepares it, read here with the coordinator's right."""
    with world.client(COORDINATOR) as store:
        dataset_spec, cids, parts = load_registry(world.market, store, world.database)
    return prepare(parts, dataset_spec, spec.eval_fraction, spec.training.seed, cids)


def test_a_job_is_trained_sealed_and_settled(world: World) -> None:
    market = world.market
    job_id = world.submit()
    before = market.token(world.database).total_distributed()
    [outcome] = world.coordinator().run_once()
    assert outcome.status == "completed"
    job = market.compute.job(job_id)
    assert job.state == JobState.COMPLETED and job.coordinator == market.chain.accounts()[COORDINATOR]
    # the data fee: half (the request's default value share) paid by measured value, the rest dividends
    record = market.compute.value_record(job_id)
    assert record is not None and 0 < record["pool"] <= UNIT // 2 and record["pool"] + record["dividends"] == UNIT
    assert market.token(world.database).total_distributed() - before == record["dividends"]
    assert market.compute.job_value(job_id).unclaimed == record["pool"]
    with world.client(BUYER) as store:
        result = fetch_result(market.as_account(BUYER), store, job_id)
    # the buyer's model is, bit for bit, what a plain PyTorch loop over the same data makes
    spec = JobSpec.from_bytes(world.client(BUYER).get_bytes(job.spec_cid))
    plain = plain_loop(spec, market_data(world, spec))
    assert all(torch.equal(plain.model.state_dict()[k], v) for k, v in result.state_dict().items())
    report = result.report
    [worker] = report["workers"]
    assert worker["address"] == job.workers[0] and worker["units"] == market.compute.units_of(job_id, job.workers[0])
    assert market.compute.payouts(job_id) == {job.workers[0]: UNIT // 5}
    assert sum(e["samples_used"] for e in report["data"]["entries"]) == report["data"]["train_samples"]
    assert report["final"]["eval_accuracy"] == report["curve"][-1]["eval_accuracy"] > 0.5
    assert report["value_report"] == record["report_cid"]  # the job's report names its value report
    with world.client(4) as stranger, pytest.raises(AccessDenied):  # a contributor is not the buyer
        stranger.get_bytes(job.result_cid or "")
    with world.client(4) as stranger, pytest.raises(ComputeError, match="only its buyer"):
        fetch_result(market.as_account(4), stranger, job_id)


def test_an_unfinished_job_is_refunded_after_its_deadline(world: World) -> None:
    market = world.market
    job_id = world.submit(deadline=60)
    buyer = market.as_account(BUYER).compute
    with pytest.raises(ComputeRevert, match="deadline not reached"):
        buyer.refund(job_id)
    market.chain.advance_time(120)
    assert world.coordinator().run_once() == [JobOutcome(job_id, "abandoned", "deadline passed")]
    assert market.compute.job(job_id).state == JobState.POSTED  # never accepted
    before = market.chain.balance(market.chain.accounts()[BUYER])
    buyer.refund(job_id)
    assert market.compute.job(job_id).state == JobState.REFUNDED
    assert buyer.withdraw() == UNIT + UNIT // 5
    assert market.chain.balance(market.chain.accounts()[BUYER]) > before


def test_a_capped_job_the_pool_cannot_staff_waits_with_the_number_of_workers_it_needs(world: World) -> None:
    job_id = world.submit(protections={"data_cap": 0.05})
    coordinator = world.coordinator()
    [outcome] = coordinator.run_once()
    n_train = market_data(world, JobSpec.from_bytes(world.client(BUYER).get_bytes(
        world.market.compute.job(job_id).spec_cid))).n_train
    shards = -(-n_train // int(0.05 * n_train))
    assert outcome.status == "refused"
    assert f"a data cap of 0.05 on {n_train} samples needs {shards} workers" in outcome.detail
    assert "the pool has 4" in outcome.detail
    assert world.market.compute.job(job_id).state == JobState.POSTED
    [again] = coordinator.run_once()  # not closed: it is looked at again, in case workers joined
    assert again.status == "refused" and again.job_id == job_id


def test_a_job_asking_for_a_combination_this_coordinator_lacks_is_refused_for_good(world: World) -> None:
    world.submit(workers=2, protections={"spot_check_rate": 0.5})
    coordinator = world.coordinator()
    [outcome] = coordinator.run_once()
    assert outcome.status == "refused" and "spot checks verify one-worker groups" in outcome.detail
    assert coordinator.run_once() == []


def test_a_capped_job_through_the_market_reports_each_workers_exposure(world: World) -> None:
    job_id = world.submit(protections={"data_cap": 0.5})
    [outcome] = world.coordinator().run_once()
    assert outcome.status == "completed"
    with world.client(BUYER) as store:
        report = fetch_result(world.market.as_account(BUYER), store, job_id).report
    n_train = report["data"]["train_samples"]
    cap = report["verification"]["data_cap"]
    assert cap["cap"] == 0.5 and cap["quota"] == n_train // 2 and cap["shards"] == 2 and cap["within_cap"]
    assert sorted(w["distinct_samples"] for w in report["workers"]) == sorted([n_train // 2, n_train - n_train // 2])
    assert all(w["data_fraction"] <= 0.5 for w in report["workers"])
    assert report["verification"]["max_worker_data_fraction"] <= 0.5
    assert len(world.market.compute.payouts(job_id)) == 2


def test_a_coordinator_killed_mid_job_resumes_after_restart(world: World) -> None:
    job_id = world.submit(compute_fee=UNIT)

    def die(job: int, progress: Progress) -> None:
        if progress.units_done == 2:
            raise Killed

    with pytest.raises(Killed):
        world.coordinator(on_unit=die).run_once()
    assert world.market.compute.job(job_id).state == JobState.ACCEPTED
    [outcome] = world.coordinator().run_once()  # a new process: only the folder and the chain remain
    assert outcome.status == "completed"
    job = world.market.compute.job(job_id)
    with world.client(BUYER) as store:
        result = fetch_result(world.market.as_account(BUYER), store, job_id)
    spec = JobSpec.from_bytes(world.client(BUYER).get_bytes(job.spec_cid))
    plain = plain_loop(spec, market_data(world, spec))
    assert all(torch.equal(plain.model.state_dict()[k], v) for k, v in result.state_dict().items())
    # nothing was counted twice: the units paid are exactly the samples of two epochs
    assert sum(world.market.compute.units_of(job_id, w) for w in job.workers) == 2 * result.report["data"][
        "train_samples"]


def test_a_dead_workers_replacement_is_assigned_on_chain_and_only_finished_work_is_paid(world: World) -> None:
    market = world.market
    crasher_account = market.chain.accounts()[16]
    crasher = world.misbehaving(crasher_account, "crash-after:1")
    job_id = world.submit()
    # the crasher is drawn first; the pool supplies its replacement
    [outcome] = world.coordinator(workers=first_then([crasher], [crasher, *world.pool])).run_once()
    assert outcome.status == "completed"
    job = market.compute.job(job_id)
    assert job.workers[0] == crasher_account and len(job.workers) == 2  # the replacement was assigned too
    units = {w: market.compute.units_of(job_id, w) for w in job.workers}
    assert units[crasher_account] == 4 * 64  # its one finished unit of four full batches
    with world.client(BUYER) as store:
        report = fetch_result(market.as_account(BUYER), store, job_id).report
    assert report["faults"][0]["worker"] == crasher_account
    assert sum(units.values()) == 2 * report["data"]["train_samples"]
    assert market.compute.worker(crasher_account).open_jobs == 0  # settled: it may leave


def test_the_buyer_submits_and_fetches_through_the_cli(world: World, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from databright.cli.main import app

    def cli(*args: str, account: int = BUYER, code: int = 0) -> str:
        result = CliRunner().invoke(app, ["--rpc", "embedded", "--store", world.url, "-a", str(account), *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"model": {"kind": "mlp"}, "training": {"epochs": 1}}))
    out = cli("job", "submit", str(spec), "--request", "0", "--data-fee", "0.5", "--compute-fee", "0.25",
              "--deadline", "2h")
    assert "job 1 posted" in out
    assert "error: a deadline is a positive duration" in cli("job", "submit", str(spec), "--request", "0",
                                                              "--data-fee", "1", "--compute-fee", "1",
                                                              "--deadline", "soon", code=2)
    assert "not completed" in cli("job", "result", "1", "-o", str(tmp_path / "m.pt"), code=2)
    [outcome] = world.coordinator().run_once()
    assert outcome.status == "completed"
    out = cli("job", "result", "1", "-o", str(tmp_path / "model.pt"), "--report", str(tmp_path / "report.json"))
    assert "sha-256 matches the chain" in out
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == {"1.weight", "1.bias", "3.weight", "3.bias"}  # Flatten, Linear, ReLU, Linear
    report = json.loads((tmp_path / "report.json").read_text())
    [worker] = report["workers"]
    assert "only its buyer" in cli("job", "result", "1", "-o", str(tmp_path / "x.pt"), account=4, code=2)
    assert "0.25" in cli("earnings", worker["address"])
    assert "0.25" in cli("withdraw", account=world.market.chain.accounts().index(worker["address"]))


def test_the_coordinator_backs_off_while_the_chain_is_unreachable(world: World) -> None:
    from databright.errors import ChainError

    service = world.coordinator()
    calls = []

    def unreachable(_: int) -> tuple[list[int], int]:
        calls.append(1)
        raise ChainError("no chain answers at http://127.0.0.1:1")

    service.compute.posted_since = unreachable  # type: ignore[method-assign]
    sleeps: list[float] = []
    service.run(poll=1.0, should_stop=lambda: len(sleeps) >= 4, sleep=sleeps.append)
    assert sleeps == [2.0, 4.0, 8.0, 16.0] and len(calls) == 4


# ---------------------------------------------------------------- protections


def test_tmr_agrees_every_unit_and_gives_the_unprotected_weights(workers: list[WorkerHandle],
                                                                 digits_data: TrainingData, tmp_path: Path) -> None:
    spec = JobSpec.build(**{**SPEC.model_dump(), "protections": {"redundancy": 3}})
    progress, state = JobRunner("tmr", spec, digits_data, Supply(workers[:3]), CheckpointStore(tmp_path)).run()
    assert same_weights(trained(state, spec, digits_data), plain_loop(spec, digits_data))
    assert progress.agreements == progress.units_done == 4 and not progress.deviations
    # each of the three groups did (and is credited for) the whole job: TMR costs three times the work
    assert [s.units for s in progress.workers.values()] == [2 * digits_data.n_train] * 3


def test_a_corrupting_worker_is_caught_by_tmr_slashed_on_chain_and_never_paid(world: World) -> None:
    market = world.market
    cheat = market.chain.accounts()[17]
    corrupter = world.misbehaving(cheat, "corrupt:1.0")
    job_id = world.submit(protections={"redundancy": 3})
    # the cheat is in the first three drawn; a spare comes later
    [outcome] = world.coordinator(workers=first_then([corrupter, *world.pool[:2]], [corrupter, *world.pool])).run_once()
    assert outcome.status == "completed"
    job = market.compute.job(job_id)
    [slash] = market.compute.slashes(job_id)
    assert slash.worker == cheat and slash.amount == UNIT and market.compute.worker(cheat).stake == 0
    assert market.compute.units_of(job_id, cheat) == 0 and cheat not in market.compute.payouts(job_id)
    with world.client(COORDINATOR) as store:
        evidence = json.loads(store.get_bytes(slash.evidence_cid))
    assert evidence["step"] == 0 and len(evidence["results"]) == 3
    assert evidence["results"][cheat] != evidence["majority"]
    assert sorted(v for k, v in evidence["results"].items() if k != cheat) == [evidence["majority"]] * 2
    # the evidence holds the three workers' own signed results and the unit's input: a third party with a
    # read right on the dataset (here the coordinator's account) checks it by re-running the unit
    assert {e["address"] for e in evidence["signed"]} == set(evidence["results"]) and evidence["worker"] == cheat
    out = cli(world, "evidence", "verify", slash.evidence_cid, account=COORDINATOR)
    assert "FAILED" not in out and f"worker {cheat} signed a result the re-run contradicts" in out
    assert out.count("ok ") >= 3 * 4 + 3
    # tampered evidence (another worker's signature swapped in) is refused
    forged = dict(evidence, signed=[dict(e, signature=evidence["signed"][(i + 1) % 3]["signature"])
                                    for i, e in enumerate(evidence["signed"])])
    with world.client(COORDINATOR) as store:
        forged_cid = store.upload_bytes(json.dumps(forged).encode())
    out = cli(world, "evidence", "verify", forged_cid, account=COORDINATOR, code=2)
    assert "FAILED" in out and "does not hold" in out
    with world.client(BUYER) as store:
        result = fetch_result(market.as_account(BUYER), store, job_id)
    verification = result.report["verification"]
    assert verification["slashed_workers"] == [cheat] and verification["deviations_detected"] == 1
    assert verification["groups_agreed"] == verification["units_verified"]
    assert set(job.workers) == {cheat, *(h.address for h in world.pool[:3])}  # the spare replaced the cheat
    spec = JobSpec.from_bytes(world.client(BUYER).get_bytes(job.spec_cid))
    plain = plain_loop(spec, market_data(world, spec))  # the released result is the honest one, bit for bit
    assert all(torch.equal(plain.model.state_dict()[k], v) for k, v in result.state_dict().items())


def test_spot_checks_catch_a_corrupting_worker_and_keep_the_honest_result(gateway: Gateway,
        workers: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    spec = JobSpec.build(**{**SPEC.model_dump(), "protections": {"spot_check_rate": 1.0}})
    cheat = spawn_worker(gateway, "spot-cheat", "corrupt:1.0")
    supply = Supply([cheat, workers[2], workers[3]])  # the cheat trains, the next checks, the last replaces
    progress, state = JobRunner("spot", spec, digits_data, supply, CheckpointStore(tmp_path)).run()
    [(slashed, evidence)] = supply.slashed
    assert slashed == cheat.address and evidence["referee"] == "coordinator" and evidence["step"] == 0
    assert evidence["results"][cheat.address] != evidence["majority"] == evidence["results"][workers[2].address]
    assert progress.workers[cheat.address].units == 0  # it was sent a unit, but its deviating unit was never credited
    assert progress.checks == progress.units_done == 4
    assert same_weights(trained(state, spec, digits_data), plain_loop(spec, digits_data))


def test_two_way_split_on_two_workers_gives_the_unsplit_weights(workers: list[WorkerHandle],
                                                                digits_data: TrainingData, tmp_path: Path) -> None:
    spec = JobSpec.build(**{**SPEC.model_dump(), "protections": {"split_stages": 2}})
    progress, state = JobRunner("split", spec, digits_data, Supply(workers[:2]), CheckpointStore(tmp_path)).run()
    # one micro-batch: the same operations as the unsplit loop, bit for bit
    assert same_weights(trained(state, spec, digits_data), plain_loop(spec, digits_data))
    first, second = (progress.workers[h.address] for h in workers[:2])
    assert len(first.distinct) == digits_data.n_train and second.distinct == []  # stage 2 never sees a sample
    total = sum(p.numel() for p in trained(state, spec, digits_data).model.parameters())
    held = [progress.parameters[h.address] for h in workers[:2]]
    assert sum(held) == total and max(held) < total
    micro = JobSpec.build(**{**SPEC.model_dump(), "protections": {"split_stages": 2, "micro_batches": 4}})
    _, state4 = JobRunner("split4", micro, digits_data, Supply(workers[2:4]), CheckpointStore(tmp_path / "m")).run()
    a, b = trained(state4, micro, digits_data), plain_loop(micro, digits_data)
    diff = max(float((p - q).detach().abs().max()) for p, q in zip(a.model.parameters(), b.model.parameters(),
                                                                    strict=True))
    assert diff < 1e-5  # four micro-batches: gradients added per micro-batch, float32 rounding only


def test_a_split_job_is_settled_with_each_stage_worker_holding_part_of_the_model(world: World) -> None:
    job_id = world.submit(protections={"split_stages": 2, "micro_batches": 2})
    [outcome] = world.coordinator().run_once()
    assert outcome.status == "completed"
    job = world.market.compute.job(job_id)
    with world.client(BUYER) as store:
        report = fetch_result(world.market.as_account(BUYER), store, job_id).report
    verification = report["verification"]
    assert verification["split_stages"] == 2 and len(job.workers) == 2
    assert 0 < verification["max_worker_param_fraction"] < 1
    fractions = sorted(w["parameter_fraction"] for w in report["workers"])
    assert abs(sum(fractions) - 1.0) < 1e-9 and fractions[0] > 0
    assert sorted(w["distinct_samples"] for w in report["workers"]) == [0, report["data"]["train_samples"]]
    assert sum(world.market.compute.payouts(job_id).values()) == UNIT // 5


# ---------------------------------------------------------------- the data cap, and protections combined

CAPPED = {**SPEC.model_dump(), "protections": {"data_cap": 0.25}}  # 480 samples: 4 shards of 120


def _max_diff(a: Replica, b: Replica) -> float:
    return max(float((p - q).detach().abs().max()) for p, q in zip(a.model.parameters(), b.model.parameters(),
                                                                    strict=True))


def test_the_cap_hands_each_shard_to_its_own_worker_and_gives_the_plain_loops_weights(
        hosted: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    spec = JobSpec.build(**CAPPED)
    plan = ShardPlan.build(digits_data.n_train, 0.25, spec.training.seed)
    progress, state = JobRunner("cap1", spec, digits_data, Supply(hosted[:6]), CheckpointStore(tmp_path)).run()
    # lone owners in turn: each unit is one worker's ordinary steps, so bit for bit the plain loop on this order
    assert same_weights(trained(state, spec, digits_data), plain_loop(spec, digits_data))
    owners = {role: address for role, address in progress.roles.items()}
    assert sorted(owners) == [f"g0.shard{s}" for s in range(4)] and len(set(owners.values())) == 4
    for s in range(4):  # each worker received exactly its shard, every epoch, and nothing else
        stats = progress.workers[owners[f"g0.shard{s}"]]
        assert stats.distinct == sorted(plan.shards[s].tolist()) and len(stats.distinct) <= plan.quota
        assert stats.samples == 2 * len(plan.shards[s])
    assert set(progress.workers) == set(owners.values())  # the two spares were never sent anything


def test_the_cap_with_data_parallel_owners_matches_within_float_tolerance(
        hosted: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    spec = JobSpec.build(**{**CAPPED, "workers": 2})
    progress, state = JobRunner("cap2", spec, digits_data, Supply(hosted[6:12]), CheckpointStore(tmp_path)).run()
    assert _max_diff(trained(state, spec, digits_data), plain_loop(spec, digits_data)) < 1e-5
    assert len(progress.workers) == 4 and all(len(s.distinct) <= 120 for s in progress.workers.values())
    assert sum(s.samples for s in progress.workers.values()) == 2 * digits_data.n_train


def test_a_runner_never_sends_a_worker_samples_past_the_cap(hosted: list[WorkerHandle],
                                                             digits_data: TrainingData, tmp_path: Path) -> None:
    spec = JobSpec.build(**CAPPED)
    runner = JobRunner("guard", spec, digits_data, Supply(hosted[:1]), CheckpointStore(tmp_path))
    assert runner.plan is not None
    runner.expose(hosted[0], runner.plan.shards[0])  # its own shard: fine
    with pytest.raises(ComputeError, match="would pass the data cap"):
        runner.expose(hosted[0], runner.plan.shards[1][:1])
    assert len(runner.progress.workers[hosted[0].address].distinct) == 120  # the refused sample was not counted


def test_tmr_over_data_parallel_groups_slashes_exactly_the_corrupting_member(gateway: Gateway,
        hosted: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    cheat = cheat_hosted(gateway, "dp")
    honest = hosted[12:19]
    spec = JobSpec.build(**{**SPEC.model_dump(), "workers": 2, "protections": {"redundancy": 3}})
    supply = Supply([honest[0], honest[1], honest[2], cheat, *honest[3:]])  # the cheat is group 1's second member
    progress, state = JobRunner("tmr-dp", spec, digits_data, supply, CheckpointStore(tmp_path)).run()
    [(slashed, evidence)] = supply.slashed
    assert slashed == cheat.address and evidence["position"] == "final 1" and evidence["step"] == 0
    assert evidence["groups"][1] == [honest[2].address, cheat.address]
    assert progress.workers[cheat.address].units == 0 and progress.agreements == progress.units_done
    unprotected = JobSpec.build(**{**SPEC.model_dump(), "workers": 2})
    _, plain_state = JobRunner("dp", unprotected, digits_data, Supply(hosted[19:21]),
                               CheckpointStore(tmp_path / "dp")).run()
    # the same shares added in the same order: TMR releases the unprotected result bit for bit
    assert same_weights(trained(state, spec, digits_data), trained(plain_state, spec, digits_data))


def test_split_with_tmr_slashes_the_corrupting_stage_and_gives_the_unsplit_weights(gateway: Gateway,
        hosted: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    cheat = cheat_hosted(gateway, "stage")
    spec = JobSpec.build(**{**SPEC.model_dump(), "protections": {"split_stages": 2, "redundancy": 3}})
    supply = Supply([hosted[0], cheat, *hosted[1:6]])  # roles in order: g0.w0, g0.stage1 (the cheat), g1...
    progress, state = JobRunner("tmr-split", spec, digits_data, supply, CheckpointStore(tmp_path)).run()
    [(slashed, evidence)] = supply.slashed
    # it corrupted its weights after step 0: its state there is the first thing that differs
    assert slashed == cheat.address and evidence["position"] == "step 0 state 1"
    assert len(evidence["results"]) == 3 and list(evidence["results"].values()).count(evidence["majority"]) == 2
    assert same_weights(trained(state, spec, digits_data), plain_loop(spec, digits_data))
    assert len(progress.parameters) == 7 and max(progress.parameters.values()) < sum(
        p.numel() for p in trained(state, spec, digits_data).model.parameters())


def test_cap_split_and_tmr_together_keep_every_limit(gateway: Gateway, hosted: list[WorkerHandle],
                                                     digits_data: TrainingData, tmp_path: Path) -> None:
    cheat = cheat_hosted(gateway, "owner")
    spec = JobSpec.build(**{**CAPPED, "protections": {"data_cap": 0.25, "split_stages": 2, "redundancy": 3}})
    # 3 groups x (4 shard owners + 1 second stage) = 15 workers; the cheat is group 0's owner of the first shard
    supply = Supply([cheat, *hosted[:20]])
    progress, state = JobRunner("all", spec, digits_data, supply, CheckpointStore(tmp_path)).run()
    [(slashed, evidence)] = supply.slashed
    assert slashed == cheat.address and evidence["position"].endswith("state 0")
    assert same_weights(trained(state, spec, digits_data), plain_loop(spec, digits_data))
    total = sum(p.numel() for p in trained(state, spec, digits_data).model.parameters())
    stage1 = {a for r, a in progress.roles.items() if r.endswith("stage1")}
    assert len(stage1) == 3
    for address, stats in progress.workers.items():
        assert len(stats.distinct) <= 120  # the cap, over the whole job
        assert progress.parameters[address] < total  # nobody held the whole model
        if address in stage1:
            assert stats.distinct == []  # later stages see activations, never samples
    assert len(progress.workers) == 16 and progress.agreements == progress.units_done


def test_split_workers_exchange_only_the_cut_activations_and_their_gradients(
        hosted: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    from databright.training.split import build_stages, cut_bytes_per_sample

    spec = JobSpec.build(**{**SPEC.model_dump(), "protections": {"split_stages": 2, "micro_batches": 2}})
    first, second = hosted[22], hosted[23]
    [h.traffic().result(30) for h in (first, second)]  # start counting from zero
    JobRunner("traffic", spec, digits_data, Supply([first, second]), CheckpointStore(tmp_path)).run()
    a, b = (h.traffic().result(30) for h in (first, second))
    presented = spec.training.epochs * digits_data.n_train
    [cut] = cut_bytes_per_sample(build_stages(spec, digits_data.feature_shape, digits_data.n_classes),
                                 digits_data.feature_shape)
    assert a["activations_out"] == b["activations_in"] == cut * presented
    assert b["gradients_out"] == a["gradients_in"] == cut * presented
    assert a["samples_in"] == digits_data.x_train[:1].nbytes * presented and "samples_in" not in b
    assert "activations_in" not in a and "gradients_out" not in a  # the first stage sends no input gradient
    assert b["labels_in"] == digits_data.y_train[:1].nbytes * presented


def test_a_cheating_split_stages_slash_is_verified_through_the_cli(world: World) -> None:
    market = world.market
    honest_accounts = market.chain.accounts()[18:24]
    keys = dev_keys(market.chain)
    for a in honest_accounts:
        market.as_account(a).compute.register_worker(UNIT)
    honest = spawn(world.gateway, [keys[a] for a in honest_accounts])
    cheat = market.chain.accounts()[24]
    corrupter = world.misbehaving(cheat, "corrupt:1.0")
    job_id = world.submit(protections={"redundancy": 3, "split_stages": 2})
    [outcome] = world.coordinator(workers=first_then([corrupter, *honest[:5]], [corrupter, *honest])).run_once()
    assert outcome.status == "completed"
    [slash] = market.compute.slashes(job_id)
    assert slash.worker == cheat
    out = cli(world, "evidence", "verify", slash.evidence_cid, account=COORDINATOR)
    assert "FAILED" not in out and f"worker {cheat} signed a result the re-run contradicts" in out
    assert "signed exactly the re-run's replies for the whole unit (2 of 2)" in out
    with world.client(COORDINATOR) as store:
        evidence = json.loads(store.get_bytes(slash.evidence_cid))
        evidence["worker"] = next(t["address"] for t in evidence["transcripts"] if t["address"] != cheat)
        framed = store.upload_bytes(json.dumps(evidence).encode())
    out = cli(world, "evidence", "verify", framed, account=COORDINATOR, code=2)
    assert "FAILED" in out and "does not hold" in out
