"""Exact KNN-Shapley data valuation: what each training point is worth to a K-nearest-neighbour classifier.

Reference: R. Jia, D. Dao, B. Wang, F. A. Hubis, N. M. Gürel, B. Li, C. Zhang, C. J. Spanos, D. Song,
"Efficient task-specific data valuation for nearest neighbor algorithms", PVLDB 12(11):1610-1623, 2019,
https://doi.org/10.14778/3342263.3342637 (Theorem 1).

Why this method for a data market: for the KNN utility the *exact* Shapley value costs one sort per test
point — O(N log N) instead of the O(2^N) of the definition or the noisy Monte-Carlo estimates needed for
other models — so payouts are reproducible to the last bit and need no convergence tuning.

The utility, for one test point (x, y) and a subset S of the training set, is
    U(S) = (1/K) · Σ_{j ≤ min(K, |S|)} 1[y_{a_j(S)} = y],
with a_j(S) the j-th nearest point of S by squared Euclidean distance; among equal distances the lower
training index counts as nearer (a deterministic tie-break is part of the utility: the exact Shapley value
of a KNN with ties depends on it). Values are averaged over the test points. See `_kernel` for the
recursion and the sort, and the estimator's docstring for memory and parallelism.
"""

from __future__ import annotations

import math
import operator
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from databright.valuation._kernel import SortPlan, Workspace, accumulate_test_point, finish_distances
from databright.valuation.errors import ValuationError
from databright.valuation.result import ValuationResult

_BLOCK_BYTES = 1 << 28  # distance block (test rows x N float64) when chunk_size is not given: 256 MiB
_MAX_AUTO_ROWS = 256
# Below this N a row's numpy calls are so short (~10 us) that the GIL hand-offs between them eat the gain of a
# second thread: measured on 2 cores, 1 thread vs 2 at N = 10k: 34 vs 27 M pairs/s; 30k: 33 vs 34; 100k: 27 vs 36.
_MIN_THREADED_N = 1 << 15
_TAILS_BYTES = 1 << 28  # per-class key tails are precomputed while they fit in this (10 classes at N = 10^6: 80 MB)


class KNNShapley:
    """Exact Shapley values of every training point for a K-nearest-neighbour classifier.

    Usage, scikit-learn style (the test set is a ``fit`` argument because the values are defined
    relative to it — there is nothing to learn from the training set alone)::

        result = KNNShapley(k=5).fit(x_train, y_train, x_test, y_test).result_
        result.values                        # per training point, float64
        result.group_values(contributor_ids) # {contributor: summed value}
        result.ranking()                     # most valuable first

    Complexity: O(T·N·d) for the distances (one BLAS matrix product per block of test points) plus
    O(T·N log N) for the sorts, with T test points, N training points and d features; memory
    O(N·d + chunk_size·N + n_jobs·N) — the T x N distance matrix is never held whole.

    Args:
        k: the K of the classifier (≥ 1; K > N is allowed and exact: every value is then 1[match]/K).
        chunk_size: test points per distance block; each block costs chunk_size x N x 8 bytes. ``None``
            picks as many as fit in 256 MiB (at most 256), since larger blocks make the matrix product
            faster per row.
        n_jobs: worker threads finishing the rows of a block in parallel, used from N = 32768 training points
            up (below that one thread is as fast). Threads, not processes: numpy releases the GIL in the sort,
            the ufuncs and the scatter, so threads share the training matrix for free; measured at N = 10^6
            on 2 cores, 2 threads ran 1.5x one thread and 2 forked processes were no faster than 2 threads.
            Rows go to workers round-robin, so the result does not depend on timing; it can differ from
            another n_jobs in the last bits (summation order).
    """

    algorithm = "knn_shapley"

    def __init__(self, k: int = 5, chunk_size: int | None = None, n_jobs: int = 2) -> None:
        self.k = _positive_int("k", k)
        self.chunk_size = None if chunk_size is None else _positive_int("chunk_size", chunk_size)
        self.n_jobs = _positive_int("n_jobs", n_jobs)
        self._result: ValuationResult | None = None

    def __repr__(self) -> str:
        return f"KNNShapley(k={self.k}, chunk_size={self.chunk_size}, n_jobs={self.n_jobs})"

    @property
    def result_(self) -> ValuationResult:
        """The values of the last ``fit``."""
        if self._result is None:
            raise ValuationError("KNNShapley has no result yet: call fit(x_train, y_train, x_test, y_test) first")
        return self._result

    def fit(self, x_train: ArrayLike, y_train: ArrayLike, x_test: ArrayLike, y_test: ArrayLike) -> Self:
        """Values every training point against the test (validation) set; the result is in ``result_``.

        ``x_*`` are (points x features) real arrays, ``y_*`` one label per point (ints, strings, …; a test
        label never seen in training simply matches nothing). Raises `ValuationError` for empty inputs,
        mismatched shapes, non-finite features or a bad ``k``/``chunk_size``/``n_jobs``.
        """
        k = _positive_int("k", self.k)  # attributes may have been reassigned since __init__
        chunk = None if self.chunk_size is None else _positive_int("chunk_size", self.chunk_size)
        n_jobs = _positive_int("n_jobs", self.n_jobs)
        xtr, train_max = _features("x_train", x_train)
        ytr = _labels("y_train", y_train, xtr.shape[0], "x_train")
        xte, test_max = _features("x_test", x_test)
        yte = _labels("y_test", y_test, xte.shape[0], "x_test")
        _same_width(xtr, xte, train_max + test_max)
        codes_train, codes_test = _encode_labels(ytr, yte)
        values = _knn_shapley_values(xtr, codes_train, xte, codes_test, k=k, chunk_size=chunk, n_jobs=n_jobs)
        self._result = ValuationResult(values, self.algorithm, k, int(xte.shape[0]))
        return self


