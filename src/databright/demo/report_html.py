"""The demo's report: one HTML page with pictures, what a newcomer opens after ``make demo``.

It is opened from disk, maybe offline or long after the run, so it carries everything inline (CSS, SVG,
no script, no external asset). Older runs may lack keys, so every read is defensive: a missing number
shows as "—" and an empty section says so instead of breaking the page. Every drawn number is also in
a ``<title>`` tooltip or a table, so what is drawn can be checked as text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from databright.market.units import format_amount

NONE = "—"
WIDTH = 960  # viewBox width of the full-width charts; they scale with the page
EMPTY = '<p class="empty">Nothing to show: this run recorded none.</p>'


def write_report(details: dict[str, Any], folder: Path) -> Path:
    """Writes ``folder/index.html`` and returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    path.write_text(render(details), encoding="utf-8")
    return path


def render(details: dict[str, Any]) -> str:
    d = _obj(details)
    body = [_header(d)] if d else ['<p class="empty notice">Nothing to show: this run recorded no details.</p>']
    for key, title, build in SECTIONS:
        body.append(f'<section id="{key}"><h2>{title}</h2>{build(d) or EMPTY}</section>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>DataBright demo report</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><main><h1>DataBright demo report</h1>{"".join(body)}</main></body></html>\n')


# ---------------------------------------------------------------- defensive reading and formatting

