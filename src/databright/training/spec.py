"""A training job's spec: what the buyer pays for, stored in the store and named on-chain by its CID.

The spec must serialise canonically (sorted keys, no whitespace) so that one spec has one CID,
and it must carry everything the coordinator needs to reproduce the job bit for bit: the model,
the optimiser, the seed and the thread count. The protections block is part of the spec from
the start (the buyer chooses and pays for them); its defaults switch every protection off.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from web3 import Web3

from databright.training.errors import JobSpecError

ModelKind = Literal["mlp", "cnn", "vgg"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSpec(_Frozen):
    """A model from the zoo. `hidden` sizes the MLP and the classifier heads; `channels` the CNN's
    two convolutions; `depth`/`width` the VGG-style net (blocks, channels of the first block)."""

    kind: ModelKind = "cnn"
    hidden: tuple[int, ...] = (64,)
    channels: tuple[int, int] = (16, 32)
    depth: int = Field(default=2, ge=1, le=5)
    width: int = Field(default=16, ge=1, le=512)
    convs_per_block: int = Field(default=2, ge=1, le=4)

    @field_validator("hidden")
    @classmethod
    def _positive(cls, hidden: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 for h in hidden):
            raise ValueError("hidden sizes must be at least 1")
        return hidden


class TrainingSpec(_Frozen):
    epochs: int = Field(default=3, ge=1, le=10_000)
    batch_size: int = Field(default=64, ge=1, le=65_536)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(default=0.05, gt=0, le=10)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    seed: int = Field(default=0, ge=0, lt=2**63)
    threads: int = Field(default=1, ge=1, le=256)


class Tolerance(_Frozen):
    """Results agree when every element is within `abs_diff` or `rel_diff` of the other (for
    workers on different hardware; off by default because it lets a small deviation through)."""

    abs_diff: float = Field(default=0.0, ge=0)
    rel_diff: float = Field(default=0.0, ge=0)


class ProtectionsSpec(_Frozen):
    """The paper's protections and spot checks. Defaults: none (plain training)."""

    redundancy: Literal[1, 3] = 1
    compare_every: int = Field(default=1, ge=1)
    tolerance: Tolerance | None = None
    data_cap: float | None = Field(default=None, gt=0, le=1)
    split_stages: int = Field(default=1, ge=1, le=8)
    micro_batches: int = Field(default=1, ge=1, le=256)
    spot_check_rate: float = Field(default=0.0, ge=0, le=1)

    @property
    def any(self) -> bool:
        return (self.redundancy != 1 or self.data_cap is not None or self.split_stages != 1
                or self.spot_check_rate > 0 or self.tolerance is not None)


class ValuationSpec(_Frozen):
    """How the job measures the value of each contributor's data after training (see
    databright.compute.job_value): the K of the exact KNN-Shapley values."""

    k: int = Field(default=5, ge=1, le=1000)


class JobSpec(_Frozen):
    """`valuation` measures what each contributor's data was worth to this job, which pays the
    dataset's value share of the data fee (`null` turns it off: the whole fee is then dividends).
    `workers` is the data-parallel width of one group; `unit_steps` is how many optimiser steps
    make one unit of work (the grain of checkpoints, of fault recovery and of payment); the held-out
    accuracy is measured at most `eval_points` times, evenly over the epochs and always at the end."""

    version: Literal[1] = 1
    dataset: str
    model: ModelSpec = ModelSpec()
    training: TrainingSpec = TrainingSpec()
    eval_fraction: float = Field(default=0.2, gt=0, le=0.5)
    workers: int = Field(default=1, ge=1, le=16)
    unit_steps: int = Field(default=25, ge=1, le=100_000)
    eval_points: int = Field(default=20, ge=1, le=10_000)
    worker_timeout: float = Field(default=60.0, gt=0)
    buyer_key: str
    protections: ProtectionsSpec = ProtectionsSpec()
    valuation: ValuationSpec | None = ValuationSpec()

    @field_validator("dataset")
    @classmethod
    def _address(cls, value: str) -> str:
        if not Web3.is_address(value):
            raise ValueError(f"{value!r} is not an address")
        return str(Web3.to_checksum_address(value))

    @field_validator("buyer_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        from coincurve import PublicKey

        try:
            return PublicKey(bytes.fromhex(value.removeprefix("0x"))).format(compressed=True).hex()
        except ValueError as exc:
            raise ValueError("buyer_key must be a secp256k1 public key in hex") from exc

    @model_validator(mode="after")
    def _batch_fits_workers(self) -> JobSpec:
        if self.training.batch_size < self.workers:
            raise ValueError("batch_size must be at least the number of workers")
        return self

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str, source: str = "job spec") -> JobSpec:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise JobSpecError(f"{source} is not a valid job spec: {_problems(exc)}") from exc

    @classmethod
    def build(cls, source: str = "job spec", **fields: object) -> JobSpec:
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise JobSpecError(f"{source} is not a valid job spec: {_problems(exc)}") from exc


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
