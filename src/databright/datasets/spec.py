"""A data request's spec: what every contribution must look like.

The spec is JSON, stored in the store and named on-chain by its CID, so its serialisation
must be canonical: `to_bytes` sorts keys and drops whitespace, so one spec has one CID.
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from databright.errors import ConfigError

Format = Literal[".npz", ".csv", ".parquet"]
DType = Literal["float32", "float64", "uint8", "int32", "int64"]


class DatasetSpec(BaseModel):
    """Feature shape and dtype, label set, accepted formats and size limits of contributions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    task: Literal["classification"] = "classification"
    feature_shape: tuple[int, ...] = Field(min_length=1)
    dtype: DType = "float64"
    labels: tuple[int, ...] = Field(min_length=2)
    formats: tuple[Format, ...] = (".npz", ".csv", ".parquet")
    min_samples: int = Field(default=1, ge=1)
    max_bytes: int = Field(default=512 * 2**20, ge=1)
    validation_cid: str | None = None

    @field_validator("feature_shape")
    @classmethod
    def _positive_dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in shape):
            raise ValueError("every feature dimension must be at least 1")
        return shape

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be distinct")
        return labels

    @property
    def n_features(self) -> int:
        """Features per sample once flattened (the column count of CSV and Parquet files)."""
        return math.prod(self.feature_shape)

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str, source: str = "spec") -> DatasetSpec:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{source} is not a valid spec: {problems}") from exc