def _obj(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _rows(x: Any) -> list[dict[str, Any]]:
    return [r for r in _list(x) if isinstance(r, dict)]


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _e(x: Any) -> str:
    return NONE if x is None or x == "" else html.escape(str(x))


def _eth(wei: Any) -> str:
    return NONE if _num(wei) is None else f"{format_amount(int(wei), 6)} ETH"


def _shares(wei: Any) -> str:
    return NONE if _num(wei) is None else format_amount(int(wei), 2)


def _pct(x: Any, places: int = 1) -> str:
    v = _num(x)
    return NONE if v is None else f"{v * 100:.{places}f} %"


def _short(name: Any, address: Any = "") -> str:
    text = str(name or "") or (f"{str(address)[:6]}…{str(address)[-4:]}" if address else NONE)
    return text if len(text) <= 16 else text[:15] + "…"


def _refused(outcome: Any) -> bool:
    return not str(outcome or "").startswith("accepted")


# ---------------------------------------------------------------- SVG: labelled bars, small bars, lines

@dataclass
class Row:
    """One labelled row of a bar chart; its segments are stacked left to right."""

    label: str
    segments: list[tuple[float, str, str]]  # value, CSS class, tooltip
    text: str = ""  # right of the bar
    group: str = ""  # a heading is drawn where it changes
    cls: str = ""
    attrs: dict[str, str] = field(default_factory=dict)


def _bar_chart(rows: list[Row], vmax: float, ref: tuple[float, str] | None = None, label_w: int = 150) -> str:
    """Horizontal bars, one row each; rows get thinner as they get many, so 60+ workers stay on a page."""
    if not rows:
        return ""
    row_h = 30 if len(rows) <= 4 else 22 if len(rows) <= 16 else 15
    text_w, top = 230, 18
    plot_w = WIDTH - label_w - text_w
    scale = plot_w / vmax if vmax > 0 else 0.0
    out, y, group = [], top, None
    for r in rows:
        if r.group and r.group != group:
            group = r.group
            out.append(f'<text class="group" x="4" y="{y + 12}">{_e(group)}</text>')
            y += 16
        attrs = "".join(f' data-{k}="{_e(v)}"' for k, v in r.attrs.items())
        out.append(f'<g class="row {r.cls}"{attrs}><rect class="band" x="0" y="{y}" width="{WIDTH}" '
                   f'height="{row_h}"/><text class="label" x="{label_w - 6}" y="{y + row_h - 5}">{_e(r.label)}</text>')
        x = float(label_w)
        for value, cls, tip in r.segments:
            w = max(value, 0.0) * scale
            out.append(f'<rect class="bar {cls}{" thin" if w < 4 else ""}" x="{x:.2f}" y="{y + 2}" width="{w:.2f}" '
                       f'height="{row_h - 4}"><title>{_e(tip)}</title></rect>')
            if row_h >= 30 and w > 8 * len(tip.split(":")[0]):
                out.append(f'<text class="inside" x="{x + 5:.2f}" y="{y + row_h - 10}">{_e(tip.split(":")[0])}</text>')
            x += w
        out.append(f'<text class="value" x="{x + 5:.2f}" y="{y + row_h - 5}">{_e(r.text)}</text></g>')
        y += row_h
    if ref is not None and ref[0] >= 0:
        rx = label_w + ref[0] * scale
        out.append(f'<line class="ref" x1="{rx:.2f}" x2="{rx:.2f}" y1="{top - 4}" y2="{y}"/>'
                   f'<text class="ref-label" x="{rx:.2f}" y="{top - 7}">{_e(ref[1])}</text>')
    return f'<svg class="chart" viewBox="0 0 {WIDTH} {y + 4}" role="img">{"".join(out)}</svg>'


def _mini_bars(lines: list[tuple[list[tuple[float, str, str]], str]], vmax: float, width: int = 260,
               text_w: int = 110) -> str:
    """Small bars for a table cell or a card: each line is stacked segments plus a text after them."""
    line_h, plot_w = 16, width - text_w
    scale = plot_w / vmax if vmax > 0 else 0.0
    out = []
    for i, (segments, text) in enumerate(lines):
        x, y = 0.0, i * line_h
        for value, cls, tip in segments:
            w = max(value, 0.0) * scale
            out.append(f'<rect class="bar {cls}" x="{x:.2f}" y="{y + 2}" width="{w:.2f}" height="{line_h - 4}">'
                       f"<title>{_e(tip)}</title></rect>")
            x += w
        out.append(f'<text class="value" x="{x + 4:.2f}" y="{y + line_h - 4}">{_e(text)}</text>')
    return f'<svg class="mini" viewBox="0 0 {width} {len(lines) * line_h}" width="{width}">{"".join(out)}</svg>'


def _line_chart(series: list[tuple[str, str, list[tuple[float, float]]]], x_label: str) -> str:
    """Lines on 0..1 (accuracies) over a shared x axis, with ticks, a legend and a dot per point."""
    points = [p for _, _, pts in series for p in pts]
    if not points:
        return ""
    left, right, top, bottom, height = 56, 150, 14, 40, 300
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = WIDTH - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + (1 - min(max(y, 0.0), 1.0)) * ph

    out = []
    for i in range(6):
        y = sy(i / 5)
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{i * 20} %</text>')
    step = max(1, int((x1 - x0) // 10) + 1)
    for t in range(int(x0) + (x0 > int(x0)), int(x1) + 1, step):
        x = sx(t)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{top + ph + 17}" text-anchor="middle">{t}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>'
               f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>'
               f'<text class="tick" x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">{_e(x_label)}</text>')
    for i, (name, cls, pts) in enumerate(series):
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="line {cls}" points="{coords}"/>')
        out.extend(f'<circle class="pt {cls}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5">'
                   f"<title>{_e(name)} at {x:g}: {y * 100:.1f} %</title></circle>" for x, y in pts)
        ly = top + 10 + i * 20
        out.append(f'<line class="line {cls}" x1="{left + pw + 16}" x2="{left + pw + 40}" y1="{ly}" y2="{ly}"/>'
                   f'<text class="legend" x="{left + pw + 46}" y="{ly + 4}">{_e(name)}</text>')
    return f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img">{"".join(out)}</svg>'


# ---------------------------------------------------------------- the page's parts

def _header(d: dict[str, Any]) -> str:
    chain, job, proposals = _obj(d.get("chain")), _obj(d.get("job")), _obj(d.get("proposals"))
    timings = _obj(d.get("timings"))
    slashed = _slashed_names(d)
    cap = _num(job.get("data_cap"))
    cap_text = "off" if cap is None else f"{_pct(cap)} → quota {_e(job.get('quota'))} of {_e(job.get('train_samples'))}"
    facts = [("chain id", _e(chain.get("chain_id"))), ("job", f"#{_e(job.get('id'))} · {_e(job.get('status'))}"),
             ("test accuracy", _pct(job.get("test_accuracy"))),
             ("redundancy", f"{_e(job.get('redundancy'))} groups, {_e(job.get('groups_agreed'))} agreed"),
             ("data cap", cap_text), ("most data one worker saw", _pct(job.get("max_worker_data_fraction"))),
             ("split stages", _e(job.get("split_stages"))),
             ("most parameters one worker held", _pct(job.get("max_worker_param_fraction"))),
             ("deviations detected", _e(job.get("deviations_detected"))),
             ("slashed workers", ", ".join(_e(s) for s in slashed) or "none"),
             ("accepted / rejected proposals", " / ".join(
                 ", ".join(f"#{_e(p)}" for p in _list(proposals.get(k))) or "none" for k in ("accepted", "rejected"))),
             ("wall time", " · ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s"
                                      for k, v in timings.items() if _num(v) is not None) or NONE)]
    cards = "".join(f'<div class="fact"><span>{k}</span><b>{v}</b></div>' for k, v in facts)
    contracts = [("DataAssociation", chain.get("association")), ("ComputeMarket", chain.get("compute_market"))]
    for r in _rows(d.get("requests")):
        contracts += [(f"Database ({_e(r.get('entries'))} entries)", r.get("database")),
                      ("CuratorToken", r.get("token"))]
    table = "".join(f"<tr><td>{k}</td><td><code>{_e(v)}</code></td></tr>" for k, v in contracts)
    refusals = [str(r) for r in _list(d.get("refusals")) if r]
    refused = "".join(f"<li>{_e(r)}</li>" for r in refusals) or "<li>none</li>"
    return (f'<div class="facts">{cards}</div><div class="two"><div><h3>Contracts</h3><table>{table}</table></div>'
            f'<div><h3>Refused along the way</h3><ul class="refusals">{refused}</ul></div></div>')


def _votes(d: dict[str, Any]) -> str:
    votes = _rows(d.get("votes"))
    vmax = max((max(_num(v.get("for_wei")) or 0, 0) + max(_num(v.get("against_wei")) or 0, 0) for v in votes),
               default=0)
    cards = []
    for v in votes:
        yes, no = _num(v.get("for_wei")) or 0.0, _num(v.get("against_wei")) or 0.0
        bar = _mini_bars([([(yes, "for", f"for: {_shares(yes)} shares"), (no, "against", f"against: {_shares(no)}")],
                           f"{_shares(yes)} for · {_shares(no)} against")], vmax, width=440, text_w=170)
        reasons = "".join(
            f'<li><span class="{"yes" if r.get("support") else "no"}">{"✔" if r.get("support") else "✘"}</span> '
            f'<b>{_e(r.get("voter"))}</b> ({_shares(r.get("weight_wei"))} shares): {_e(str(r.get("reason", ""))[:200])}'
            f"</li>" for r in _rows(v.get("reasons")))
        outcome = str(v.get("outcome") or NONE)
        cards.append(f'<div class="card"><h3>#{_e(v.get("proposal"))} · {_e(v.get("contributor"))} '
                     f'<span class="badge {"ok" if outcome == "accepted" else "bad"}">{_e(outcome)}</span></h3>'
                     f'{bar}<ul class="reasons">{reasons or "<li>no reasons recorded</li>"}</ul></div>')
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _contributors(d: dict[str, Any]) -> str:
    people = _rows(d.get("contributors"))
    keys = ("asked_shares_wei", "fair_shares_wei", "minted_shares_wei")
    smax = max((_num(c.get(k)) or 0.0 for c in people for k in keys), default=0.0)
    rows = []
    for c in people:
        value = _num(c.get("value"))
        value_bar = _mini_bars([([(value or 0.0, "value", f"value {value}")],
                                 NONE if value is None else f"{value:.3f}")], 1.0, width=200)
        shares = _mini_bars([([(_num(c.get(k)) or 0.0, k.split("_")[0], f"{k.split('_')[0]}: {_shares(c.get(k))}")],
                              f"{k.split('_')[0]} {_shares(c.get(k))}") for k in keys], smax)
        outcome = c.get("outcome")
        rows.append(f'<tr class="{"refused" if _refused(outcome) else ""}"><td><b>{_e(c.get("name"))}</b><br>'
                    f'<code>{_e(_short("", c.get("address")))}</code></td><td class="num">{_e(c.get("samples"))}</td>'
                    f'<td>{value_bar}</td><td>{shares}</td><td class="outcome">{_e(outcome)}</td></tr>')
    if not rows:
        return ""
    return ('<p class="legend-row"><i class="value"></i>value (KNN-Shapley, 0 to 1) <i class="asked"></i>shares asked '
            '<i class="fair"></i>fair <i class="minted"></i>minted</p><table class="contributors"><tr><th>contributor'
            '</th><th>samples</th><th>value</th><th>shares</th><th>outcome</th></tr>' + "".join(rows) + "</table>")


def _workers(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Workers sorted by role (naturally: g2 before g10), so a group's members sit together."""
    def key(w: dict[str, Any]) -> list[Any]:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(w.get("role") or "~"))]
    return sorted(_rows(_obj(d.get("job")).get("workers")), key=key)


