"""Model splitting: a flat model's layers cut into stages that train as a GPipe-style pipeline.

Each stage is meant for a different worker. Only two kinds of tensors ever cross between stages:
the activations at a cut (forward) and the gradients of the loss with respect to them (backward).
No stage is given, or can rebuild, another stage's parameters, so the report can say per worker
how many of the model's parameters it held. What each stage can learn differs: the first stage
sees the raw training inputs (so the data cap still applies to it); later stages see only the
activations of earlier layers and, for the last one, the labels. Activations are not encryption
(an early cut can leak a lot about the inputs), but a later stage never holds the inputs themselves.

Arithmetic: a batch is split into micro-batches; every micro-batch runs forward through all
stages, then backward in reverse, gradients accumulate in each stage, and each stage takes one
optimiser step per batch. With one micro-batch the operations are exactly those of an unsplit
`Replica.train_steps` (the same mean cross-entropy, autograd across the cut applies the same
chain rule in the same order), so the weights are bitwise equal. With several micro-batches
each one's loss is `sum / batch size` and the gradients are added micro-batch by micro-batch, a
different order of float32 additions: equal to unsplit training within float tolerance only.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from databright.protocol.state import pack_state
from databright.training.errors import JobSpecError
from databright.training.models import build_model
from databright.training.replica import deterministic, load_state, make_optimizer
from databright.training.spec import JobSpec, TrainingSpec

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class LayerProfile:
    """One top-level layer on one sample: forward FLOPs (multiply-adds), output shape, parameters."""

    flops: int
    out_shape: tuple[int, ...]
    params: int

    @property
    def out_numel(self) -> int:
        return math.prod(self.out_shape)


def profile(model: nn.Sequential, sample_shape: tuple[int, ...]) -> list[LayerProfile]:
    """Per-layer cost from one forward pass on a zero sample. Linear and Conv2d dominate; layers
    without parameters (ReLU, pooling, reshapes) are memory-bound and cheap, so they count 0: that
    leaves the balance unchanged wherever they go, and lets a cut land where the activation is smallest."""
    shapes: dict[int, tuple[int, ...]] = {}
    flops: dict[int, int] = {}

    def hook(index: int, layer: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        shapes[index] = tuple(out.shape[1:])
        if isinstance(layer, nn.Linear):
            flops[index] = layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            k = math.prod(layer.kernel_size)
            flops[index] = out[0].numel() * (layer.in_channels // layer.groups) * k
        else:
            flops[index] = 0

    handles = [layer.register_forward_hook(lambda m, i, o, n=n: hook(n, m, i, o)) for n, layer in enumerate(model)]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *sample_shape), dtype=torch.float32))
    finally:
        for handle in handles:
            handle.remove()
    return [LayerProfile(flops[n], shapes[n], sum(p.numel() for p in layer.parameters()))
            for n, layer in enumerate(model)]


def cut_points(model: nn.Sequential, sample_shape: tuple[int, ...], stages: int) -> list[int]:
    """The `stages - 1` layer indices where the model is cut (stage s holds layers [cut[s-1], cut[s])).

    Chosen to minimise the most expensive stage (a pipeline runs at the pace of its slowest stage),
    then the activation sizes at the cuts (what crosses the network). Every stage holds parameters:
    a stage of only ReLUs or reshapes would cost a worker and a network hop for nothing."""
    layers = profile(model, sample_shape)
    n = len(layers)
    separable = sum(1 for layer in layers if layer.params)
    if stages < 1 or stages > separable:
        raise JobSpecError(f"protections.split_stages: the model has {separable} layers with parameters, "
                           f"so it can be split into 1 to {separable} stages, not {stages}")
    prefix = [0]
    params = [0]
    for layer in layers:
        prefix.append(prefix[-1] + layer.flops)
        params.append(params[-1] + layer.params)
    # best[s][j]: (bottleneck, cut activation total, cuts) for layers [0, j) in s stages
    best: list[dict[int, tuple[int, int, list[int]]]] = [{0: (0, 0, [])}]
    for s in range(1, stages + 1):
        row: dict[int, tuple[int, int, list[int]]] = {}
        for j in range(1, n + 1):
            for i, (bottleneck, comm, cuts) in best[s - 1].items():
                if i >= j or params[j] == params[i]:
                    continue
                cost = (max(bottleneck, prefix[j] - prefix[i]), comm + (layers[i - 1].out_numel if i else 0))
                if j not in row or cost < row[j][:2]:
                    row[j] = (*cost, [*cuts, i] if i else cuts)
        best.append(row)
    return best[stages][n][2]


class Stage:
    """One stage: a slice of the model's layers (keys as in the full model) and its own optimiser.

    `forward` keeps each micro-batch's autograd graph until its `backward`; parameter gradients add
    up over the micro-batches of a batch, and `step` applies them once."""

    def __init__(self, layers: nn.Sequential, spec: TrainingSpec, index: int, last: bool) -> None:
        deterministic(spec.threads)
        self.layers = layers
        self.index = index
        self.last = last
        self.optimizer = make_optimizer(layers, spec)
        self._graphs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.loss = 0.0  # the last stage's loss of the current batch (its share of the mean)

    @classmethod
    def from_model(cls, model: nn.Sequential, start: int, end: int, spec: TrainingSpec, index: int) -> Stage:
        """A copy of layers [start, end) of `model`, so its initial weights are the unsplit model's."""
        layers = copy.deepcopy(model[start:end])
        if not isinstance(layers, nn.Sequential):
            raise TypeError(f"layers {start}:{end} of the model are not a slice of an nn.Sequential")
        return cls(layers, spec, index, last=end == len(model))

    def forward(self, x: Array, mb_id: int = 0) -> Array:
        self.layers.train()
        inputs = torch.from_numpy(x)
        if self.index > 0:  # the gradient w.r.t. an activation goes back to the previous stage
            inputs.requires_grad_(True)
        out = self.layers(inputs)
        self._graphs[mb_id] = (inputs, out)
        return np.ascontiguousarray(out.detach().numpy())

    def backward(self, mb_id: int, grad_out: Array | None, y: Array | None, total: int) -> Array | None:
        """The last stage starts from the labels (cross-entropy summed over the micro-batch, divided
        by the batch size `total`; the plain mean when the micro-batch is the whole batch, so that
        one micro-batch is bitwise the unsplit loop); earlier stages start from `grad_out`.
        Returns the gradient w.r.t. this stage's input, None for the first stage."""
        inputs, out = self._graphs.pop(mb_id)
        if self.last:
            if y is None:
                raise ValueError("the last stage needs the labels")
            labels = torch.from_numpy(y)
            if len(y) == total:
                loss = F.cross_entropy(out, labels)
            else:
                loss = F.cross_entropy(out, labels, reduction="sum") / total
            loss.backward()  # type: ignore[no-untyped-call]
            self.loss += float(loss.detach())
        else:
            if grad_out is None:
                raise ValueError("a stage before the last needs the gradient of its output")
            out.backward(torch.from_numpy(grad_out))  # type: ignore[no-untyped-call]
        if self.index == 0 or inputs.grad is None:
            return None
        return np.ascontiguousarray(inputs.grad.numpy())

    def step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.layers.state_dict())

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.layers.parameters())

    def snapshot(self) -> bytes:
        return pack_state(self.layers.state_dict(), self.optimizer.state_dict())

    def load(self, blob: bytes) -> None:
        load_state(self.layers, self.optimizer, blob)


