"""Amounts as people type them and as contracts hold them.

Shares are 18-decimal tokens and ether is 10**18 wei; people write ``12.5`` shares or
``0.1`` ether. Decimal arithmetic keeps ``0.1`` exact, and more than 18 decimals is refused
rather than silently rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from databright.errors import ConfigError

UNIT = 10**18


def parse_amount(text: str | int | float | Decimal, what: str = "amount") -> int:
    """``"12.5"`` → 12.5 * 10**18 base units; refuses negatives, junk and dust."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise ConfigError(f"{what} must be a number, not {text!r}") from exc
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{what} must be a non-negative number, not {text!r}")
    scaled = value * UNIT
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{what} {text!r} has more than 18 decimals")
    return int(scaled)


def format_amount(base_units: int, places: int = 4) -> str:
    """10**18 → ``"1"``; keeps up to `places` decimals, dropping trailing zeros."""
    value = Decimal(base_units) / UNIT
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
