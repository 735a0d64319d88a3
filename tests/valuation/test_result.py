"""ValuationResult: group sums, rankings with their tie rule, and immutability."""

from __future__ import annotations

import numpy as np
import pytest

from databright.valuation import KNNShapley, ValuationResult


@pytest.fixture(name="result")
def result_fixture() -> ValuationResult:
    rng = np.random.default_rng(4)
    x_train, y_train = rng.normal(size=(200, 5)), rng.integers(0, 3, 200)
    x_test, y_test = rng.normal(size=(30, 5)), rng.integers(0, 3, 30)
    return KNNShapley(k=4).fit(x_train, y_train, x_test, y_test).result_


def test_metadata(result: ValuationResult) -> None:
    assert (len(result), result.k, result.n_test, result.algorithm) == (200, 4, 30, "knn_shapley")
    assert result.values.dtype == np.float64 and result.values.shape == (200,)


def test_group_values_are_sums_of_point_values(result: ValuationResult) -> None:
    groups = np.random.default_rng(0).integers(0, 7, 200)
    totals = result.group_values(groups)
    assert list(totals) == sorted(set(groups.tolist()))
    for gid, total in totals.items():
        assert total == pytest.approx(result.values[groups == gid].sum(), abs=1e-15)
    assert sum(totals.values()) == pytest.approx(result.total, abs=1e-13)
    assert all(type(gid) is int for gid in totals)  # Python scalars, not numpy ones


def test_group_values_with_string_ids(result: ValuationResult) -> None:
    owners = ["alice" if i % 3 == 0 else "bob" if i % 3 == 1 else "carol" for i in range(200)]
    totals = result.group_values(owners)
    assert set(totals) == {"alice", "bob", "carol"}
    assert totals["alice"] == pytest.approx(result.values[0::3].sum(), abs=1e-15)


def test_one_group_gets_the_total(result: ValuationResult) -> None:
    assert result.group_values(np.zeros(200, dtype=int)) == {0: pytest.approx(result.total, abs=1e-15)}


def test_ranking_orders_by_value_then_index() -> None:
    result = ValuationResult(np.array([0.1, 0.3, 0.1, -0.2, 0.3]), "test", k=1, n_test=1)
    assert result.ranking().tolist() == [1, 4, 0, 2, 3]
    assert result.group_ranking(["a", "b", "a", "c", "d"]) == ["b", "d", "a", "c"]


def test_ranking_is_a_permutation(result: ValuationResult) -> None:
    ranking = result.ranking()
    assert sorted(ranking.tolist()) == list(range(200))
    assert np.all(np.diff(result.values[ranking]) <= 0)


def test_values_are_read_only_copies() -> None:
    raw = np.array([1.0, 2.0])
    result = ValuationResult(raw, "test", k=1, n_test=1)
    raw[0] = 99.0
    assert result.values[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        result.values[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        result.ranking()[0] = 1


def test_values_follow_the_training_points_when_they_are_permuted() -> None:
    """Without distance ties the order of the training set is irrelevant: permuting it permutes the values."""
    rng = np.random.default_rng(9)
    x_train, y_train = rng.normal(size=(300, 4)), rng.integers(0, 2, 300)
    x_test, y_test = rng.normal(size=(10, 4)), rng.integers(0, 2, 10)
    perm = rng.permutation(300)
    values = KNNShapley(k=3).fit(x_train, y_train, x_test, y_test).result_.values
    permuted = KNNShapley(k=3).fit(x_train[perm], y_train[perm], x_test, y_test).result_.values
    np.testing.assert_allclose(permuted, values[perm], rtol=0, atol=1e-15)
