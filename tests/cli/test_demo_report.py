"""The demo's HTML report: every section drawn, the numbers where they belong, and nothing breaks it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from databright.demo.report_html import write_report

ETH = 10**18
SLASHED = "0x" + "5" * 40


def _address(i: int) -> str:
    return f"0x{i:040x}"


def sample_details() -> dict[str, Any]:
    """A run like the demo's: six contributors, 63 workers (one slashed), a 5 % cap of 800 samples, 10 epochs."""
    contributors = [
        {"name": "alice", "samples": 300, "value": 0.41, "fair_shares_wei": 60 * ETH, "asked_shares_wei": 50 * ETH,
         "minted_shares_wei": 50 * ETH, "outcome": "accepted"},
        {"name": "bob", "samples": 250, "value": 0.33, "fair_shares_wei": 48 * ETH, "asked_shares_wei": 40 * ETH,
         "minted_shares_wei": 40 * ETH, "outcome": "accepted"},
        {"name": "carol", "samples": 200, "value": 0.02, "fair_shares_wei": 2 * ETH, "asked_shares_wei": 30 * ETH,
         "minted_shares_wei": 0, "outcome": "rejected: label noise 70% of points have negative value"},
        {"name": "dave", "samples": 150, "value": 0.0, "fair_shares_wei": 0, "asked_shares_wei": 20 * ETH,
         "minted_shares_wei": 0, "outcome": "rejected: duplicates 100% > 5%"},
        {"name": "erin", "samples": 250, "value": 0.24, "fair_shares_wei": 35 * ETH, "asked_shares_wei": 90 * ETH,
         "minted_shares_wei": 0, "outcome": "rejected: asks 90 shares > fair 35"},
        {"name": "<script>", "samples": 0, "value": None, "fair_shares_wei": None, "asked_shares_wei": 10 * ETH,
         "minted_shares_wei": 0, "outcome": "refused before upload: row 17 column 3 is NaN"},
    ]
    for i, c in enumerate(contributors):
        c["address"] = _address(100 + i)
    workers = []
    for i in range(63):
        group, slot = divmod(i, 21)
        role = f"g{group}.stage{slot % 2}" if slot < 2 else f"g{group}.shard{slot - 2}"
        address = SLASHED if i == 30 else _address(1000 + i)
        samples = 40 if slot >= 2 else 0
        workers.append({"name": f"worker-{i}", "address": address, "role": role, "distinct_samples": samples,
                        "data_fraction": samples / 800, "parameters_held": 20_000 if slot < 2 else 40_000,
                        "parameter_fraction": 0.5 if slot < 2 else 1.0, "units": 10, "paid_wei": ETH // 126,
                        "slashed": i == 30})
    curve = [{"epoch": float(e), "train_loss": 2.0 / e, "train_accuracy": 0.5 + e * 0.045,
              "eval_accuracy": 0.45 + e * 0.04} for e in range(1, 11)]
    votes = [{"proposal": p, "contributor": c["name"], "for_wei": f * ETH, "against_wei": a * ETH,
              "outcome": "accepted" if f > a else "rejected",
              "reasons": [{"voter": "oracle", "support": f > a, "weight_wei": 100 * ETH,
                           "reason": f"value {c['value']}, fair shares {c['fair_shares_wei']}"},
                          {"voter": "curator-1", "support": True, "weight_wei": 100 * ETH, "reason": "looked fine"}]}
             for p, c, f, a in [(0, contributors[0], 200, 0), (1, contributors[1], 200, 0),
                                (2, contributors[2], 100, 100), (3, contributors[3], 0, 200),
                                (4, contributors[4], 100, 100)]]
    return {
        "chain": {"chain_id": 131277322940537, "association": _address(1), "compute_market": _address(2)},
        "requests": [{"database": _address(3), "token": _address(4), "entries": 2}],
        "proposals": {"accepted": [0, 1], "rejected": [2, 3, 4]},
        "refusals": ["mallory: row 17 column 3 is NaN", "a proposal asking for 500 shares: exceeds the maximum"],
        "votes": votes,
        "contributors": contributors,
        "job": {"id": 0, "status": "completed", "test_accuracy": 0.91, "redundancy": 3, "groups_agreed": 2,
                "deviations_detected": 1, "slashed_workers": [SLASHED], "data_cap": 0.05, "quota": 40,
                "train_samples": 800, "max_worker_data_fraction": 0.05, "split_stages": 2,
                "max_worker_param_fraction": 1.0, "total_parameters": 40_000, "curve": curve, "workers": workers},
        "payments": {"data_fee_wei": ETH, "compute_fee_wei": ETH // 2, "dividends_withdrawn_wei": ETH,
                     "worker_payouts_wei": {w["address"]: w["paid_wei"] for w in workers if not w["slashed"]},
                     "slashed_stake_wei": 2 * ETH},
        "shareholders": [{"name": "curator-1", "shares_wei": 100 * ETH, "dividends_wei": ETH * 100 // 290},
                         {"name": "curator-2", "shares_wei": 60 * ETH, "dividends_wei": ETH * 60 // 290},
                         {"name": "curator-3", "shares_wei": 40 * ETH, "dividends_wei": ETH * 40 // 290},
                         {"name": "alice", "shares_wei": 50 * ETH, "dividends_wei": ETH * 50 // 290},
                         {"name": "bob", "shares_wei": 40 * ETH, "dividends_wei": ETH * 40 // 290}],
        "timings": {"data_market_s": 21.5, "compute_s": 48.2, "total_s": 69.7},
        "job_value": {"job": 0, "pool_wei": ETH // 2, "value_share_bps": 5000, "data_fee_wei": ETH, "k": 5,
                      "embedding": {"kind": "penultimate layer", "dims": 512}, "verified": True,
                      "rows": [{"name": "curator-1", "address": _address(50), "shares_wei": 100 * ETH,
                                "dividends_wei": ETH * 50 // 290, "value": None, "value_wei": 0, "claimed_wei": 0},
                               {"name": "alice", "address": _address(100), "shares_wei": 50 * ETH,
                                "dividends_wei": ETH * 25 // 290, "value": 0.41, "value_wei": ETH * 41 // 148,
                                "claimed_wei": ETH * 41 // 148},
                               {"name": "bob", "address": _address(101), "shares_wei": 40 * ETH,
                                "dividends_wei": ETH * 20 // 290, "value": 0.33, "value_wei": ETH * 33 // 148,
                                "claimed_wei": ETH * 33 // 148}]},
    }


class _Sections(HTMLParser):
    """Collects each section's start tags (name, attributes) and text."""

    def __init__(self) -> None:
        super().__init__()
        self.current = ""
        self.tags: dict[str, list[tuple[str, dict[str, str]]]] = {}
        self.text: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.current = a.get("id", "")
        self.tags.setdefault(self.current, []).append((tag, a))

    def handle_data(self, data: str) -> None:
        self.text[self.current] = self.text.get(self.current, "") + data


def _parse(path: Path) -> _Sections:
    parser = _Sections()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _with_class(tags: list[tuple[str, dict[str, str]]], name: str, cls: str) -> list[dict[str, str]]:
    return [a for t, a in tags if t == name and cls in a.get("class", "").split()]


def test_every_section_draws_its_picture(tmp_path: Path) -> None:
    details = sample_details()
    path = write_report(details, tmp_path / "report")
    assert path == tmp_path / "report" / "index.html"
    page = _parse(path)
    for section in ("votes", "contributors", "samples", "parameters", "curve", "money", "job-value"):
        assert any(t == "svg" for t, _ in page.tags[section]), section
    assert "<script" not in path.read_text().replace("&lt;script&gt;", "")

    # one bar per worker, in both worker charts; the slashed one marked
    for section in ("samples", "parameters"):
        rows = _with_class(page.tags[section], "g", "row")
        assert len(rows) == 63
        marked = [a["data-worker"] for a in _with_class(page.tags[section], "g", "slashed")]
        assert marked == ["worker-30"]
    assert "⚠ slashed" in page.text["samples"]

    # the dashed cap line sits where a bar of exactly the quota (40 samples) ends
    tags = page.tags["samples"]
    (cap,) = _with_class(tags, "line", "ref")
    full = [a for a in _with_class(tags, "rect", "bar") if float(a["width"]) > 0]
    assert all(abs(float(a["x"]) + float(a["width"]) - float(cap["x1"])) < 0.02 for a in full)
    assert "cap quota: 40 samples (5.0 % of 800)" in page.text["samples"]
    (total,) = _with_class(page.tags["parameters"], "line", "ref")
    split = _with_class(page.tags["parameters"], "rect", "stage1")
    assert len(split) == 3 and float(total["x1"]) > float(split[0]["x"]) + float(split[0]["width"])

    # one point per epoch on each curve
    assert len(_with_class(page.tags["curve"], "circle", "train")) == 10
    assert len(_with_class(page.tags["curve"], "circle", "eval")) == 10

    # amounts in ETH
    money = page.text["money"]
    assert "1 ETH" in money and "0.5 ETH" in money and "2 ETH" in money
    assert "0.344828 ETH" in money  # curator-1's 100/290 of the data fee, rounded to 6 decimals

    # votes, reasons, refusals and the escaped name
    assert "looked fine" in page.text["votes"] and len(_with_class(page.tags["votes"], "svg", "mini")) == 5
    assert "&lt;script&gt;" in path.read_text() and "<script>" in page.text["contributors"]
    assert "refused before upload" in page.text["contributors"]
    assert len(_with_class(page.tags["contributors"], "tr", "refused")) == 4
    assert "131277322940537" in page.text[""] and "NaN" in page.text[""]


def test_the_job_value_section_sets_dividends_beside_value_payouts(tmp_path: Path) -> None:
    page = _parse(write_report(sample_details(), tmp_path / "report"))
    rows = _with_class(page.tags["job-value"], "g", "row")
    assert [(r["data-holder"], r["data-kind"]) for r in rows] == [
        (name, kind) for name in ("curator-1", "alice", "bob") for kind in ("shares", "value")]
    text = page.text["job-value"]
    assert "0.277027 ETH · value +0.410" in text and "0.172414 ETH" in text  # alice by value, curator-1 by shares
    assert "50 %" in text and "penultimate layer" in text and "holds" in text
    assert "alice by value" in page.text["money"]  # the data fee's flow includes what was claimed by value


def test_empty_and_odd_inputs_do_not_break_it(tmp_path: Path) -> None:
    page = _parse(write_report({}, tmp_path / "empty"))
    assert "Nothing to show: this run recorded no details." in page.text[""]
    assert all("Nothing to show" in page.text[s] for s in ("votes", "samples", "curve", "money", "job-value"))

    odd = sample_details()
    odd["job"]["workers"] = odd["job"]["workers"][:1]
    odd["job"]["workers"][0].update(distinct_samples=None, parameters_held=0)
    odd["job"].update(curve=[{"epoch": 1, "train_accuracy": None, "eval_accuracy": 0.5}], quota=None,
                      total_parameters=None, slashed_workers="not a list")
    odd["contributors"] = [{"name": "zero"}]
    odd["payments"] = {"data_fee_wei": 0}
    odd["votes"] = [{"proposal": 9}]
    del odd["timings"], odd["shareholders"]
    page = _parse(write_report(odd, tmp_path / "odd"))
    assert len(_with_class(page.tags["samples"], "g", "row")) == 1
    assert not _with_class(page.tags["samples"], "line", "ref")
    assert len(_with_class(page.tags["curve"], "circle", "eval")) == 1
    assert "—" in page.text["contributors"] and "—" in page.text["samples"]


def test_sample_page(tmp_path: Path) -> None:
    """The sample a person looks at; re-rendered in place, it must be the same bytes (no clock, no randomness)."""
    first = write_report(sample_details(), tmp_path / "a").read_text()
    assert first == write_report(sample_details(), tmp_path / "b").read_text()
    assert re.search(r"<svg[^>]*viewBox", first)
