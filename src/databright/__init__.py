"""DataBright: an open data-and-compute market where data and hardware earn dividends."""

from databright.errors import DataBrightError

__all__ = ["DataBrightError"]
__version__ = "0.1.0"
