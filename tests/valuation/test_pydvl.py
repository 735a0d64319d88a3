"""KNNShapley against pyDVL 0.10's KNNShapleyValuation, an independent implementation of the same paper.

pyDVL ranks training points with scikit-learn's KNeighborsClassifier.kneighbors and runs the recursion in a
Python loop; on continuous random data no two distances are within rounding of each other, so both sort
identically and the values must agree to summation-order rounding. pyDVL is a test-only dependency: the
module is skipped where it is not installed.

pyDVL starts the recursion with 1[match]/N, which is only right for K <= N (for K > N it breaks the
efficiency axiom; see test_exact.test_k_above_n_is_additive), so the comparison stays at K <= N.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from databright.valuation import KNNShapley, knn_shapley

pytest.importorskip("pydvl")

with warnings.catch_warnings():  # pyDeprecate's FutureWarnings at import time are not ours to fix
    warnings.simplefilter("ignore")
    from pydvl.valuation.dataset import Dataset
    from pydvl.valuation.methods.knn_shapley import KNNShapleyValuation
from sklearn.neighbors import KNeighborsClassifier


def pydvl_values(x_train, y_train, x_test, y_test, k: int) -> np.ndarray:
    valuation = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=k), Dataset(x_test, y_test), progress=False)
    result = valuation.fit(Dataset(x_train, y_train)).result
    values = np.empty(len(x_train))
    values[np.asarray(result.indices)] = result.values  # by training index, whatever order pyDVL keeps
    return values


def medium(seed: int, n: int, t: int, d: int, classes: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)), rng.integers(0, classes, n), rng.normal(size=(t, d)),
            rng.integers(0, classes, t))


@pytest.mark.parametrize("k", [1, 5, 20])
def test_matches_pydvl_medium(k: int) -> None:
    data = medium(k, n=500, t=50, d=64, classes=3)
    ours = KNNShapley(k=k).fit(*data).result_.values
    np.testing.assert_allclose(ours, pydvl_values(*data, k), rtol=0, atol=1e-10)


def test_matches_pydvl_threaded_and_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The threaded path (forced at this size), with blocks that do not divide the test set."""
    monkeypatch.setattr(knn_shapley, "_MIN_THREADED_N", 1)
    data = medium(42, n=3000, t=61, d=16, classes=4)
    ours = KNNShapley(k=7, chunk_size=7, n_jobs=2).fit(*data).result_.values
    np.testing.assert_allclose(ours, pydvl_values(*data, 7), rtol=0, atol=1e-10)


def test_matches_pydvl_binary_many_features() -> None:
    data = medium(5, n=800, t=20, d=128, classes=2)
    ours = KNNShapley(k=3).fit(*data).result_.values
    np.testing.assert_allclose(ours, pydvl_values(*data, 3), rtol=0, atol=1e-10)
