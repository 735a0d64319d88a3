"""The per-test-point core of exact KNN-Shapley: one sort, one reversed cumulative sum, one scatter.

Jia et al. (VLDB 2019) show that for one test point, with the training points sorted nearest first
(a_1 … a_N) and m_i = 1[y_{a_i} = y_test], the exact Shapley values of the KNN utility obey

    s_{a_N} = m_N / max(K, N)
    s_{a_i} = s_{a_{i+1}} + (m_i - m_{i+1}) / max(K, i)        (1/max(K, i) = (1/K)·min(K, i)/i)

(the paper writes m_N / N, which assumes N ≥ K; max(K, N) is the same there and stays exact when K > N,
where the utility is additive and every value is m_i / K). That is a reversed cumulative sum of
increments, so after the sort the whole recursion is three vectorised passes, with no Python loop over N.

Why the sort is a packed-key ``np.sort`` rather than ``np.argsort(kind="stable")``: the stable argsort
(timsort on float64) costs about 135 ms per million points here, the SIMD quicksort of ``np.sort`` on
uint64 about 9 ms, and the sort is the O(N log N) part that dominates. Each key is therefore one uint64:

    [ squared distance: top bits of its float64 pattern | training index | label-match bit ]

A non-negative float64 orders like its bit pattern read as an unsigned integer, the index makes every key
unique (so an unstable sort is deterministic and breaks ties by the lower index, as the utility is
defined), and the label bit rides along so that no gather of labels through the permutation is needed.
The low (index + label) bits of the pattern are overwritten — idx_bits + 1 of the 52-bit mantissa, 21 at
N = 10^6 — so two distances that agree in the kept bits are ordered by index instead of by value. Those
runs are found afterwards (adjacent keys whose kept bits agree: ~300 per million for 64 random features)
and re-sorted by the exact float64 distance, then index: the final order is exactly "ascending float64
distance, ties to the lower training index" — the same as a stable argsort would give (tested bit for bit).

Everything else — the recursion as three passes, the scatter — runs in place in per-thread buffers. At
N = 10^6 one test point costs ~30 ms on one core here: ~9 ms sort, ~7 ms scatter, the rest linear passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from databright.valuation.errors import ValuationError

_ONE = np.uint64(1)


@dataclass(frozen=True)
class SortPlan:
    """Everything about the key layout and the recursion that depends only on N and K, built once per fit."""

    n: int
    idx_bits: int
    keep_mask: np.uint64  # clears the low (idx_bits + 1) bits of the distance pattern
    idx_mask: np.uint64
    base: NDArray[np.uint64]  # training index << 1; with the label bit OR-ed in, the low part of every key
    recip: NDArray[np.float64]  # 1 / max(K, i) for i = 1 … N

    @classmethod
    def build(cls, n: int, k: int) -> SortPlan:
        idx_bits = max(1, (n - 1).bit_length())
        if idx_bits > 40:
            raise ValuationError(f"{n} training points: at most 2**40 fit the 64-bit sort key")
        low = idx_bits + 1
        keep = np.uint64(((1 << 64) - 1) ^ ((1 << low) - 1))
        base = np.arange(n, dtype=np.uint64) << _ONE
        # 1.0 / max(K, i) is the correctly rounded reciprocal, so (±1) * recip equals (±1) / max(K, i) bit for bit:
        # the values match a reference that divides (pyDVL does) exactly, not just to rounding.
        recip = 1.0 / np.maximum(float(k), np.arange(1, n + 1, dtype=np.float64))
        return cls(n, idx_bits, keep, np.uint64((1 << idx_bits) - 1), base, recip)

    def tails(self, match: NDArray[np.bool_], out: NDArray[np.uint64] | None = None) -> NDArray[np.uint64]:
        """The low key bits for one test label: ``index << 1 | 1[y_train == y_test]``.

        They depend only on the test point's label, so a caller with few classes builds them once per class.
        """
        return np.bitwise_or(self.base, match, out=out)


@dataclass
class Workspace:
    """Scratch buffers of one worker thread, allocated once per fit.

    Fresh 8 MB temporaries per test point each cost a round of page faults (the allocator hands large blocks
    back to the OS): with them the per-point work measured ~1.5x slower. ``acc`` holds this worker's running
    sum of per-test-point values, so workers never write to shared memory.
    """

    n: int
    key: NDArray[np.uint64] = field(init=False)
    scratch: NDArray[np.uint64] = field(init=False)
    inc: NDArray[np.float64] = field(init=False)
    spread: NDArray[np.float64] = field(init=False)
    flags: NDArray[np.bool_] = field(init=False)
    match: NDArray[np.bool_] = field(init=False)  # for callers building `tails` per test point
    tails: NDArray[np.uint64] = field(init=False)
    acc: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.key = np.empty(self.n, dtype=np.uint64)
        self.scratch = np.empty(self.n, dtype=np.uint64)
        self.inc = np.empty(self.n, dtype=np.float64)
        self.spread = np.empty(self.n, dtype=np.float64)
        self.flags = np.empty(self.n, dtype=np.bool_)
        self.match = np.empty(self.n, dtype=np.bool_)
        self.tails = np.empty(self.n, dtype=np.uint64)
        self.acc = np.zeros(self.n, dtype=np.float64)


def finish_distances(row: NDArray[np.float64], train_norms: NDArray[np.float64], test_norm: float) -> None:
    """Turns ``-2 x_train·x_test`` into the squared distance ``(‖x‖² - 2x·q) + ‖q‖²`` in place, clamped at 0.

    Clamping matters for the key (a negative float's pattern does not sort as a number) and is also the
    honest reading: a tiny negative is rounding noise of a (near-)duplicate of the test point, whose true
    distance is 0, and equal zeros then tie-break by index like any other tie.
    """
    np.add(row, train_norms, out=row)
    np.add(row, test_norm, out=row)
    np.maximum(row, 0.0, out=row)


def accumulate_test_point(dist: NDArray[np.float64], tails: NDArray[np.uint64], plan: SortPlan, ws: Workspace) -> None:
    """Adds one test point's exact KNN-Shapley values of all N training points into ``ws.acc``.

    ``dist`` is the clamped float64 squared distance of each training point (training order) and ``tails``
    is ``plan.tails(y_train == y_test)``. O(N log N) for the sort, O(N) for the rest.
    """
    key, scratch, inc = ws.key, ws.scratch, ws.inc
    np.bitwise_and(dist.view(np.uint64), plan.keep_mask, out=key)
    np.bitwise_or(key, tails, out=key)
    key.sort()
    _order_near_ties(key, dist, plan, ws)

    # m_i in sorted order is the low bit; increments (m_i - m_{i+1}) / max(K, i), last one m_N / max(K, N).
    np.bitwise_and(key, _ONE, out=scratch)
    m = scratch.view(np.int64)
    np.subtract(m[:-1], m[1:], out=inc[:-1], casting="unsafe")
    np.multiply(inc[:-1], plan.recip[:-1], out=inc[:-1])
    inc[-1] = float(m[-1]) * plan.recip[-1]
    backwards = inc[::-1]
    np.cumsum(backwards, out=backwards)  # s_i = Σ_{j ≥ i} increment_j, added from the farthest point inwards

    np.right_shift(key, _ONE, out=scratch)
    np.bitwise_and(scratch, plan.idx_mask, out=scratch)
    # spread[a_i] = s_i, then one sequential add. The permutation makes this a plain scatter, and it measured
    # faster than np.add.at (~25%) or np.put (~40%), which are the alternatives.
    ws.spread[scratch.view(np.int64)] = inc
    np.add(ws.acc, ws.spread, out=ws.acc)


def _order_near_ties(key: NDArray[np.uint64], dist: NDArray[np.float64], plan: SortPlan, ws: Workspace) -> None:
    """Re-sorts the runs of keys whose kept distance bits are equal by (exact distance, index).

    Within such a run the sort has already ordered the keys by index, which is right wherever the exact
    distances are equal too (ties) — the common case with integer or categorical features, where runs can
    span most of N. So only runs holding an adjacent pair whose exact distances are out of order are
    re-sorted, and data with nothing but exact ties costs one gather instead of a sort of the runs.
    """
    low = plan.idx_bits + 1
    xor = ws.scratch[:-1]
    same = ws.flags[:-1]
    np.bitwise_xor(key[1:], key[:-1], out=xor)
    np.less(xor, np.uint64(1 << low), out=same)  # equal high bits <=> the XOR has nothing at or above bit `low`
    if not same.any():
        return
    pos = np.flatnonzero(same)  # key[p] and key[p + 1] share their kept bits
    d_here = dist[((key[pos] >> _ONE) & plan.idx_mask).astype(np.intp)]
    d_next = dist[((key[pos + 1] >> _ONE) & plan.idx_mask).astype(np.intp)]
    bad = d_here > d_next
    if not bad.any():
        return
    run = np.cumsum(np.diff(pos, prepend=-2) != 1)  # consecutive positions form one run
    pos = pos[np.isin(run, run[bad])]
    members = np.union1d(pos, pos + 1)
    sub = key[members]
    idx = ((sub >> _ONE) & plan.idx_mask).astype(np.intp)
    # The truncated distance is a monotone function of the exact one, so sorting by (truncated, exact, index)
    # keeps every element inside its own run and orders the run exactly.
    order = np.lexsort((idx, dist[idx], sub >> np.uint64(low)))
    key[members] = sub[order]
