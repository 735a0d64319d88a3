"""One replica of a job's model and optimiser, and the arithmetic every replica must do the same way.

Reproducibility is the contract here: a worker, the coordinator and a plain PyTorch loop given the
same spec, seed and data order must produce the same bytes. That needs a fixed thread count,
`torch.use_deterministic_algorithms`, the same initial weights (built under the seed) and the same
order of floating-point operations. A single worker therefore takes ordinary steps on the mean loss
of each batch, exactly like a plain loop. Several data-parallel workers each return the gradient of
their part's *summed* loss divided by the whole batch size; the coordinator adds the parts in a
fixed order, so the result equals the single-worker gradient up to the order of the additions
(float32 rounding, a few ulps per step), not bitwise.

State crosses process boundaries as safetensors bytes (`snapshot`/`load`, `protocol.state`) and is
compared by `state_hash`, which hashes every parameter, buffer and optimiser tensor in a fixed order.
The hash is BLAKE3 over the tensors' own memory (no copy): a TMR worker hashes its whole state after
every step, and for a 0.63 M-parameter model with momentum that is 0.9 ms against sha-256's 4.4 ms
(a 1.7 % cost on every step of a 260 ms step; bench/paper_table.py's `state_hash_ms`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import blake3
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from databright.protocol.state import pack_state, unpack_state
from databright.training.models import build_model
from databright.training.spec import JobSpec, TrainingSpec

Array = np.ndarray[Any, Any]


def deterministic(threads: int) -> None:
    """Puts this process's PyTorch into the reproducible mode every replica must share."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def make_optimizer(model: nn.Module, spec: TrainingSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=spec.lr)
    return torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum)


def batch_order(n: int, batch_size: int, epoch: int, seed: int) -> list[Array]:
    """The batches of one epoch: a permutation drawn from (seed, epoch), cut into batch_size pieces
    (the last one may be smaller). Everyone who trains the job uses exactly this order."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def load_state(model: nn.Module, optimizer: torch.optim.Optimizer, blob: bytes) -> None:
    state = unpack_state(blob)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])


class Replica:
    """A model and its optimiser that can be saved to, and loaded from, bytes."""

    def __init__(self, spec: JobSpec, feature_shape: tuple[int, ...], n_classes: int) -> None:
        deterministic(spec.training.threads)
        self.spec = spec
        self.model = build_model(spec.model, feature_shape, n_classes, spec.training.seed)
        self.optimizer = make_optimizer(self.model, spec.training)

    # ------------------------------------------------------------ state

    def snapshot(self) -> bytes:
        return pack_state(self.model.state_dict(), self.optimizer.state_dict())

    def load(self, blob: bytes) -> None:
        load_state(self.model, self.optimizer, blob)

    def state_hash(self) -> str:
        return state_hash(self.model, self.optimizer)

    def model_bytes(self) -> bytes:
        """The trained model as the buyer receives it: `torch.load`-able state dict, no optimiser."""
        buf = io.BytesIO()
        torch.save(self.model.state_dict(), buf)
        return buf.getvalue()

    # ------------------------------------------------------------ work

    def train_steps(self, xs: Sequence[Array], ys: Sequence[Array]) -> list[float]:
        """Ordinary optimiser steps on the mean loss of each batch; the losses, as floats."""
        self.model.train()
        losses = []
        for x, y in zip(xs, ys, strict=True):
            self.optimizer.zero_grad()
            loss = F.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(y))
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            losses.append(float(loss.detach()))
        return losses

    def gradient(self, x: Array, y: Array, batch_total: int) -> tuple[list[Array], float]:
        """This part's share of a batch's gradient: d(sum of its losses / batch_total)/dw, and the
        summed loss. Adding the shares of every part of the batch gives the batch's mean-loss gradient."""
        self.model.train()
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(y), reduction="sum")
        (loss / batch_total).backward()  # type: ignore[no-untyped-call]
        grads = [p.grad.detach().numpy().copy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
                 for p in self.model.parameters()]
        return grads, float(loss.detach())

    def apply(self, grads: Sequence[Array]) -> None:
        """One optimiser step with the given (summed) gradient."""
        for p, g in zip(self.model.parameters(), grads, strict=True):
            p.grad = torch.from_numpy(np.ascontiguousarray(g, dtype=np.float32))
        self.optimizer.step()

    @torch.no_grad()
    def predict(self, x: Array, batch: int = 1024) -> Array:
        self.model.eval()
        out = [self.model(torch.from_numpy(x[i : i + batch])).argmax(1).numpy() for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def accuracy(self, x: Array, y: Array) -> float:
        return float((self.predict(x) == y).mean()) if len(y) else 0.0


def state_hash(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> str:
    """BLAKE3 over every tensor of the model (and optimiser) in a fixed order, with names and shapes."""
    h = blake3.blake3()
    for name, tensor in model.state_dict().items():
        _feed(h, name, tensor)
    if optimizer is not None:
        for index, slot in sorted(optimizer.state_dict()["state"].items()):
            for key in sorted(slot):
                value = slot[key]
                _feed(h, f"opt.{index}.{key}", value if isinstance(value, torch.Tensor) else torch.tensor(value))
    return h.hexdigest()


def packed_state_hash(blob: bytes) -> str:
    """`state_hash` of a packed state (a replica's or a stage's), without a model to load it into:
    the coordinator checks workers' states with it from several threads at once."""
    state = unpack_state(blob)
    h = blake3.blake3()
    for name, tensor in state["model"].items():
        _feed(h, name, tensor)
    for index, slot in sorted(state["optimizer"]["state"].items()):
        for key in sorted(slot):
            value = slot[key]
            _feed(h, f"opt.{index}.{key}", value if isinstance(value, torch.Tensor) else torch.tensor(value))
    return h.hexdigest()


def arrays_hash(arrays: Sequence[Array] | Array) -> str:
    """BLAKE3 of arrays' dtypes, shapes and bytes: how messages between workers are compared."""
    h = blake3.blake3()
    for a in [arrays] if isinstance(arrays, np.ndarray) else arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}:{a.shape};".encode())
        h.update(_raw(a))
    return h.hexdigest()


def _feed(h: Any, name: str, tensor: torch.Tensor) -> None:
    t = tensor.detach().contiguous().cpu()
    h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
    h.update(_raw(t.numpy()))


def _raw(a: Array) -> memoryview:
    """An array's memory as bytes, without copying a C-contiguous one (0-d arrays included)."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8).data


def sum_gradients(parts: Sequence[Sequence[Array]]) -> list[Array]:
    """Adds per-worker gradient shares in the given (fixed) order, so every run adds alike."""
    total = [np.array(g, dtype=np.float32, copy=True) for g in parts[0]]
    for part in parts[1:]:
        for acc, g in zip(total, part, strict=True):
            acc += g
    return total
