"""Every input the valuation refuses is refused with a ValuationError (exit code 2) that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from databright.errors import DataBrightError
from databright.valuation import KNNShapley, ValuationError

RNG = np.random.default_rng(0)
X_TRAIN, Y_TRAIN = RNG.normal(size=(10, 3)), RNG.integers(0, 2, 10)
X_TEST, Y_TEST = RNG.normal(size=(4, 3)), RNG.integers(0, 2, 4)


def fit(**changes: object) -> KNNShapley:
    args = {"x_train": X_TRAIN, "y_train": Y_TRAIN, "x_test": X_TEST, "y_test": Y_TEST} | changes
    return KNNShapley(k=3).fit(**args)  # type: ignore[arg-type]


def test_family() -> None:
    assert issubclass(ValuationError, DataBrightError)
    assert ValuationError.exit_code == 2


@pytest.mark.parametrize(("changes", "message"), [
    ({"x_train": np.empty((0, 3)), "y_train": np.empty(0)}, "x_train is empty"),
    ({"x_test": np.empty((0, 3)), "y_test": np.empty(0)}, "x_test is empty"),
    ({"x_train": np.empty((10, 0))}, "x_train is empty"),
    ({"y_train": Y_TRAIN[:-1]}, "y_train has 9 labels but x_train has 10 rows"),
    ({"y_test": np.append(Y_TEST, 1)}, "y_test has 5 labels but x_test has 4 rows"),
    ({"y_train": Y_TRAIN[:, None]}, "y_train must be 1-D"),
    ({"x_train": X_TRAIN[:, 0]}, "x_train must be 2-D"),
    ({"x_test": X_TEST[:, :2]}, "x_train has 3 features but x_test has 2"),
    ({"x_train": np.where(np.arange(30).reshape(10, 3) == 7, np.nan, X_TRAIN)}, "x_train has non-finite"),
    ({"x_test": np.where(np.arange(12).reshape(4, 3) == 0, np.inf, X_TEST)}, "x_test has non-finite"),
    ({"x_test": np.where(np.arange(12).reshape(4, 3) == 0, -np.inf, X_TEST)}, "x_test has non-finite"),
    ({"x_train": X_TRAIN.astype(str)}, "x_train must hold real numbers"),
    ({"x_train": X_TRAIN * 1e160}, "would overflow"),
    ({"y_train": np.where(np.arange(10) == 2, np.nan, 1.0)}, "y_train contains NaN"),
    ({"y_test": np.array(["0", "1", "0", "1"])}, "y_train holds numbers but y_test holds <U1 values"),
    ({"y_test": np.array([None, 1, 0, 1], dtype=object)}, "y_test holds object values"),
    ({"y_train": np.array([None, "a"] * 5, dtype=object), "y_test": np.array(["a"] * 4, dtype=object)},
     "labels cannot be compared"),
])
def test_bad_inputs(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValuationError, match=message):
        fit(**changes)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k must be >= 1"),
    ({"k": -3}, "k must be >= 1"),
    ({"k": 2.5}, "k must be a positive integer"),
    ({"k": True}, "k must be a positive integer"),
    ({"k": "5"}, "k must be a positive integer"),
    ({"chunk_size": 0}, "chunk_size must be >= 1"),
    ({"n_jobs": 0}, "n_jobs must be >= 1"),
])
def test_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValuationError, match=message):
        KNNShapley(**kwargs)  # type: ignore[arg-type]


def test_parameters_reassigned_after_init_are_checked_at_fit() -> None:
    estimator = KNNShapley(k=3)
    estimator.k = 0
    with pytest.raises(ValuationError, match="k must be >= 1"):
        estimator.fit(X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)


def test_numpy_integer_k_is_fine() -> None:
    assert KNNShapley(k=np.int64(2)).k == 2  # type: ignore[arg-type]


def test_result_before_fit() -> None:
    with pytest.raises(ValuationError, match="call fit"):
        _ = KNNShapley().result_


def test_failed_fit_keeps_previous_result() -> None:
    estimator = KNNShapley(k=2).fit(X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
    before = estimator.result_
    with pytest.raises(ValuationError):
        estimator.fit(X_TRAIN, Y_TRAIN, X_TEST[:, :2], Y_TEST)
    assert estimator.result_ is before


def test_group_values_length_mismatch() -> None:
    result = fit().result_
    with pytest.raises(ValuationError, match=r"one id per training point: expected shape \(10,\)"):
        result.group_values([0, 1, 2])
