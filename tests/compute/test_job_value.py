"""The value step of a job (databright.compute.job_value): the embedding, the values, the payout rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from databright.chain.merkle import ValueTree
from databright.compute.data import TrainingData
from databright.compute.errors import ComputeError, JobSpecError
from databright.compute.job_value import Entry, embedding, sample_values, value_report
from databright.training.replica import Replica
from databright.valuation import KNNShapley

from .conftest import job_spec

A, B, C = ("0x" + f"{i:040x}" for i in (0xA, 0xB, 0xC))
ENTRIES = [Entry("entry-0", A), Entry("entry-1", B), Entry("entry-2", A)]


def trained(spec, data: TrainingData) -> Replica:
    replica = Replica(spec, data.feature_shape, data.n_classes)
    replica.train_steps([data.x_train[:64], data.x_train[64:128]], [data.y_train[:64], data.y_train[64:128]])
    return replica


def report(values, data: TrainingData, entries=ENTRIES, fee: int = 10**18, bps: int = 5000):
    described = {"kind": "raw features", "dims": 64}
    return value_report(7, job_spec(), "bafk-spec", data, entries, np.asarray(values, dtype=np.float64), described,
                        "ab" * 32, fee, bps)


def test_the_embedding_is_the_input_of_the_last_layer(digits_data: TrainingData) -> None:
    replica = trained(job_spec(model={"kind": "mlp", "hidden": [24, 12]}), digits_data)
    emb, described = embedding(replica.model, digits_data.x_eval)
    assert emb.shape == (len(digits_data.y_eval), 12) and described["kind"] == "penultimate layer"
    with torch.no_grad():  # the last layer applied to the embedding gives the model's logits
        logits = replica.model[-1](torch.from_numpy(emb.astype(np.float32)))
    assert np.array_equal(logits.argmax(1).numpy(), replica.predict(digits_data.x_eval))


def test_a_model_without_hidden_layer_is_valued_on_raw_features(digits_data: TrainingData) -> None:
    replica = trained(job_spec(model={"kind": "mlp", "hidden": []}), digits_data)
    emb, described = embedding(replica.model, digits_data.x_train)
    assert described["kind"] == "raw features" and described["dims"] == 64
    assert np.array_equal(emb, digits_data.x_train.reshape(digits_data.n_train, -1).astype(np.float64))


def test_values_are_the_kernels_on_the_embedding_and_reproducible(digits_data: TrainingData) -> None:
    replica = trained(job_spec(model={"kind": "cnn"}), digits_data)
    values, described = sample_values(3, digits_data, replica.model)
    train, _ = embedding(replica.model, digits_data.x_train)
    held_out, _ = embedding(replica.model, digits_data.x_eval)
    expected = KNNShapley(3).fit(train, digits_data.y_train, held_out, digits_data.y_eval).result_.values
    assert np.array_equal(values, expected)
    assert np.array_equal(sample_values(3, digits_data, replica.model)[0], values)
    assert described["dims"] == train.shape[1]


def test_the_pool_is_split_by_positive_contributor_value(digits_data: TrainingData) -> None:
    e = digits_data.entry_of_train
    # entry 0 (A) worth 0.3, entry 1 (B) 0.5, entry 2 (A) -0.1: A's total 0.2, B's 0.5
    values = np.select([e == 0, e == 1, e == 2], [0.3, 0.5, -0.1]) / np.bincount(e)[e]
    r = report(values, digits_data).report
    pool = 10**18 // 2
    people = {c["address"]: c for c in r["contributors"]}
    assert people[A]["value"] == pytest.approx(0.2) and people[B]["value"] == pytest.approx(0.5)
    assert people[A]["amount_wei"] == pool * 2 // 7 and people[B]["amount_wei"] == pool * 5 // 7
    # within A the negative entry gets nothing and the positive one all of A's payout
    assert [x["amount_wei"] for x in r["entries"]] == [pool * 2 // 7, pool * 5 // 7, 0]
    assert r["paid_wei"] + r["dust_wei"] == r["pool_wei"] == pool and 0 <= r["dust_wei"] < 2
    assert [x["samples"] for x in r["entries"]] == np.bincount(e).tolist()


def test_negative_totals_are_paid_nothing(digits_data: TrainingData) -> None:
    e = digits_data.entry_of_train
    values = np.select([e == 0, e == 1, e == 2], [0.1, 0.4, -0.3]) / np.bincount(e)[e]  # A: -0.2
    r = report(values, digits_data)
    assert r.payouts == {B: 10**18 // 2}
    assert r.report["root"] == "0x" + ValueTree.of([(B, 10**18 // 2)]).root.hex()
    nobody = report(-np.abs(values) - 1e-3, digits_data)
    assert nobody.payouts == {} and nobody.root() is None and nobody.report["root"] is None
    assert nobody.report["dust_wei"] == nobody.report["pool_wei"]  # all of it goes to the dividends
    with pytest.raises(ComputeError, match="paid nobody"):
        nobody.tree()


def test_the_value_share_and_fee_set_the_pool(digits_data: TrainingData) -> None:
    values = np.full(digits_data.n_train, 0.001)
    assert report(values, digits_data, fee=999, bps=10_000).report["pool_wei"] == 999
    assert report(values, digits_data, fee=10**18, bps=0).payouts == {}
    assert report(values, digits_data, fee=0).report["pool_wei"] == 0


def test_entries_must_be_the_registry_the_job_trained_on(digits_data: TrainingData) -> None:
    values = np.zeros(digits_data.n_train)
    with pytest.raises(ComputeError, match="do not match"):
        report(values, digits_data, entries=ENTRIES[:2])
    with pytest.raises(ComputeError, match="do not match"):
        report(values, digits_data, entries=[Entry("other", A), *ENTRIES[1:]])


def test_the_spec_turns_valuation_on_by_default_and_off_with_null() -> None:
    assert job_spec().valuation is not None and job_spec().valuation.k == 5
    assert job_spec(valuation={"k": 9}).valuation.k == 9
    assert job_spec(valuation=None).valuation is None
    with pytest.raises(JobSpecError, match=r"valuation\.k"):
        job_spec(valuation={"k": 0})
    with pytest.raises(JobSpecError, match="valuation"):
        job_spec(valuation={"k": 5, "kind": "loo"})
