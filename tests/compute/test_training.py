"""The arithmetic every replica shares, the data preparation, sealing and checkpoints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from databright.compute.checkpoint import CheckpointStore, Progress, WorkerStats
from databright.compute.data import TrainingData, prepare
from databright.compute.errors import ComputeError, JobSpecError
from databright.compute.report import index_hash
from databright.compute.schedule import schedule
from databright.compute.sealing import public_key_of, seal, unseal
from databright.datasets.canonical import CanonicalDataset
from databright.demo.faulty_worker import Fault
from databright.training.models import build_model, check_model, parameter_count
from databright.training.replica import Replica, batch_order, sum_gradients
from databright.training.spec import ModelSpec

from .conftest import BUYER_KEY, DIGITS_SPEC, digits_parts, job_spec


def test_batch_order_is_a_seeded_permutation() -> None:
    batches = batch_order(100, 32, epoch=0, seed=3)
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert sorted(np.concatenate(batches).tolist()) == list(range(100))
    assert all((a == b).all() for a, b in zip(batches, batch_order(100, 32, 0, 3), strict=True))
    assert not (np.concatenate(batches) == np.concatenate(batch_order(100, 32, 1, 3))).all()


def test_schedule_units_never_cross_an_evaluation_point() -> None:
    units = schedule(job_spec(training={"epochs": 2, "batch_size": 10}, unit_steps=4), 95)
    assert [len(u.batches) for u in units] == [4, 4, 2, 4, 4, 2]
    assert [u.evaluate_after for u in units] == [None, None, 1, None, None, 2]
    assert [u.start for u in units] == [0, 4, 8, 10, 14, 18]


def test_schedule_units_span_epochs_between_evaluation_points() -> None:
    # 10 epochs of 3 steps, evaluated at most 4 times: after epochs 3, 6, 9 and 10
    units = schedule(job_spec(training={"epochs": 10, "batch_size": 10}, unit_steps=4, eval_points=4), 30)
    assert [len(u.batches) for u in units] == [4, 4, 1, 4, 4, 1, 4, 4, 1, 3]
    assert [u.evaluate_after for u in units] == [None, None, 3, None, None, 6, None, None, 9, 10]
    assert sum(len(u.batches) for u in units) == 30
    exact = schedule(job_spec(training={"epochs": 2, "batch_size": 10}, unit_steps=3, eval_points=1), 30)
    assert [(len(u.batches), u.evaluate_after) for u in exact] == [(3, None), (3, 2)]


def test_prepare_holds_out_and_maps_labels(digits_data: TrainingData) -> None:
    d = digits_data
    assert d.n_train + len(d.y_eval) == 600 and len(d.y_eval) == 120
    assert d.x_train.dtype == np.float32 and d.x_train.shape[1:] == (8, 8)
    assert float(np.abs(d.x_train).max()) == pytest.approx(1.0)
    assert np.bincount(d.entry_of_train, minlength=3).sum() == d.n_train
    again = prepare(digits_parts(), DIGITS_SPEC, 0.2, 0)
    assert (again.x_eval == d.x_eval).all() and (again.y_train == d.y_train).all()


def test_prepare_refuses_empty_and_unknown_labels() -> None:
    with pytest.raises(ComputeError, match="no accepted entries"):
        prepare([], DIGITS_SPEC, 0.2, 0)
    bad = CanonicalDataset(np.zeros((5, 8, 8)), np.array([0, 1, 2, 3, 42]))
    with pytest.raises(ComputeError, match=r"labels outside its spec: \[42\]"):
        prepare([bad], DIGITS_SPEC, 0.2, 0)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "vgg"])
def test_zoo_models_are_flat_seeded_and_fit_digits(kind: str) -> None:
    spec = ModelSpec(kind=kind, depth=2, width=8)
    a, b = build_model(spec, (8, 8), 10, seed=1), build_model(spec, (8, 8), 10, seed=1)
    assert all(not isinstance(m, torch.nn.Sequential) for m in a)  # one level: cut points are layer indices
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a(torch.zeros(3, 8, 8)).shape == (3, 10)
    assert parameter_count(a) > 0


def test_a_model_that_cannot_take_the_data_is_the_specs_fault() -> None:
    with pytest.raises(JobSpecError, match="image features"):
        build_model(ModelSpec(kind="cnn"), (64,), 10, seed=0)
    model = build_model(ModelSpec(kind="mlp"), (8, 8), 10, seed=0)
    with pytest.raises(JobSpecError, match="does not fit"):
        check_model(model, (7,))


def test_gradient_shares_add_up_to_the_batch_gradient(digits_data: TrainingData) -> None:
    spec = job_spec(training={"optimizer": "sgd", "momentum": 0.0})
    whole, parts = Replica(spec, (8, 8), 10), Replica(spec, (8, 8), 10)
    batch = batch_order(digits_data.n_train, 64, 0, 0)[0]
    x, y = digits_data.x_train, digits_data.y_train
    whole.train_steps([x[batch]], [y[batch]])
    shares = [parts.gradient(x[p], y[p], len(batch))[0] for p in np.array_split(batch, 3)]
    parts.apply(sum_gradients(shares))
    for p, q in zip(whole.model.parameters(), parts.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


def test_snapshot_load_and_hash(digits_data: TrainingData) -> None:
    spec = job_spec(model={"kind": "mlp"}, training={"optimizer": "adam"})
    a = Replica(spec, (8, 8), 10)
    a.train_steps([digits_data.x_train[:32]], [digits_data.y_train[:32]])
    b = Replica(spec, (8, 8), 10)
    assert b.state_hash() != a.state_hash()
    b.load(a.snapshot())
    assert b.state_hash() == a.state_hash()
    a.train_steps([digits_data.x_train[:32]], [digits_data.y_train[:32]])
    b.train_steps([digits_data.x_train[:32]], [digits_data.y_train[:32]])
    assert b.state_hash() == a.state_hash()  # optimiser state travelled with the weights
    state = torch.load(__import__("io").BytesIO(a.model_bytes()), weights_only=True)
    assert set(state) == set(a.model.state_dict())


def test_seal_only_opens_for_the_buyer() -> None:
    sealed = seal(b"model bytes", public_key_of(BUYER_KEY.secret))
    assert b"model bytes" not in sealed
    assert unseal(sealed, BUYER_KEY.secret) == b"model bytes"
    with pytest.raises(ComputeError, match="not sealed to this account"):
        unseal(sealed, b"\x08" * 32)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ComputeError):
        unseal(tampered, BUYER_KEY.secret)
    with pytest.raises(ComputeError, match="not a sealed"):
        unseal(b"junk", BUYER_KEY.secret)
    with pytest.raises(ComputeError, match="public key"):
        seal(b"x", "00")


def test_checkpoint_keeps_state_and_progress_together(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "job")
    assert store.load() is None
    p = Progress("1", position=4, state_hash="aa", workers={"0xW": WorkerStats(units=8, distinct=[1, 2])})
    store.save(p, b"state one")
    p2 = Progress("1", position=8, state_hash="bb")
    store.save(p2, b"state two")
    loaded = store.load()
    assert loaded is not None
    assert loaded[0].position == 8 and loaded[1] == b"state two"
    assert [f.name for f in sorted((tmp_path / "job").glob("state-*"))] == ["state-bb.bin"]
    (tmp_path / "job" / "state-bb.bin").unlink()
    with pytest.raises(ComputeError, match="unreadable"):
        store.load()


@pytest.mark.parametrize("text", ["explode:1", "corrupt", "corrupt:2", "slow:x", "crash-after:-1"])
def test_fault_flags_are_checked(text: str) -> None:
    with pytest.raises(ComputeError):
        Fault.parse(text)


def test_fault_flags_parse() -> None:
    assert Fault.parse(None) is None
    assert Fault.parse("corrupt:0.1") == Fault("corrupt", 0.1)


def test_index_hash_depends_on_the_set_not_its_order() -> None:
    assert index_hash([3, 1, 2]) == index_hash([1, 2, 3])
    assert index_hash([1, 2, 3]) == hashlib.sha256(np.array([1, 2, 3], dtype="<i8").tobytes()).hexdigest()
    assert index_hash([1, 2]) != index_hash([1, 2, 3])


def test_agreement_by_hash_and_within_tolerance(digits_data: TrainingData) -> None:
    from databright.compute.verification import agreement
    from databright.training.spec import Tolerance

    spec = job_spec(model={"kind": "mlp"})
    a = Replica(spec, (8, 8), 10)
    honest = a.snapshot()
    with torch.no_grad():
        next(a.model.parameters()).view(-1)[0] += 1e-6
    tiny = a.snapshot()
    with torch.no_grad():
        next(a.model.parameters()).view(-1)[0] += 0.5
    cheat = a.snapshot()
    scratch = Replica(spec, (8, 8), 10)
    assert agreement(["h", "h", "h"], [honest] * 3, None, scratch) == [0, 1, 2]
    assert agreement(["h", "x", "h"], [honest, cheat, honest], None, scratch) == [0, 2]
    assert len(agreement(["a", "b", "c"], [honest, tiny, cheat], None, scratch)) == 1  # bitwise: nobody agrees
    loose = Tolerance(abs_diff=1e-4)
    assert agreement(["a", "b", "c"], [honest, tiny, cheat], loose, scratch) == [0, 1]
    assert agreement(["a", "b", "c"], [honest, tiny, honest], loose, scratch) == [0, 1, 2]


def test_spot_check_draws_and_detection_probability() -> None:
    from databright.compute.verification import detection_probability, spot_checked

    spec = job_spec(protections={"spot_check_rate": 0.1}, training={"epochs": 50, "batch_size": 10}, unit_steps=1)
    units = schedule(spec, 100)
    share = sum(spot_checked(spec, "j", u, b"k") for u in units) / len(units)
    assert 0.07 < share < 0.13  # 500 seeded draws at p = 0.1
    assert [spot_checked(spec, "j", u, b"k") for u in units] == [spot_checked(spec, "j", u, b"k") for u in units]
    # keyed by the coordinator's secret: another key draws other units (a worker cannot predict them)
    assert [spot_checked(spec, "j", u, b"k") for u in units] != [spot_checked(spec, "j", u, b"k2") for u in units]
    assert not any(spot_checked(job_spec(), "j", u, b"k") for u in units)
    # the yardstick: p such that a worker deviating on 5% of 1,000 steps is caught with 99%
    assert detection_probability(0.088, 0.05, 1000) > 0.99 > detection_probability(0.08, 0.05, 1000)
    assert detection_probability(0.0, 0.05, 1000) == 0.0


def test_a_worker_rebuilds_its_replica_when_a_job_id_comes_back_with_another_spec() -> None:
    from databright.worker.trainer import Trainer

    worker = Trainer("0x" + "ab" * 20)
    for kind in ("mlp", "cnn"):  # two markets both number their first job 1
        spec = job_spec(model={"kind": kind})
        state = Replica(spec, (8, 8), 10)
        assert worker.setup("1", spec.to_bytes(), [8, 8], 10, state.snapshot()) == state.state_hash()
