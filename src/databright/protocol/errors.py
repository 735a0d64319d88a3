"""Errors of the worker protocol: a message that does not decode, check or verify."""

from __future__ import annotations

from databright.errors import DataBrightError


class ProtocolError(DataBrightError):
    """A message broke the protocol: wrong kind, dtype, shape, length, a non-finite value, a bad signature."""

    exit_code = 8
