"""Everything that needs Ray, in one module so the session starts one Ray instance (≈ 5 s) and one
set of worker actors (each imports PyTorch): training equivalence with a plain PyTorch loop, worker
faults (a crash, a hang), a coordinator killed and restarted, and the market's whole job lifecycle."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
import torch

from databright.compute.checkpoint import CheckpointStore, Progress
from databright.compute.data import TrainingData
from databright.compute.pool import WorkerHandle, spawn_worker, spawn_workers
from databright.compute.runner import JobRunner
from databright.compute.spec import JobSpec
from databright.compute.training import Replica, batch_order

from .conftest import job_spec

# the embedded chain's dev accounts 12..15 (eth-tester derives them from its fixed mnemonic)
POOL_SIZE = 4


@pytest.fixture(scope="session")
def ray_pool() -> Iterator[list[WorkerHandle]]:
    import ray

    from databright.chain.connection import connect, reset_embedded

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    reset_embedded()
    addresses = connect("embedded").accounts()[12 : 12 + POOL_SIZE]
    handles = spawn_workers(list(addresses))
    yield handles
    ray.shutdown()


class Supply:
    """Hands out the given workers in order; remembers who failed."""

    def __init__(self, handles: list[WorkerHandle]) -> None:
        self.free = list(handles)
        self.failures: list[str] = []

    def acquire(self, count: int, exclude: Collection[str]) -> list[WorkerHandle]:
        out = [h for h in self.free if h.address not in exclude][:count]
        self.free = [h for h in self.free if h not in out]
        return out

    def failed(self, handle: WorkerHandle, reason: str) -> None:
        self.failures.append(handle.address)


def plain_loop(spec: JobSpec, data: TrainingData) -> Replica:
    """What a user would write by hand: the same model, seed and batch order, no market."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(spec.training.seed)
    from databright.compute.models import build_model

    model = build_model(spec.model, data.feature_shape, data.n_classes, spec.training.seed)
    opt = torch.optim.SGD(model.parameters(), lr=spec.training.lr, momentum=spec.training.momentum)
    for epoch in range(spec.training.epochs):
        for batch in batch_order(data.n_train, spec.training.batch_size, epoch, spec.training.seed):
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


def test_one_worker_gives_the_plain_loops_weights_bitwise(ray_pool: list[WorkerHandle], digits_data: TrainingData,
                                                            tmp_path: Path) -> None:
    progress, state = JobRunner("eq1", SPEC, digits_data, Supply(ray_pool[:1]), CheckpointStore(tmp_path)).run()
    assert same_weights(trained(state, SPEC, digits_data), plain_loop(SPEC, digits_data))
    (stats,) = progress.workers.values()
    assert stats.samples == SPEC.training.epochs * digits_data.n_train == stats.units
    assert len(stats.distinct) == digits_data.n_train
    assert [c["epoch"] for c in progress.curve] == [1.0, 2.0]
    assert progress.curve[-1]["eval_accuracy"] > 0.5


def test_three_workers_match_within_float_tolerance(ray_pool: list[WorkerHandle], digits_data: TrainingData,
                                                    tmp_path: Path) -> None:
    spec = SPEC.model_copy(update={"workers": 3})
    progress, state = JobRunner("eq3", spec, digits_data, Supply(ray_pool[:3]), CheckpointStore(tmp_path)).run()
    market, plain = trained(state, spec, digits_data), plain_loop(spec, digits_data)
    # the gradient of a batch is added from three shares: float32 rounding of the additions only
    diff = max(float((p - q).detach().abs().max()) for p, q in zip(market.model.parameters(), plain.model.parameters(),
                                                            strict=True))
    assert diff < 1e-5
    assert sum(s.samples for s in progress.workers.values()) == spec.training.epochs * digits_data.n_train
    assert all(s.samples > 0 for s in progress.workers.values()) and len(progress.workers) == 3


def test_a_crashed_worker_is_replaced_and_paid_only_for_finished_units(
        ray_pool: list[WorkerHandle], digits_data: TrainingData, tmp_path: Path) -> None:
    crasher = spawn_worker("0x" + "c0" * 20, fault="crash-after:2")
    supply = Supply([crasher, ray_pool[0]])
    progress, state = JobRunner("crash", SPEC, digits_data, supply, CheckpointStore(tmp_path)).run()
    assert supply.failures == [crasher.address]
    assert progress.faults[0]["worker"] == crasher.address and progress.faults[0]["step"] == 8
    # its two finished units were the first epoch (8 batches, 480 samples): exactly those are credited
    assert progress.workers[crasher.address].units == digits_data.n_train == 480
    assert same_weights(trained(state, SPEC, digits_data), plain_loop(SPEC, digits_data))


def test_a_hanging_worker_times_out_and_is_replaced(ray_pool: list[WorkerHandle], digits_data: TrainingData,
                                                    tmp_path: Path) -> None:
    spec = SPEC.model_copy(update={"worker_timeout": 3.0, "training": SPEC.training.model_copy(update={"epochs": 1})})
    hanger = spawn_worker("0x" + "a9" * 20, fault="hang-after:1")
    supply = Supply([hanger, ray_pool[1]])
    progress, _ = JobRunner("hang", spec, digits_data, supply, CheckpointStore(tmp_path)).run()
    assert supply.failures == [hanger.address]
    assert "no answer within 3 s" in progress.faults[0]["reason"]
    assert progress.workers[hanger.address].units == 4 * 64
    assert progress.workers[ray_pool[1].address].units == digits_data.n_train - 4 * 64


class Killed(Exception):
    pass


def test_a_killed_runner_resumes_from_its_checkpoint(ray_pool: list[WorkerHandle], digits_data: TrainingData,
                                                     tmp_path: Path) -> None:
    def kill_after_three(progress: Progress) -> None:
        if progress.units_done == 3:
            raise Killed

    with pytest.raises(Killed):
        JobRunner("resume", SPEC, digits_data, Supply(ray_pool[:1]), CheckpointStore(tmp_path),
                  on_unit=kill_after_three).run()
    saved = CheckpointStore(tmp_path).load()
    assert saved is not None and saved[0].units_done == 3
    # a fresh runner (a restarted process: nothing shared but the folder) on another worker
    progress, state = JobRunner("resume", SPEC, digits_data, Supply(ray_pool[1:2]), CheckpointStore(tmp_path)).run()
    assert progress.units_done == 4  # two units per epoch: the fourth was done after the restart
    assert same_weights(trained(state, SPEC, digits_data), plain_loop(SPEC, digits_data))
    assert sum(s.samples for s in progress.workers.values()) == SPEC.training.epochs * digits_data.n_train
