"""Datasets: a request's spec, reading contributions, validating them, one canonical form."""

from databright.datasets.canonical import CanonicalDataset, canonicalize, load_canonical, row_hashes
from databright.datasets.errors import DatasetError
from databright.datasets.spec import DatasetSpec
from databright.datasets.validate import validate_file

__all__ = [
    "CanonicalDataset",
    "DatasetError",
    "DatasetSpec",
    "canonicalize",
    "load_canonical",
    "row_hashes",
    "validate_file",
]
