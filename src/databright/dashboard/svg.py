"""Charts as inline SVG, drawn on the server: an accuracy curve, bars against a cap, stacked bars.

Why not a JavaScript chart library: the pages must work without a wallet, a CDN or a build step,
print and screenshot the same everywhere, and be testable by reading the HTML. Each function
returns markup (safe for Jinja) whose numbers are also in `<title>` tooltips, so what is drawn
can be checked as text.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = {"train": "#2f6fdb", "eval": "#e07b00", "loss": "#7a7a7a", "for": "#2e9d57", "against": "#d1453b",
           "cap": "#d1453b", "fill": "#2f6fdb", "muted": "#c9d3e0"}


def _f(x: float) -> str:
    return f"{x:.1f}"


def line_chart(series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]], *, y_min: float = 0.0,
               y_max: float = 1.0, percent: bool = True, x_label: str = "epoch", width: int = 640,
               height: int = 240, label: str = "chart") -> Markup:
    """Lines over a shared x axis; `series` is (name, colour, [(x, y), ...]). Empty series are skipped."""
    drawn = [(n, c, [(x, y) for x, y in pts]) for n, c, pts in series if pts]
    left, right, top, bottom = 48, 16, 14, 34
    w, h = width - left - right, height - top - bottom
    xs = [x for _, _, pts in drawn for x, _ in pts] or [0.0, 1.0]
    x_lo, x_hi = min(xs), max(xs)
    x_span = (x_hi - x_lo) or 1.0
    y_span = (y_max - y_min) or 1.0

    def px(x: float) -> float:
        return left + (x - x_lo) / x_span * w

    def py(y: float) -> float:
        return top + h - (min(max(y, y_min), y_max) - y_min) / y_span * h

    out = [f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):
        y = y_min + y_span * i / 4
        tick = f"{y * 100:.0f}%" if percent else f"{y:.3g}"
        out.append(f'<line class="grid" x1="{left}" x2="{left + w}" y1="{_f(py(y))}" y2="{_f(py(y))}"/>'
                   f'<text class="tick" x="{left - 6}" y="{_f(py(y) + 4)}" text-anchor="end">{tick}</text>')
    for x in sorted(set(xs)) if len(set(xs)) <= 12 else [x_lo, (x_lo + x_hi) / 2, x_hi]:
        out.append(f'<text class="tick" x="{_f(px(x))}" y="{top + h + 16}" text-anchor="middle">{x:g}</text>')
    out.append(f'<text class="axis" x="{left + w / 2:.0f}" y="{height - 2}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    for name, colour, pts in drawn:
        path = " ".join(f"{_f(px(x))},{_f(py(y))}" for x, y in pts)
        out.append(f'<polyline class="line" data-series="{escape(name)}" fill="none" stroke="{colour}" '
                   f'stroke-width="2" points="{path}"/>')
        for x, y in pts:
            value = f"{y * 100:.1f}%" if percent else f"{y:.4g}"
            out.append(f'<circle cx="{_f(px(x))}" cy="{_f(py(y))}" r="3" fill="{colour}">'
                       f'<title>{escape(name)} at {x_label} {x:g}: {value}</title></circle>')
    for i, (name, colour, _) in enumerate(drawn):
        lx = left + 10 + i * 150
        out.append(f'<rect x="{lx}" y="{top + 4}" width="12" height="4" fill="{colour}"/>'
                   f'<text class="legend" x="{lx + 16}" y="{top + 10}">{escape(name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def legend(parts: Sequence[tuple[str, int, str]]) -> Markup:
    """The key under a stacked bar: a colour swatch per part."""
    return Markup('<div class="legend-row">' + "".join(
        f'<i style="background:{escape(colour)}"></i>{escape(name)}' for name, _, colour in parts) + "</div>")


def _fraction(value: object) -> float | None:
    """A number to draw, or None for anything else (absent, a template's undefined, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def bar(fraction: object, *, cap: object = None, width: int = 160, colour: str = PALETTE["fill"],
        label: str = "") -> Markup:
    """A horizontal bar for a fraction in [0, 1], with a red mark at `cap` when there is one."""
    value, limit = _fraction(fraction), _fraction(cap)
    if value is None:
        return Markup('<span class="absent">—</span>')
    f = min(max(value, 0.0), 1.0)
    over = limit is not None and value > limit
    fill = PALETTE["against"] if over else colour
    title = f"{label + ': ' if label else ''}{value * 100:.2f}%" + (f" (cap {limit * 100:.2f}%)" if limit else "")
    out = [f'<svg class="bar" viewBox="0 0 {width} 12" width="{width}" height="12" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
           f'<rect width="{width}" height="12" rx="3" fill="{PALETTE["muted"]}"/>'
           f'<rect width="{f * width:.1f}" height="12" rx="3" fill="{fill}"/>']
    if limit is not None:
        x = min(max(limit, 0.0), 1.0) * width
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="12" stroke="{PALETTE["cap"]}" stroke-width="2"/>')
    out.append("</svg>")
    return Markup("".join(out))


def stacked(parts: Sequence[tuple[str, int, str]], *, width: int = 320) -> Markup:
    """One bar split into `parts` (label, amount, colour) in proportion; a zero total draws an empty bar."""
    total = sum(max(0, v) for _, v, _ in parts)
    out = [f'<svg class="bar stacked" viewBox="0 0 {width} 14" width="{width}" height="14" '
           f'xmlns="http://www.w3.org/2000/svg"><rect width="{width}" height="14" rx="3" fill="{PALETTE["muted"]}"/>']
    x = 0.0
    for name, value, colour in parts:
        if total <= 0 or value <= 0:
            continue
        w = value / total * width
        out.append(f'<rect x="{x:.1f}" width="{w:.1f}" height="14" fill="{colour}">'
                   f'<title>{escape(name)}: {value / total * 100:.1f}%</title></rect>')
        x += w
    out.append("</svg>")
    return Markup("".join(out)) + legend(parts)