def build_stages(spec: JobSpec, feature_shape: tuple[int, ...], n_classes: int) -> list[Stage]:
    """The job's model (built from its seed, as an unsplit replica would be) cut into its stages."""
    deterministic(spec.training.threads)
    model = build_model(spec.model, feature_shape, n_classes, spec.training.seed)
    bounds = [0, *cut_points(model, feature_shape, spec.protections.split_stages), len(model)]
    return [Stage.from_model(model, a, b, spec.training, s) for s, (a, b) in enumerate(itertools.pairwise(bounds))]


def cut_bytes_per_sample(stages: Sequence[Stage], sample_shape: tuple[int, ...]) -> list[int]:
    """What one sample's activation weighs at each cut (its gradient weighs the same)."""
    sizes = []
    with torch.no_grad():
        x = torch.zeros((1, *sample_shape), dtype=torch.float32)
        for stage in stages[:-1]:
            x = stage.layers(x)
            sizes.append(x[0].numel() * x.element_size())
    return sizes


def backward_order(parts: int) -> range:
    """The order of a batch's micro-batches in every earlier stage's backwards: 0 first, as they came
    forward. The last stage's gradient for micro-batch 0 is ready first, so the first stage can start
    its backwards while the last is still busy with later ones (last first would leave it idle until the
    last micro-batch is through: 1.71 -> 0.92 of the link floor in bench/paper_table.py --netns). The
    order of the float32 additions is part of what a split job computes, so the stage workers
    (`split_exec`), the local reference (`split_train_steps`) and the evidence replay all take it here."""
    return range(parts)


