"""KNNShapley against the definition: exact Shapley values by enumerating every subset of a tiny training set.

The reference below shares no code with the implementation: it computes the KNN utility of each subset
directly (nearest first by squared distance, ties to the lower training index, top min(K, |S|) labels)
and applies the Shapley formula with exact rational arithmetic, so a mismatch can only be the
implementation's. Ties are produced with small integer features, where every float computation of a
distance is exact, so "equal distance" means the same thing to both sides.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

from databright.valuation import KNNShapley, knn_shapley

KS = [1, 2, 3, 5, 12]  # 12 > N: the utility is additive, every value is 1[match] / K


def utility(order: list[int], labels: np.ndarray, y: object, k: int, subset: frozenset[int]) -> Fraction:
    """U(S) = (1/K) * #matches among the min(K, |S|) points of S that come first in `order`."""
    nearest = [i for i in order if i in subset][:k]
    return Fraction(sum(1 for i in nearest if labels[i] == y), k)


def brute_force_shapley(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                        k: int) -> tuple[list[Fraction], Fraction]:
    """Exact Shapley values (averaged over test points) and the averaged U(all) - U(empty)."""
    n = len(x_train)
    weights = [Fraction(math.factorial(s) * math.factorial(n - s - 1), math.factorial(n)) for s in range(n)]
    totals = [Fraction(0)] * n
    grand = Fraction(0)
    for x, y in zip(x_test, y_test, strict=True):
        dist = [float(((x_train[i] - x) ** 2).sum()) for i in range(n)]
        order = sorted(range(n), key=lambda i: (dist[i], i))
        cache: dict[frozenset[int], Fraction] = {}

        def u(s: frozenset[int], order: list[int] = order, y: object = y, cache: dict = cache) -> Fraction:
            if s not in cache:
                cache[s] = utility(order, y_train, y, k, s)
            return cache[s]

        for i in range(n):
            others = [j for j in range(n) if j != i]
            for size in range(n):
                for combo in combinations(others, size):
                    s = frozenset(combo)
                    totals[i] += weights[size] * (u(s | {i}) - u(s))
        grand += u(frozenset(range(n))) - u(frozenset())
    t = len(x_test)
    return [v / t for v in totals], grand / t