def _slashed_names(d: dict[str, Any]) -> list[str]:
    """The slashed workers by their names where known: a 42-character address says little to a reader."""
    names = {w.get("address"): w.get("name") for w in _rows(_obj(d.get("job")).get("workers")) if w.get("name")}
    return [str(names.get(s) or _short("", s)) for s in _list(_obj(d.get("job")).get("slashed_workers"))]


def _is_slashed(w: dict[str, Any], job: dict[str, Any]) -> bool:
    slashed = _list(job.get("slashed_workers"))
    return bool(w.get("slashed")) or w.get("address") in slashed or w.get("name") in slashed


def _worker_rows(d: dict[str, Any], key: str, text: str) -> list[Row]:
    job, rows = _obj(d.get("job")), []
    for w in _workers(d):
        slashed = _is_slashed(w, job)
        stage = re.search(r"stage(\d+)", str(w.get("role") or ""))
        cls = "slashed" if slashed else f"stage{stage.group(1)}" if stage and key == "parameters_held" else "worker"
        value, role = _num(w.get(key)), str(w.get("role") or "")
        rows.append(Row(_short(w.get("name"), w.get("address")), [(value or 0.0, cls, f"{w.get('name')}: {value}")],
                        text.format(NONE if value is None else f"{value:,.0f}") + (f" · {role}" if role else "")
                        + (" ⚠ slashed" if slashed else ""),
                        group=role.split(".")[0].split(",")[0] or "no role", cls="slashed" if slashed else "",
                        attrs={"worker": str(w.get("name") or w.get("address") or ""), "role": role}))
    return rows


