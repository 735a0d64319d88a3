"""Judging one contribution: schema, duplicates, label noise and value, then a vote.

Value is the contribution's exact KNN-Shapley value (`databright.valuation`) on the request's
validation set, computed over the accepted registry together with the candidate, so a point is
worth what it adds next to the data already bought. The values of all points sum to the KNN
classifier's validation accuracy (Shapley efficiency), which makes "accuracy points" a natural
currency: the policy below pays `shares_per_accuracy` shares for the whole accuracy the
contribution brings (its value of 0.05 is 5 points of accuracy).

Label noise is the share of the candidate's points whose value is negative: a mislabelled point
pulls its neighbours' predictions wrong, which is exactly what a negative KNN-Shapley value says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from databright.datasets import CanonicalDataset, DatasetError, DatasetSpec
from databright.datasets.index import RowIndex
from databright.datasets.validate import validate_arrays
from databright.market.units import UNIT
from databright.valuation import KNNShapley


@dataclass(frozen=True)
class FairSharePolicy:
    """When the oracle votes yes; every threshold is a setting (`databright oracle run --help`)."""

    k: int = 5
    shares_per_accuracy: float = 100.0  # shares paid for a contribution worth the whole accuracy (1.0)
    max_duplicate_fraction: float = 0.05
    max_noise_fraction: float = 0.25
    min_value: float = 0.0

    def fair_shares(self, value: float) -> int:
        """Shares (base units) a contribution of this value deserves; never negative."""
        return max(0, int(value * self.shares_per_accuracy * UNIT))


@dataclass(frozen=True)
class Assessment:
    samples: int
    schema_ok: bool
    schema_problem: str
    duplicate_fraction: float
    noise_fraction: float
    value: float
    fair_shares: int
    requested_shares: int
    support: bool
    reason: str

    def report(self) -> dict[str, Any]:
        return asdict(self)


def assess(candidate: CanonicalDataset, requested_shares: int, spec: DatasetSpec, validation: CanonicalDataset,
           accepted: list[CanonicalDataset], policy: FairSharePolicy) -> Assessment:
    """Runs every check; the reason names the first that failed, or the value that passed."""
    try:
        candidate = validate_arrays(candidate.x, candidate.y, spec, name="proposal data")
    except DatasetError as exc:
        return Assessment(candidate.n, False, str(exc), 0.0, 0.0, 0.0, 0, requested_shares, False, f"no: schema: {exc}")
    index = RowIndex()
    for i, entry in enumerate(accepted):
        index.add(f"entry-{i}", entry)
    duplicate = index.duplicate_fraction(candidate)
    pool_x = np.concatenate([e.x.reshape(e.n, -1) for e in accepted] + [candidate.x.reshape(candidate.n, -1)])
    pool_y = np.concatenate([e.y for e in accepted] + [candidate.y])
    values = KNNShapley(k=policy.k).fit(pool_x, pool_y, validation.x.reshape(validation.n, -1), validation.y)
    mine = values.result_.values[-candidate.n:]
    value, noise = float(mine.sum()), float((mine < 0).mean())
    fair = policy.fair_shares(value)
    scores = (f"value {value:.4f} (fair {fair / UNIT:.2f} shares, asked {requested_shares / UNIT:.2f}), "
              f"duplicates {duplicate:.0%}, label noise {noise:.0%}")
    failures = [
        (duplicate > policy.max_duplicate_fraction,
         f"duplicates {duplicate:.0%} > {policy.max_duplicate_fraction:.0%}"),
        (noise > policy.max_noise_fraction, f"label noise {noise:.0%} > {policy.max_noise_fraction:.0%}"),
        (value <= policy.min_value, f"value {value:.4f} <= {policy.min_value}"),
        (requested_shares > fair, f"asks {requested_shares / UNIT:.2f} shares, fair is {fair / UNIT:.2f}"),
    ]
    failed = [why for bad, why in failures if bad]
    reason = ("no: " + "; ".join(failed) if failed else "yes") + f" | {scores}"
    return Assessment(candidate.n, True, "", duplicate, noise, value, fair, requested_shares, not failed, reason)