def continuous_case(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n, t = int(rng.integers(6, 9)), 4
    return rng.normal(size=(n, 3)), rng.integers(0, 3, n), rng.normal(size=(t, 3)), rng.integers(0, 3, t)


def tied_case(seed: int) -> tuple[np.ndarray, ...]:
    """Integer grid features with duplicates: many exactly equal distances, and test points on training points."""
    rng = np.random.default_rng(seed)
    n, t = 8, 4
    x_train = rng.integers(0, 3, size=(n, 2)).astype(float)
    x_train[3] = x_train[1]  # an exact duplicate, possibly with another label
    x_test = rng.integers(0, 3, size=(t, 2)).astype(float)
    x_test[0] = x_train[5]  # distance 0 to a training point
    return x_train, rng.integers(0, 2, n), x_test, rng.integers(0, 2, t)


CASES = [(continuous_case, s) for s in range(3)] + [(tied_case, s) for s in range(4)]


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize(("make", "seed"), CASES, ids=[f"{m.__name__}-{s}" for m, s in CASES])
def test_equals_brute_force_shapley(make, seed, k) -> None:
    x_train, y_train, x_test, y_test = make(seed)
    expected, _ = brute_force_shapley(x_train, y_train, x_test, y_test, k)
    got = KNNShapley(k=k).fit(x_train, y_train, x_test, y_test).result_.values
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [float(v) for v in expected], rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize(("make", "seed"), CASES[:4], ids=[f"{m.__name__}-{s}" for m, s in CASES[:4]])
def test_efficiency_axiom(make, seed, k) -> None:
    """Sum of values = U(all) - U(empty), averaged over test points."""
    x_train, y_train, x_test, y_test = make(seed)
    _, grand = brute_force_shapley(x_train, y_train, x_test, y_test, k)
    result = KNNShapley(k=k).fit(x_train, y_train, x_test, y_test).result_
    assert abs(result.total - float(grand)) <= 1e-12


def test_efficiency_on_larger_data() -> None:
    """Efficiency without enumeration: U(all) is just the mean over test points of (matches among K nearest)/K."""
    rng = np.random.default_rng(7)
    x_train, y_train = rng.integers(0, 4, size=(3000, 5)).astype(float), rng.integers(0, 3, 3000)
    x_test, y_test = rng.integers(0, 4, size=(40, 5)).astype(float), rng.integers(0, 3, 40)
    k = 7
    d = ((x_test[:, None, :] - x_train[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    u_all = (y_train[nearest] == y_test[:, None]).sum(axis=1).mean() / k
    result = KNNShapley(k=k, n_jobs=2, chunk_size=9).fit(x_train, y_train, x_test, y_test).result_
    assert abs(result.total - u_all) <= 1e-12


def test_k_above_n_is_additive() -> None:
    """With K >= N every point is always among the K nearest: its value is exactly 1[label matches] / K."""
    rng = np.random.default_rng(3)
    x_train, y_train = rng.normal(size=(6, 2)), np.array([0, 1, 1, 0, 2, 1])
    x_test, y_test = rng.normal(size=(3, 2)), np.array([1, 1, 0])
    values = KNNShapley(k=10).fit(x_train, y_train, x_test, y_test).result_.values
    expected = (y_train[None, :] == y_test[:, None]).mean(axis=0) / 10
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-15)


def test_string_labels_and_unseen_test_label() -> None:
    x_train = np.array([[0.0], [1.0], [2.0], [3.0]])
    y_train = np.array(["cat", "dog", "cat", "dog"])
    x_test = np.array([[0.1], [2.9]])
    expected, _ = brute_force_shapley(x_train, y_train, x_test, np.array(["cat", "bird"]), 2)
    got = KNNShapley(k=2).fit(x_train, y_train, x_test, ["cat", "bird"]).result_.values
    np.testing.assert_allclose(got, [float(v) for v in expected], rtol=0, atol=1e-12)


def test_threads_and_chunks_do_not_change_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same values (to summation-order rounding) for any n_jobs and chunk_size; identical for the same settings."""
    monkeypatch.setattr(knn_shapley, "_MIN_THREADED_N", 1)  # threads at any size, so that small data tests them
    rng = np.random.default_rng(11)
    x_train, y_train = rng.normal(size=(4000, 8)), rng.integers(0, 4, 4000)
    x_test, y_test = rng.normal(size=(45, 8)), rng.integers(0, 4, 45)
    base = KNNShapley(k=5, n_jobs=1).fit(x_train, y_train, x_test, y_test).result_.values
    for n_jobs, chunk in [(2, None), (2, 7), (3, 1), (1, 44)]:
        other = KNNShapley(k=5, n_jobs=n_jobs, chunk_size=chunk).fit(x_train, y_train, x_test, y_test).result_
        np.testing.assert_allclose(other.values, base, rtol=0, atol=1e-15)
    again = KNNShapley(k=5, n_jobs=2, chunk_size=7).fit(x_train, y_train, x_test, y_test).result_.values
    first = KNNShapley(k=5, n_jobs=2, chunk_size=7).fit(x_train, y_train, x_test, y_test).result_.values
    assert np.array_equal(again, first)


def test_threaded_at_real_size() -> None:
    """Above the size where threads start, without patching: 2 workers agree with 1."""
    rng = np.random.default_rng(12)
    n = knn_shapley._MIN_THREADED_N + 5
    x_train, y_train = rng.normal(size=(n, 4)), rng.integers(0, 3, n)
    x_test, y_test = rng.normal(size=(9, 4)), rng.integers(0, 3, 9)
    one = KNNShapley(k=3, n_jobs=1).fit(x_train, y_train, x_test, y_test).result_.values
    two = KNNShapley(k=3, n_jobs=2, chunk_size=4).fit(x_train, y_train, x_test, y_test).result_.values
    np.testing.assert_allclose(two, one, rtol=0, atol=1e-15)