def _samples(d: dict[str, Any]) -> str:
    job = _obj(d.get("job"))
    rows, quota = _worker_rows(d, "distinct_samples", "{} samples"), _num(job.get("quota"))
    vmax = max([r.segments[0][0] for r in rows] + [quota or 0.0])
    ref = None if quota is None else (quota, f"cap quota: {quota:,.0f} samples ({_pct(job.get('data_cap'))} of "
                                              f"{_e(job.get('train_samples'))})")
    return _bar_chart(rows, vmax, ref)


def _parameters(d: dict[str, Any]) -> str:
    job = _obj(d.get("job"))
    rows, total = _worker_rows(d, "parameters_held", "{}"), _num(job.get("total_parameters"))
    vmax = max([r.segments[0][0] for r in rows] + [total or 0.0])
    ref = None if not total else (total, f"the model: {total:,.0f} parameters")
    legend = ('<p class="legend-row"><i class="worker"></i>whole model <i class="stage0"></i>stage 0 '
              '<i class="stage1"></i>stage 1 <i class="slashed"></i>slashed</p>')
    return legend + _bar_chart(rows, vmax, ref) if rows else ""


def _curve(d: dict[str, Any]) -> str:
    curve = _rows(_obj(d.get("job")).get("curve"))

    def pts(k: str) -> list[tuple[float, float]]:
        return [(float(c["epoch"]), float(c[k])) for c in curve if _num(c.get("epoch")) is not None
                and _num(c.get(k)) is not None]
    return _line_chart([("train accuracy", "train", pts("train_accuracy")),
                        ("held-out accuracy", "eval", pts("eval_accuracy"))], "epoch")


