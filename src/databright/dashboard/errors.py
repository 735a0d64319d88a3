"""The dashboard's errors: what a visitor asked for is malformed (400) or does not exist (404).

They are DataBrightErrors like every other family, so `databright serve` and the pages share one
way of telling a visitor's mistake from a fault of the chain or the store: the app maps
`BadInput` (and any ConfigError/CidError) to 400, `NotFound` to 404 and a ChainError to 503, each
with the error's own one-line message, on the HTML page as in the JSON answer.
"""

from __future__ import annotations

from databright.errors import ConfigError, DataBrightError


class BadInput(ConfigError):
    """A path that cannot name anything: a malformed address, a job id that is not a number."""


class NotFound(DataBrightError):
    """A well-formed reference to something the chain does not hold (job #99, an unknown request)."""

    exit_code = 2
