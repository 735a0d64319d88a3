"""Data valuation: how much each training point (and each contribution) is worth to a model.

The market pays data contributors in proportion to value, so the values must be exact and reproducible:
`KNNShapley` computes the exact Shapley values of a K-nearest-neighbour classifier (Jia et al., VLDB 2019)
in O(N log N) per validation point; `ValuationResult` holds them and sums them per contribution.
"""

from databright.valuation.errors import ValuationError
from databright.valuation.knn_shapley import KNNShapley
from databright.valuation.result import ValuationResult

__all__ = ["KNNShapley", "ValuationError", "ValuationResult"]