def _money(d: dict[str, Any]) -> str:
    pay = _obj(d.get("payments"))
    holders, workers = _rows(d.get("shareholders")), _workers(d)
    names = {w.get("address"): _short(w.get("name"), w.get("address")) for w in workers}
    payouts = pay.get("worker_payouts_wei")
    paid = ({str(names.get(a, _short("", a))): int(v) for a, v in payouts.items() if _num(v) is not None}
            if isinstance(payouts, dict) else {_short(w.get("name"), w.get("address")): int(w.get("paid_wei") or 0)
                                               for w in workers})
    data_fee, compute_fee = int(_num(pay.get("data_fee_wei")) or 0), int(_num(pay.get("compute_fee_wei")) or 0)
    stake = int(_num(pay.get("slashed_stake_wei")) or 0)
    if not (data_fee or compute_fee or stake or holders or paid):
        return ""
    dividends = [(str(h.get("name")), int(_num(h.get("dividends_wei")) or 0)) for h in holders]
    by_value = [(f"{p.get('name')} by value", int(_num(p.get("claimed_wei")) or 0))
                for p in _rows(_obj(d.get("job_value")).get("rows")) if _num(p.get("claimed_wei"))]

    def flow(label: str, total: int, parts: list[tuple[str, int]], rest: str, cls: str) -> Row:
        segments = [(float(v), f"{cls}{i % 2}", f"{n}: {_eth(v)}") for i, (n, v) in enumerate(parts)]
        left = total - sum(v for _, v in parts)
        if left > 0:
            segments.append((float(left), "rest", f"{rest}: {_eth(left)}"))
        return Row(label, segments, _eth(total))
    rows = [flow("data fee → holders", data_fee, dividends + by_value, "not paid out", "div"),
            flow("compute fee → workers", compute_fee, sorted(paid.items()), "dust to the buyer", "pay"),
            Row("slashed stake → buyer", [(float(stake), "slash", f"buyer: {_eth(stake)}")], _eth(stake))]
    chart = _bar_chart(rows, float(max(data_fee, compute_fee, stake, 1)), label_w=170)
    lines = ([("data fee (escrowed by the buyer)", "dividends by shares, and contributors by value", data_fee)]
             + [("", f"dividends of {n}", v) for n, v in dividends]
             + [("", "dividends withdrawn", pay.get("dividends_withdrawn_wei"))]
             + [("", f"paid to {n}", v) for n, v in by_value]
             + [("compute fee (escrowed by the buyer)", f"{len(paid)} workers, by verified units", compute_fee),
                ("", "paid to the workers in total", sum(paid.values())),
                ("slashed stake", "the buyer", stake)])
    table = "".join(f'<tr><td>{_e(a) if a else ""}</td><td>{_e(b)}</td><td class="num">{_eth(v)}</td></tr>'
                    for a, b, v in lines)
    per_worker = "".join(f'<tr><td>{_e(n)}</td><td class="num">{_eth(v)}</td></tr>' for n, v in sorted(paid.items()))
    return (f'{chart}<div class="two"><table><tr><th>from</th><th>to</th><th>amount</th></tr>{table}</table>'
            f'<details><summary>each worker\'s pay ({len(paid)})</summary><table>{per_worker}</table></details></div>'
            f'<p class="note">Slashed workers: {", ".join(_e(s) for s in _slashed_names(d)) or "none"}.'
            f" 1 ETH = 10<sup>18</sup> wei.</p>")


def _job_value(d: dict[str, Any]) -> str:
    """Per holder: what this job's data fee paid by shares (dividends) and by the value of the data."""
    v = _obj(d.get("job_value"))
    people = _rows(v.get("rows"))
    if not people:
        return ""
    vmax = max((_num(p.get(k)) or 0.0 for p in people for k in ("dividends_wei", "value_wei")), default=0.0)
    rows = []
    for p in people:
        name, value = str(p.get("name") or _short("", p.get("address"))), _num(p.get("value"))
        div, paid = int(_num(p.get("dividends_wei")) or 0), int(_num(p.get("value_wei")) or 0)
        rows.append(Row("by shares", [(float(div), "div0", f"{name}, dividends by {_shares(p.get('shares_wei'))} "
                                                           f"shares: {_eth(div)}")], _eth(div), group=name,
                        attrs={"holder": name, "kind": "shares"}))
        worth = NONE if value is None else f"{value:+.3f}"
        rows.append(Row("by value", [(float(paid), "pay0", f"{name}, paid by value {worth}: {_eth(paid)}")],
                        _eth(paid) + ("" if value is None else f" · value {worth}"), group=name,
                        attrs={"holder": name, "kind": "value"}))
    emb = _obj(v.get("embedding"))
    note = (f'<p class="note">Job {_e(v.get("job"))}: {_pct((_num(v.get("value_share_bps")) or 0) / 10_000, 0)} of '
            f'its {_eth(v.get("data_fee_wei"))} data fee ({_eth(v.get("pool_wei"))}) is paid by the exact KNN-Shapley '
            f'value (k = {_e(v.get("k"))}, {_e(emb.get("kind"))}, {_e(emb.get("dims"))} dims) of each contributor\'s '
            f'samples on the job\'s held-out split, claimed on-chain with a Merkle proof; the rest is dividends by '
            f'shares. Recomputed by a curator: {"holds" if v.get("verified") else "not checked"}.</p>')
    legend = '<p class="legend-row"><i class="div0"></i>dividends by shares <i class="pay0"></i>paid by value</p>'
    return legend + _bar_chart(rows, vmax, label_w=110) + note


