"""Errors of the computation market's off-chain side (jobs, workers, the coordinator)."""

from __future__ import annotations

from databright.errors import DataBrightError


class ComputeError(DataBrightError):
    """A job that cannot be specified, scheduled, run or settled as asked."""

    exit_code = 2


class JobSpecError(ComputeError):
    """A job spec that does not validate: the message names the field and what was expected."""


class WorkerFault(ComputeError):
    """A worker died, hung past its timeout or returned something unusable; its unit is redone."""

    exit_code = 7


class AttestationError(ComputeError):
    """A coordinator's attestation could not be produced or verified."""

    exit_code = 6