def _knn_shapley_values(
    x_train: NDArray[np.float64],
    codes_train: NDArray[np.int64],
    x_test: NDArray[np.float64],
    codes_test: NDArray[np.int64],
    *,
    k: int,
    chunk_size: int | None = None,
    n_jobs: int = 2,
) -> NDArray[np.float64]:
    """The computation behind `KNNShapley.fit`, on already checked inputs (integer label codes).

    Blocks of test points are processed one after another: the main thread computes the block's
    ``-2 x_test·x_trainᵀ`` with one BLAS call (which itself uses all cores), then the workers finish
    the rows of the block — distances, sort, recursion, scatter — in parallel, each into its own
    accumulator. The product is ~10% of the time at N = 10^6, which bounds what overlapping the two phases
    could gain; they are kept apart so that BLAS threads and workers never compete for the cores.
    """
    n, t = int(x_train.shape[0]), int(x_test.shape[0])
    block = _block_rows(n, t, chunk_size)
    workers = 1 if n < _MIN_THREADED_N else max(1, min(n_jobs, t))
    plan = SortPlan.build(n, k)
    train_norms = np.einsum("ij,ij->i", x_train, x_train)
    test_norms = np.einsum("ij,ij->i", x_test, x_test)
    spaces = [Workspace(n) for _ in range(workers)]
    classes = np.unique(codes_test)
    tails_of: dict[int, NDArray[np.uint64]] = {}
    if classes.size * n * 8 <= _TAILS_BYTES:  # else each test point builds its own (two more passes over N)
        tails_of = {int(c): plan.tails(codes_train == c) for c in classes}
    gram = np.empty((block, n), dtype=np.float64)
    train_t = x_train.T

    def finish_rows(worker: int, rows: NDArray[np.float64], start: int) -> None:
        ws = spaces[worker]
        for r in range(worker, rows.shape[0], workers):
            finish_distances(rows[r], train_norms, float(test_norms[start + r]))
            code = int(codes_test[start + r])
            tails = tails_of.get(code)
            if tails is None:
                np.equal(codes_train, code, out=ws.match)
                tails = plan.tails(ws.match, out=ws.tails)
            accumulate_test_point(rows[r], tails, plan, ws)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="knn-shapley") if workers > 1 else None
    try:
        for start in range(0, t, block):
            rows = gram[: min(block, t - start)]
            np.matmul(x_test[start : start + rows.shape[0]] * -2.0, train_t, out=rows)  # scaling by -2 is exact
            if pool is None:
                finish_rows(0, rows, start)
            else:
                for future in [pool.submit(finish_rows, j, rows, start) for j in range(workers)]:
                    future.result()  # re-raises a worker's exception here
    finally:
        if pool is not None:
            pool.shutdown()
    total = spaces[0].acc
    for ws in spaces[1:]:
        np.add(total, ws.acc, out=total)
    return total / t


