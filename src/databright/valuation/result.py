"""What a valuation produces: one value per training point, and the views the market needs of it.

The market pays contributions, not points, so the result keeps per-point values (the unit the Shapley
axioms hold for, each point being one player) and derives a group's value as the sum of its points' values,
as the issue asks. That sum keeps efficiency (groups still add up to the total) but it is not the Shapley
value of a different game whose players are whole groups; computing that would need the group utility.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from databright.valuation.errors import ValuationError


@dataclass(frozen=True)
class ValuationResult:
    """Per-training-point values, averaged over the test (validation) points.

    ``values[i]`` is the value of training point ``i`` (in the order it was given); it is read-only so that a
    result handed around the market cannot be edited in place. ``algorithm`` and ``k`` record what produced
    it, ``n_test`` how many test points were averaged.
    """

    values: NDArray[np.float64]
    algorithm: str
    k: int
    n_test: int
    _ranking: NDArray[np.intp] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)  # always a private copy
        if values.ndim != 1:
            raise ValuationError(f"values must be one-dimensional, got shape {values.shape}")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def total(self) -> float:
        """Sum of all values: by the efficiency axiom, U(all training points) - U(∅) averaged over test points."""
        return float(self.values.sum())

    def group_values(self, groups: ArrayLike) -> dict[Hashable, float]:
        """Sums the values of the points of each group, e.g. each contribution of a dataset.

        ``groups[i]`` is the group id (any sortable, hashable scalar: int, str, …) of training point ``i``.
        Returns ``{group id: summed value}`` with ids as Python scalars, in ascending id order.
        """
        ids = np.asarray(groups)
        if ids.ndim != 1 or ids.shape[0] != len(self):
            raise ValuationError(
                f"groups must have one id per training point: expected shape ({len(self)},), got {ids.shape}"
            )
        try:
            uniques, inverse = np.unique(ids, return_inverse=True)
        except TypeError as exc:
            raise ValuationError(f"group ids must be mutually comparable: {exc}") from exc
        sums = np.bincount(inverse.reshape(-1), weights=self.values, minlength=uniques.shape[0])
        return {_scalar(gid): float(total) for gid, total in zip(uniques.tolist(), sums.tolist(), strict=True)}

    def ranking(self) -> NDArray[np.intp]:
        """Training indices from the most to the least valuable; equal values keep the lower index first.

        The tie rule is fixed (a stable sort) so that two runs on the same data rank identically, which
        matters when the ranking decides who gets paid first or which points are pruned.
        """
        if self._ranking is None:
            order = np.argsort(-self.values, kind="stable")
            order.setflags(write=False)
            object.__setattr__(self, "_ranking", order)
        assert self._ranking is not None
        return self._ranking

    def group_ranking(self, groups: ArrayLike) -> list[Hashable]:
        """Group ids from the most to the least valuable (ties: ascending id)."""
        totals = self.group_values(groups)
        return sorted(totals, key=lambda gid: -totals[gid])


def _scalar(value: object) -> Hashable:
    """numpy scalars become Python ones, so that ``result.group_values(ids)["alice"]`` just works."""
    item = getattr(value, "item", None)
    out = item() if callable(item) else value
    if not isinstance(out, Hashable):
        raise ValuationError(f"group id {out!r} is not hashable")
    return out
