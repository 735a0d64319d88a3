"""How numbers look on the pages: ether, shares, addresses, percentages, and what is absent.

Amounts are shown rounded (6 decimals of ether, 4 of a share) but every amount element carries
its exact value in `data-wei` / `data-units` and in its tooltip, so nothing is lost to rounding
and a test (or a curious visitor) can compare the page with the chain to the last wei. A value the
chain or a report does not give is an em dash, never a zero that could be mistaken for a reading.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, Undefined
from markupsafe import Markup, escape

from databright.dashboard import svg
from databright.market.units import format_amount

ABSENT = Markup('<span class="absent">—</span>')


def _is_absent(value: Any) -> bool:
    """None, empty, or a field the template asked for that the view does not have (a report's gap)."""
    return value is None or isinstance(value, Undefined) or (isinstance(value, str) and not value)


def eth(wei: Any, places: int = 6) -> Markup:
    if _is_absent(wei):
        return ABSENT
    return Markup(f'<span class="amount" data-wei="{int(wei)}" title="{int(wei)} wei">'
                  f'{format_amount(int(wei), places)}&nbsp;ETH</span>')


def shares(units: Any, places: int = 4) -> Markup:
    if _is_absent(units):
        return ABSENT
    return Markup(f'<span class="amount" data-units="{int(units)}" title="{int(units)} base units">'
                  f'{format_amount(int(units), places)}</span>')


def short(address: Any) -> Markup:
    """0x1234ab…cdef with the whole address in the tooltip (and in `data-address`)."""
    if _is_absent(address):
        return ABSENT
    a = escape(str(address))
    return Markup(f'<span class="addr" data-address="{a}" title="{a}">{a[:8]}…{a[-4:]}</span>')


def pct(fraction: Any, places: int = 1) -> Markup | str:
    if _is_absent(fraction) or isinstance(fraction, bool) or not isinstance(fraction, int | float):
        return ABSENT
    return f"{fraction * 100:.{places}f}%"


def bps(value: Any) -> Markup | str:
    return ABSENT if _is_absent(value) else f"{int(value) / 100:g}%"


def number(value: Any, places: int = 4) -> Markup | str:
    """Whole numbers with thousands separators, floats to `places` significant digits, else as text."""
    if _is_absent(value):
        return ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{places}g}"
    return str(value)


def plain(value: Any) -> Markup | str:
    """Any report value as short text: numbers formatted, lists and objects as compact JSON."""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 160 else text[:160] + "…"
    return number(value)


def kind_of(value: Any) -> str:
    """How the generic renderer draws a report field: a scalar, a table of rows, or a key/value table."""
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return "rows"
    if isinstance(value, dict):
        return "pairs"
    return "scalar"


def columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def accuracy_chart(curve: list[dict[str, Any]]) -> Markup:
    """Training and held-out accuracy by epoch (points missing a value are left out of their line)."""
    def points(key: str) -> list[tuple[float, float]]:
        return [(c["epoch"], c[key]) for c in curve if c.get("epoch") is not None and c.get(key) is not None]

    return svg.line_chart([("training", svg.PALETTE["train"], points("train_accuracy")),
                           ("held-out", svg.PALETTE["eval"], points("eval_accuracy"))], label="accuracy by epoch")


def install(env: Environment) -> None:
    env.filters.update(eth=eth, shares=shares, short=short, pct=pct, bps=bps, number=number, plain=plain,
                       kind_of=kind_of, columns=columns)
    env.globals.update(accuracy_chart=accuracy_chart, bar=svg.bar, stacked=svg.stacked, palette=svg.PALETTE)