def _block_rows(n_train: int, n_test: int, chunk_size: int | None) -> int:
    """Test points per distance block: the caller's chunk_size, or what fits the default memory budget."""
    if chunk_size is not None:
        return min(chunk_size, n_test)
    return max(1, min(n_test, _MAX_AUTO_ROWS, _BLOCK_BYTES // (8 * n_train)))


# Input checks, each failing with a `ValuationError` that names the argument.
# Why so strict: a valuation decides payouts, so a silently broadcast label vector, a NaN feature (which
# sorts as "farthest" and quietly changes every value) or a transposed test matrix must stop the run with a
# message, not produce plausible-looking numbers. The checks are O(size of the input) and allocate nothing
# of that size: finiteness is read off ``max``/``min`` (NaN and ±inf propagate into them).


def _positive_int(name: str, value: object) -> int:
    """An int ≥ 1 (numpy integers accepted; bools refused, since ``k=True`` is a typo, not K = 1)."""
    if isinstance(value, bool | np.bool_):
        raise ValuationError(f"{name} must be a positive integer, got {value!r}")
    try:
        as_int = operator.index(value)  # type: ignore[arg-type]  # anything else raises TypeError below
    except TypeError:
        raise ValuationError(f"{name} must be a positive integer, got {value!r}") from None
    if as_int < 1:
        raise ValuationError(f"{name} must be >= 1, got {as_int}")
    return as_int


def _features(name: str, x: ArrayLike) -> tuple[NDArray[np.float64], float]:
    """A non-empty 2-D float64 array of finite numbers, C-ordered (rows are points), and its max |value|."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValuationError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValuationError(f"{name} must be 2-D (points x features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValuationError(f"{name} is empty (shape {arr.shape}); need at least one point and one feature")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    hi, lo = float(out.max()), float(out.min())
    if not (math.isfinite(hi) and math.isfinite(lo)):
        raise ValuationError(f"{name} has non-finite values (NaN or ±inf); distances would be meaningless")
    return out, max(abs(hi), abs(lo))


def _labels(name: str, y: ArrayLike, n_points: int, x_name: str) -> NDArray[np.generic]:
    """A 1-D label array with one label per row of ``x_name``; no NaN (it equals nothing, not even itself)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValuationError(f"{name} must be 1-D (one label per point), got shape {arr.shape}")
    if arr.shape[0] != n_points:
        raise ValuationError(f"{name} has {arr.shape[0]} labels but {x_name} has {n_points} rows")
    if arr.dtype.kind == "f" and bool(np.isnan(arr).any()):
        raise ValuationError(f"{name} contains NaN labels")
    return arr


def _same_width(x_train: NDArray[np.float64], x_test: NDArray[np.float64], bound: float) -> None:
    """Train and test points must live in the same feature space, and their distances must fit a float64."""
    if x_train.shape[1] != x_test.shape[1]:
        raise ValuationError(
            f"x_train has {x_train.shape[1]} features but x_test has {x_test.shape[1]}; they must match"
        )
    # bound = max|train| + max|test|: ‖a - b‖², ‖a‖², 2a·b and ‖b‖² are all ≤ d·bound², so nothing overflows.
    if x_train.shape[1] * bound * bound * 4.0 > np.finfo(np.float64).max / 4.0:
        raise ValuationError(f"feature magnitudes up to {bound:.3g} would overflow squared distances; rescale them")


def _encode_labels(
    y_train: NDArray[np.generic], y_test: NDArray[np.generic]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Integer class codes shared by train and test; a test label absent from training gets -1 (matches nothing).

    Comparing small ints is what the per-test-point kernel does N times per test point, so strings or
    objects are turned into codes once here.
    """
    numeric = [y.dtype.kind in "biuf" for y in (y_train, y_test)]
    if numeric[0] != numeric[1]:  # 1 vs "1": every test label would silently match nothing
        kinds = ["numbers" if n else f"{y.dtype} values" for n, y in zip(numeric, (y_train, y_test), strict=True)]
        raise ValuationError(f"y_train holds {kinds[0]} but y_test holds {kinds[1]}; labels must be of one kind")
    try:
        classes, codes_train = np.unique(y_train, return_inverse=True)
        pos = np.searchsorted(classes, y_test)
        pos = np.minimum(pos, classes.shape[0] - 1)
        found = classes[pos] == y_test
    except (TypeError, ValueError) as exc:
        raise ValuationError(f"y_train and y_test labels cannot be compared: {exc}") from exc
    codes_test = np.where(np.asarray(found, dtype=bool), pos, -1).astype(np.int64)
    return codes_train.reshape(-1).astype(np.int64), codes_test
