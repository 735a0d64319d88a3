"""The per-test-point kernel against a plain reference: stable argsort plus the paper's recursion as a loop.

The kernel sorts packed (truncated distance | index | label) keys and then repairs runs whose truncated
distances collide; these tests feed it distances built to collide (values a few ulps apart, exact ties,
zeros) so that the repair path runs, and require the result to be *bit-identical* to the reference, which
follows the paper literally (division by max(K, i), additions from the farthest point inwards).
"""

from __future__ import annotations

import numpy as np
import pytest

from databright.valuation._kernel import SortPlan, Workspace, accumulate_test_point, finish_distances


def reference(dist: np.ndarray, match: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(dist, kind="stable")  # ascending distance, ties to the lower index
    n = len(dist)
    s = np.zeros(n)
    s[order[-1]] = float(match[order[-1]]) / max(k, n)
    for i in range(n - 1, 0, -1):  # i is the 1-based rank of order[i - 1]
        s[order[i - 1]] = s[order[i]] + (int(match[order[i - 1]]) - int(match[order[i]])) / max(k, i)
    return s


def kernel(dist: np.ndarray, match: np.ndarray, k: int) -> np.ndarray:
    plan, ws = SortPlan.build(len(dist), k), Workspace(len(dist))
    accumulate_test_point(dist.copy(), plan.tails(match), plan, ws)
    return ws.acc


def near_ties(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distances 1 + j ulp for a few thousand j (exact and near ties everywhere), plus zeros and far points."""
    dist = 1.0 + rng.integers(0, 3 * n // 4, n) * np.finfo(np.float64).eps
    dist[rng.choice(n, n // 20, replace=False)] = 0.0
    dist[rng.choice(n, n // 20, replace=False)] = rng.uniform(1e3, 1e6, n // 20)
    return dist


@pytest.mark.parametrize("k", [1, 3, 10, 5000])
@pytest.mark.parametrize("n", [4000, 4096, 4097])
def test_bit_identical_to_reference_with_colliding_keys(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    dist, match = near_ties(rng, n), rng.random(n) < 0.4
    assert np.array_equal(kernel(dist, match, k), reference(dist, match, k))


def test_mostly_exact_ties() -> None:
    """Integer-like distances: runs of equal kept bits span most of N but need no repair (already by index)."""
    rng = np.random.default_rng(2)
    n = 20_000
    dist, match = rng.integers(0, 10, n).astype(float), rng.random(n) < 0.3
    assert np.array_equal(kernel(dist, match, 5), reference(dist, match, 5))


@pytest.mark.parametrize("n", [1, 2, 3, 17])
def test_tiny_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    dist, match = rng.integers(0, 3, n).astype(float), rng.random(n) < 0.5
    for k in (1, 2, 5):
        assert np.array_equal(kernel(dist, match, k), reference(dist, match, k))


def test_collisions_actually_occur() -> None:
    """Guard for the test above: with these distances the truncated keys do collide (the repair is exercised)."""
    rng = np.random.default_rng(0)
    n = 4000
    plan = SortPlan.build(n, 3)
    dist = near_ties(rng, n)
    truncated = dist.view(np.uint64) & plan.keep_mask
    collisions = np.unique(truncated).size < np.unique(dist).size
    assert collisions


def test_accumulates_over_calls() -> None:
    rng = np.random.default_rng(1)
    n = 300
    plan, ws = SortPlan.build(n, 4), Workspace(n)
    expected = np.zeros(n)
    for _ in range(3):
        dist, match = rng.random(n), rng.random(n) < 0.5
        accumulate_test_point(dist.copy(), plan.tails(match), plan, ws)
        expected += reference(dist, match, 4)
    np.testing.assert_allclose(ws.acc, expected, rtol=0, atol=1e-15)


def test_finish_distances_clamps_rounding_negatives() -> None:
    """(|x|^2 - 2x.q) + |q|^2 for x ~ q can round below zero; the key needs (and the geometry says) +0."""
    row = np.array([-2.0000000000000004, -2.0, -6.0])  # -2 x.q, as the matrix product leaves it
    finish_distances(row, np.array([1.0, 1.0, 9.0]), 1.0)
    assert row.tolist() == [0.0, 0.0, 4.0]
    assert not np.signbit(row).any()
    zeros = np.array([-0.0])  # x = q = 0: a negative zero would sort after every other distance
    finish_distances(zeros, np.array([0.0]), 0.0)
    assert not np.signbit(zeros).any()
