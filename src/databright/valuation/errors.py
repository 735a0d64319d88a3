"""The valuation family of errors.

Everything the valuation module refuses on purpose (empty or mis-shaped inputs, a bad K, features that are
not finite numbers) is a `ValuationError`, so that the CLI can show the message and exit with code 2, like
the other "your input is wrong" families, instead of printing a numpy traceback.
"""

from __future__ import annotations

from databright.errors import DataBrightError


class ValuationError(DataBrightError):
    """Inputs that cannot be valued: the message names the argument and what was wrong with it."""

    exit_code = 2