def split_train_steps(stages: Sequence[Stage], xs: Sequence[Array], ys: Sequence[Array],
                      micro_batches: int) -> dict[str, Any]:
    """One optimiser step per batch, GPipe-style, in the order the stage workers run it (`split_exec`):
    micro-batches go forward in turn, the last stage doing each one's backward right after its forward;
    then the earlier stages' backwards, stage by stage in reverse, micro-batches in `backward_order`.

    `comm_bytes` counts the arrays that actually crossed cuts; `comm_bytes_expected` is what the
    cut activations and their gradients weigh, computed from the shapes alone."""
    if micro_batches < 1:
        raise JobSpecError(f"micro_batches must be at least 1, not {micro_batches}")
    if not xs:
        return {"losses": [], "comm_bytes": 0, "comm_bytes_expected": 0}
    per_sample = sum(cut_bytes_per_sample(stages, tuple(xs[0].shape[1:])))
    losses: list[float] = []
    comm = expected = 0
    for x, y in zip(xs, ys, strict=True):
        total = len(y)
        parts = [(a, b) for a, b in zip(np.array_split(x, micro_batches), np.array_split(y, micro_batches),
                                        strict=True) if len(b)]
        stages[-1].loss = 0.0
        last_grads: list[Array | None] = []
        for mb, (xm, ym) in enumerate(parts):
            act = xm
            for stage in stages[:-1]:
                act = stage.forward(act, mb)
                comm += act.nbytes
            stages[-1].forward(act, mb)
            last_grads.append(stages[-1].backward(mb, None, ym, total))
            comm += last_grads[-1].nbytes if last_grads[-1] is not None else 0
        for mb in backward_order(len(parts)):
            grad = last_grads[mb]
            for stage in reversed(stages[:-1]):
                grad = stage.backward(mb, grad, None, total)
                if grad is not None:
                    comm += grad.nbytes
        for stage in stages:
            stage.step()
        losses.append(stages[-1].loss)
        expected += 2 * total * per_sample
    return {"losses": losses, "comm_bytes": comm, "comm_bytes_expected": expected}


def merge(stages: Sequence[Stage]) -> dict[str, torch.Tensor]:
    """The full model's state dict (keys as in the unsplit `nn.Sequential`) from the stages' parts."""
    merged: dict[str, torch.Tensor] = {}
    for stage in stages:
        for key, tensor in stage.state_dict().items():
            if key in merged:
                raise ValueError(f"two stages hold {key!r}")
            merged[key] = tensor.detach().clone()
    return merged
