"""The computation family's root, shared by the coordinator's side, the worker and the training
arithmetic both run (`compute/errors.py` adds the coordinator's own kinds)."""

from __future__ import annotations

from databright.errors import DataBrightError


class ComputeError(DataBrightError):
    """A job that cannot be specified, scheduled, run or settled as asked."""

    exit_code = 2


class JobSpecError(ComputeError):
    """A job spec that does not validate: the message names the field and what was expected."""