SECTIONS = [("votes", "1 · Votes per proposal", _votes),
            ("contributors", "2 · Value and shares per contributor", _contributors),
            ("samples", "3 · Samples seen per worker against the cap", _samples),
            ("parameters", "4 · Parameters held per worker", _parameters),
            ("curve", "5 · Training and held-out accuracy", _curve),
            ("money", "6 · Where the money went", _money),
            ("job-value", "7 · The job's data fee: dividends by shares beside payouts by value", _job_value)]

CSS = """
body{margin:0;background:#f4f6f9;color:#1d2430;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 16px}h2{font-size:19px;margin:0 0 12px}h3{font-size:15px;margin:4px 0 8px}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px #0002;padding:18px 22px;margin:18px 0}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:10px}
.fact{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:10px 12px}
.fact span{display:block;color:#5b6676;font-size:12px}.fact b{font-size:15px}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:20px;margin-top:16px}
table{border-collapse:collapse;width:100%}td,th{padding:5px 8px;border-bottom:1px solid #e6e9ee;text-align:left;
vertical-align:middle}th{font-size:12px;color:#5b6676}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
code{font-size:12px;word-break:break-all}.empty{color:#5b6676;font-style:italic}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:14px}
.card{border:1px solid #e6e9ee;border-radius:8px;padding:10px 14px}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;margin-left:6px;color:#fff}.ok{background:#2e9d57}
.bad{background:#d1453b}.reasons{margin:6px 0 0;padding-left:18px;font-size:13px}.yes{color:#2e9d57}.no{color:#d1453b}
.refusals li{margin:3px 0}tr.refused{background:#fdf1f0}td.outcome{font-size:13px;max-width:260px}
tr.refused td.outcome{color:#b03a30}.legend-row{font-size:13px;color:#5b6676}
.legend-row i{display:inline-block;width:12px;height:12px;border-radius:2px;margin:0 4px -1px 12px}
svg.chart{width:100%;height:auto;display:block}svg text{font-size:11px;fill:#1d2430}
text.label{text-anchor:end}text.group{font-weight:600;fill:#5b6676}text.value{fill:#3b4656}
rect.band{fill:transparent}g.row:hover rect.band{fill:#f0f3f7}g.slashed rect.band{fill:#fde8e6}
g.slashed text{fill:#b03a30;font-weight:600}
.for{fill:#2e9d57}.against{fill:#d1453b}.value{fill:#4c78a8;background:#4c78a8}.asked{fill:#9aa5b1;background:#9aa5b1}
.fair{fill:#f58518;background:#f58518}.minted{fill:#54a24b;background:#54a24b}
.worker{fill:#4c78a8;background:#4c78a8}.stage0{fill:#72b7b2;background:#72b7b2}
.stage1{fill:#b279a2;background:#b279a2}.slashed{fill:#d1453b;background:#d1453b}
.div0{fill:#54a24b;background:#54a24b}.div1{fill:#88c77f}.pay0{fill:#4c78a8;background:#4c78a8}.pay1{fill:#7fa6cf}.slash{fill:#d1453b}.rest{fill:#c9d3e0}
rect.bar{stroke:#fff;stroke-width:1}rect.thin{stroke:none}text.inside{fill:#fff;font-weight:600}
line.ref{stroke:#1d2430;stroke-width:1.5;stroke-dasharray:6 4}text.ref-label{font-weight:600;text-anchor:middle}
line.grid{stroke:#e6e9ee}line.axis{stroke:#5b6676}text.tick{fill:#5b6676}
polyline.line{fill:none;stroke-width:2.5}line.line{stroke-width:2.5}
.line.train{stroke:#2f6fdb}.line.eval{stroke:#e07b00}circle.train{fill:#2f6fdb}circle.eval{fill:#e07b00}
details{font-size:13px}summary{cursor:pointer;color:#2f6fdb}.note{color:#5b6676;font-size:12px}
"""
