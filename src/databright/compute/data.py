"""A registry dataset made ready for training: features as float32, labels as class indices,
a held-out part for evaluation, and for every sample the registry entry it came from.

Everything here is a pure function of the registry's contents and the job's seed, so the coordinator
after a restart, a test's plain PyTorch loop and a benchmark all see the same arrays in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from databright.cid import cid_from_digest
from databright.compute.errors import ComputeError
from databright.datasets import CanonicalDataset, DatasetSpec, load_canonical
from databright.market import Market
from databright.market.data import request_spec
from databright.store.client import StoreClient

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class TrainingData:
    """`x_train`/`y_train` are what workers train on; `x_eval`/`y_eval` stay with the coordinator.
    `entry_of_train` maps each training sample to its registry entry (for the report)."""

    feature_shape: tuple[int, ...]
    n_classes: int
    x_train: Array
    y_train: Array
    x_eval: Array
    y_eval: Array
    entry_of_train: Array
    entry_cids: tuple[str, ...]
    scale: float

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])


def prepare(parts: Sequence[CanonicalDataset], spec: DatasetSpec, eval_fraction: float, seed: int,
            cids: Sequence[str] | None = None) -> TrainingData:
    """Concatenates the entries in registry order and holds out `eval_fraction` of the samples.

    Features are divided by the largest absolute training value (one number, written in the report)
    so that models see inputs of order one whatever the dataset's units."""
    if not parts:
        raise ComputeError("the dataset has no accepted entries to train on")
    x = np.concatenate([p.x.reshape(p.n, *spec.feature_shape) for p in parts]).astype(np.float32)
    labels = {label: i for i, label in enumerate(spec.labels)}
    y_raw = np.concatenate([p.y for p in parts])
    unknown = set(np.unique(y_raw).tolist()) - set(labels)
    if unknown:
        raise ComputeError(f"the dataset holds labels outside its spec: {sorted(unknown)}")
    y = np.array([labels[int(v)] for v in y_raw], dtype=np.int64)
    entry = np.concatenate([np.full(p.n, i, dtype=np.int64) for i, p in enumerate(parts)])
    n = len(y)
    n_eval = max(1, round(eval_fraction * n))
    if n - n_eval < 1:
        raise ComputeError(f"{n} samples are too few to hold out {eval_fraction:.0%} and still train")
    perm = np.random.default_rng([seed, 0xE7A1]).permutation(n)
    eval_idx, train_idx = np.sort(perm[:n_eval]), np.sort(perm[n_eval:])
    peak = float(np.abs(x[train_idx]).max()) if len(train_idx) else 0.0
    scale = 1.0 / peak if peak > 0 else 1.0
    x *= np.float32(scale)
    return TrainingData(
        feature_shape=tuple(spec.feature_shape), n_classes=len(spec.labels),
        x_train=np.ascontiguousarray(x[train_idx]), y_train=y[train_idx],
        x_eval=np.ascontiguousarray(x[eval_idx]), y_eval=y[eval_idx],
        entry_of_train=entry[train_idx], entry_cids=tuple(cids or (f"entry-{i}" for i in range(len(parts)))),
        scale=scale,
    )


def load_registry(market: Market, store: StoreClient, database: str) -> tuple[DatasetSpec, list[str],
                                                                               list[CanonicalDataset]]:
    """The request's spec and every accepted entry, read from the store with the caller's right
    (the coordinator's), each checked against its CID by the store client."""
    spec = request_spec(market, store, database)
    cids = [cid_from_digest(e.cid_digest) for e in market.entries(database)]
    return spec, cids, [load_canonical(store.get_bytes(c), source=c) for c in cids]
