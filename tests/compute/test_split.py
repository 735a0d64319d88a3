"""Model splitting in process: cut points, the pipeline's arithmetic and its communication."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from databright.compute.data import TrainingData
from databright.compute.errors import JobSpecError
from databright.training.models import build_model, parameter_count
from databright.training.replica import Replica, batch_order
from databright.training.spec import JobSpec
from databright.training.split import build_stages, cut_points, merge, profile, split_train_steps

from .conftest import job_spec

MODELS = {
    "mlp": {"kind": "mlp", "hidden": [64, 32]},
    "cnn": {"kind": "cnn"},
    "vgg": {"kind": "vgg", "depth": 2, "width": 8, "hidden": [32]},
}
# Several micro-batches add each micro-batch's gradient separately: another float32 summation order
# than one batch-wide reduction, so not bitwise. Measured max |weight diff| vs unsplit training with
# 4 micro-batches: SGD (momentum 0.9) ~3e-8 after 5-15 steps for mlp/cnn/vgg, losses ~3e-7; Adam
# amplifies it (it divides by sqrt(v), so near-zero gradients' rounding noise becomes lr-sized steps)
# to ~5e-7 (cnn) and ~4e-6 (vgg). 1e-5 covers both; the tests below use SGD and an Adam MLP.
ATOL = 1e-5


def _spec(model: str, stages: int, **training: object) -> JobSpec:
    return job_spec(model=MODELS[model], training={"batch_size": 32, **training},
                    protections={"split_stages": stages})


def _batches(data: TrainingData, spec: JobSpec, steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    order = batch_order(data.n_train, spec.training.batch_size, 0, spec.training.seed)[:steps]
    return [data.x_train[b] for b in order], [data.y_train[b] for b in order]


def _stage_costs(flops: list[int], cuts: list[int]) -> list[int]:
    bounds = [0, *cuts, len(flops)]
    return [sum(flops[a:b]) for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("stages", [2, 3])
def test_cut_points_are_valid_and_minimise_the_slowest_stage(digits_data: TrainingData, model: str,
                                                             stages: int) -> None:
    spec = _spec(model, stages)
    net = build_model(spec.model, digits_data.feature_shape, digits_data.n_classes, 0)
    layers = profile(net, digits_data.feature_shape)
    cuts = cut_points(net, digits_data.feature_shape, stages)
    assert len(cuts) == stages - 1 and cuts == sorted(set(cuts)) and cuts[0] > 0 and cuts[-1] < len(net)
    bounds = [0, *cuts, len(net)]
    assert all(sum(p.params for p in layers[a:b]) > 0 for a, b in itertools.pairwise(bounds))
    flops = [p.flops for p in layers]
    # brute force over every valid cut set: none has a cheaper slowest stage
    valid = [c for c in itertools.combinations(range(1, len(net)), stages - 1)
             if all(sum(p.params for p in layers[a:b]) for a, b in itertools.pairwise([0, *c, len(net)]))]
    optimum = min(max(_stage_costs(flops, list(c))) for c in valid)
    assert max(_stage_costs(flops, cuts)) == optimum
    # and among those, the cuts carry the smallest activations
    ties = [c for c in valid if max(_stage_costs(flops, list(c))) == optimum]
    assert sum(layers[c - 1].out_numel for c in cuts) == min(sum(layers[c - 1].out_numel for c in t) for t in ties)


def test_cnn_two_way_cut_is_after_pooling(digits_data: TrainingData) -> None:
    net = build_model(_spec("cnn", 2).model, digits_data.feature_shape, digits_data.n_classes, 0)
    # Unflatten, Conv, ReLU, MaxPool | Conv, ReLU, Flatten, Linear: the second conv dominates the cost,
    # so it goes alone with the head, and the cut falls after the pool (16x4x4, not 16x8x8)
    assert cut_points(net, digits_data.feature_shape, 2) == [4]


def test_too_many_stages_are_refused(digits_data: TrainingData) -> None:
    net = build_model(_spec("cnn", 1).model, digits_data.feature_shape, digits_data.n_classes, 0)
    assert len(cut_points(net, digits_data.feature_shape, 3)) == 2  # three layers with parameters
    with pytest.raises(JobSpecError, match="3 layers with parameters"):
        cut_points(net, digits_data.feature_shape, 4)
    with pytest.raises(JobSpecError):
        cut_points(net, digits_data.feature_shape, 0)


@pytest.mark.parametrize(("model", "optimizer"), [("cnn", "sgd"), ("mlp", "adam"), ("vgg", "sgd")])
def test_one_micro_batch_is_bitwise_unsplit_training(digits_data: TrainingData, model: str, optimizer: str) -> None:
    spec = _spec(model, 2, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.05)
    xs, ys = _batches(digits_data, spec, 6)
    replica = Replica(spec, digits_data.feature_shape, digits_data.n_classes)
    stages = build_stages(spec, digits_data.feature_shape, digits_data.n_classes)
    assert merge(stages).keys() == replica.model.state_dict().keys()
    expected = replica.train_steps(xs, ys)
    result = split_train_steps(stages, xs, ys, micro_batches=1)
    assert result["losses"] == expected
    merged, unsplit = merge(stages), replica.model.state_dict()
    assert all(torch.equal(merged[k], unsplit[k]) for k in unsplit)
    initial = build_model(spec.model, digits_data.feature_shape, digits_data.n_classes, 0).state_dict()
    assert not any(torch.equal(merged[k], initial[k]) for k in initial)  # every tensor was trained


@pytest.mark.parametrize(("model", "optimizer"), [("cnn", "sgd"), ("vgg", "sgd"), ("mlp", "adam")])
def test_four_micro_batches_match_within_tolerance(digits_data: TrainingData, model: str, optimizer: str) -> None:
    spec = _spec(model, 3 if model == "vgg" else 2, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.05)
    xs, ys = _batches(digits_data, spec, 5)
    replica = Replica(spec, digits_data.feature_shape, digits_data.n_classes)
    stages = build_stages(spec, digits_data.feature_shape, digits_data.n_classes)
    expected = replica.train_steps(xs, ys)
    result = split_train_steps(stages, xs, ys, micro_batches=4)
    np.testing.assert_allclose(result["losses"], expected, atol=ATOL)
    merged, unsplit = merge(stages), replica.model.state_dict()
    for key, tensor in unsplit.items():
        torch.testing.assert_close(merged[key], tensor, atol=ATOL, rtol=0)


@pytest.mark.parametrize(("model", "stages", "micro"), [("cnn", 2, 1), ("cnn", 2, 4), ("vgg", 3, 3), ("mlp", 2, 5)])
def test_communication_is_exactly_cut_activations_and_their_gradients(digits_data: TrainingData, model: str,
                                                                       stages: int, micro: int) -> None:
    spec = _spec(model, stages, batch_size=50)
    order = batch_order(digits_data.n_train, 50, 0, 0)
    xs, ys = [digits_data.x_train[b] for b in order[-3:]], [digits_data.y_train[b] for b in order[-3:]]
    assert len(ys[-1]) < 50  # a short last batch too
    parts = build_stages(spec, digits_data.feature_shape, digits_data.n_classes)
    net = build_model(spec.model, digits_data.feature_shape, digits_data.n_classes, 0)
    layers = profile(net, digits_data.feature_shape)
    cuts = cut_points(net, digits_data.feature_shape, stages)
    # float32 activation at each cut, forward, plus its gradient of the same size, backward
    by_hand = sum(len(y) * sum(layers[c - 1].out_numel for c in cuts) * 4 * 2 for y in ys)
    result = split_train_steps(parts, xs, ys, micro_batches=micro)
    assert result["comm_bytes"] == result["comm_bytes_expected"] == by_hand > 0


@pytest.mark.parametrize("model", sorted(MODELS))
def test_no_stage_holds_the_whole_model(digits_data: TrainingData, model: str) -> None:
    spec = _spec(model, 2)
    stages = build_stages(spec, digits_data.feature_shape, digits_data.n_classes)
    total = parameter_count(build_model(spec.model, digits_data.feature_shape, digits_data.n_classes, 0))
    counts = [s.parameter_count() for s in stages]
    assert all(0 < c < total for c in counts) and sum(counts) == total
    keys = [set(s.state_dict()) for s in stages]
    assert not keys[0] & keys[1]


def test_stage_snapshot_round_trips(digits_data: TrainingData) -> None:
    spec = _spec("cnn", 2)
    xs, ys = _batches(digits_data, spec, 4)
    a = build_stages(spec, digits_data.feature_shape, digits_data.n_classes)
    b = build_stages(spec, digits_data.feature_shape, digits_data.n_classes)
    split_train_steps(a, xs[:2], ys[:2], micro_batches=2)
    for src, dst in zip(a, b, strict=True):
        dst.load(src.snapshot())
    assert split_train_steps(a, xs[2:], ys[2:], 2)["losses"] == split_train_steps(b, xs[2:], ys[2:], 2)["losses"]
    assert all(torch.equal(merge(a)[k], v) for k, v in merge(b).items())
