"""Errors of the computation market's off-chain side (jobs, workers, the coordinator)."""

from __future__ import annotations

from databright.training.errors import ComputeError, JobSpecError

__all__ = ["AttestationError", "ComputeError", "JobSpecError", "WorkerFault"]


class WorkerFault(ComputeError):
    """A worker died, hung past its timeout or returned something unusable; its unit is redone."""

    exit_code = 7


class AttestationError(ComputeError):
    """A coordinator's attestation could not be produced or verified."""

    exit_code = 6
