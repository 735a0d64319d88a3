"""The job page against reports the demo does not write (yet): TMR with a slash, a data cap, splitting,
fields missing, fields the page has never heard of. No chain: the report is read and rendered as is."""

from __future__ import annotations

import math
from typing import Any

from databright.dashboard.app import templates
from databright.dashboard.compute_views import report_view
from databright.market.units import UNIT

from .html import parse

A, B, C, D = ("0x" + c * 40 for c in "abcd")
GROWN: dict[str, Any] = {
    "version": 2,
    "model": {"kind": "cnn", "parameters": 9930, "sha256": "ff" * 32},
    "data": {"train_samples": 1200, "eval_samples": 300, "entries": [{"cid": "bafyentry", "samples_used": 1200}]},
    "workers": [
        {"address": A, "units": 400, "samples": 400, "distinct_samples": 60, "data_fraction": 0.05,
         "parameters_held": 4000, "parameter_fraction": 4000 / 9930, "traffic": {"sent_bytes": 123}},
        {"address": B, "units": 10, "distinct_samples": 61, "data_fraction": 61 / 1200,  # one over the quota
         "roles": ["g1.stage1"]},
        {"address": C},  # a worker the coordinator knows nothing else about
    ],
    "curve": [{"epoch": 1, "train_loss": math.nan, "train_accuracy": 0.5, "eval_accuracy": 0.4},
              {"epoch": 2, "train_loss": 1.0, "train_accuracy": 0.8}],  # the last evaluation is missing
    "final": {"eval_accuracy": 0.9},
    "protections": {"redundancy": 3, "data_cap": 0.05, "split_stages": 2},
    "verification": {
        "redundancy": 3, "units_verified": 40, "groups_agreed": 39, "deviations_detected": 1,
        "deviations": [{"worker": D, "step": 120, "input_hash": "beef" * 16}],
        "slashed_workers": [D], "split_stages": 2, "max_worker_data_fraction": 61 / 1200,
        "data_cap": {"cap": 0.05, "quota": 60, "shards": 20, "max_samples_per_worker": 61, "within_cap": False,
                     "owners": {"g0.shard1": A, "g0.shard2": B}, "reallocations": 3},
        "per_unit": [{"unit": 0, "agreed": True}, {"unit": 1, "agreed": False}],
    },
    "timing": {"seconds": 12.5},
}


def test_an_absent_report_is_empty_not_an_error() -> None:
    view = report_view(None)
    assert view["workers"] == [] and view["curve"] == [] and view["data_cap"] is None and view["cap"] is None
    assert view["final"] == {"train_accuracy": None, "eval_accuracy": None} and view["extra"] == {}
    assert report_view({"workers": "nonsense", "curve": 3, "verification": []})["workers"] == []


def test_a_grown_report_is_read_defensively() -> None:
    view = report_view(GROWN)
    assert view["data_cap"] == 0.05 and view["cap"]["quota"] == 60 and view["cap"]["within_cap"] is False
    assert view["cap"]["extra"] == {"reallocations": 3}
    a, b, c = view["workers"]
    assert (a["over_cap"], b["over_cap"], c["over_cap"]) == (False, True, False)  # 61 > quota 60; 60 is within
    assert a["roles"] == ["g0.shard1"] and a["extra"] == {"traffic": {"sent_bytes": 123}}
    assert b["roles"] == ["g1.stage1"]  # the report's own roles come before the cap block's owners
    assert c["units"] is None and c["data_fraction"] is None and c["roles"] == []
    assert view["curve"][0]["train_loss"] is None and view["curve"][1]["eval_accuracy"] is None
    assert view["slashed_workers"] == [D] and view["redundancy"] == 3 and view["split_stages"] == 2
    assert set(view["extra"]) == {"timing", "verification.per_unit"}


def _job(report: dict[str, Any] | None) -> dict[str, Any]:
    workers = [{"address": w, "units": 10, "paid_wei": UNIT // 10, "slashed_wei": 2 * UNIT if w == D else 0,
                "evidence_cid": "bafyevidence" if w == D else None, "report": None} for w in (A, B, C, D)]
    view = report_view(report)
    for w in workers:
        w["report"] = next((x for x in view["workers"] if x["address"] == w["address"]), None)
    return {"id": 7, "state": "completed", "block": 99, "data_fee_wei": UNIT, "compute_fee_wei": UNIT // 2,
            "payouts_wei": 4 * UNIT // 10, "dust_wei": 0, "slashed_wei": 2 * UNIT, "total_units": 40,
            "workers": workers, "slashes": [{"worker": D, "amount_wei": 2 * UNIT, "evidence_cid": "bafyevidence"}],
            "report_blob": {"cid": "bafyreport", "readable": report is not None}, "report": view if report else None}


def render(view: dict[str, Any]) -> str:
    template = templates().env.get_template("job.html")
    return template.render(v=view, reader=A, chain_id=1, poll_ms=1000, api="/api/jobs/7")


def test_the_job_page_draws_what_it_knows_and_lists_what_it_does_not() -> None:
    page = parse(render(_job(GROWN)))
    assert page.clean("redundancy") == "3" and page.clean("groups_agreed") == "39"
    assert page.clean("deviations") == "1" and page.clean("slashed_workers") == "1"
    assert page.clean("data_cap") == "5.0%" and page.clean("split_stages") == "2 stages"
    assert "over the cap" in page.clean("cap-summary") and "60 distinct training samples" in page.clean("cap-summary")
    assert "over the cap" in page.one("data-worker", B).text and "over the cap" not in page.one("data-worker", A).text
    assert page.one("data-worker", A).clean("roles") == "g0.shard1"
    assert page.one("data-worker", C).clean("distinct") == "—"  # missing, not zero
    assert page.one("data-worker", D).wei("slashed") == 2 * UNIT
    assert "beef" * 16 in page.text  # the deviation's evidence
    assert {n.attrs["data-extra"] for n in page.all("data-extra")} == {"timing", "verification.per_unit"}
    [train] = page.all("data-series", "training")
    assert len(train.attrs["points"].split()) == 2
    assert len(page.all("data-series", "held-out")[0].attrs["points"].split()) == 1  # the missing point is left out


def test_a_job_without_a_report_says_so() -> None:
    view = _job(None)
    view["report_blob"] = None
    page = parse(render(view))
    assert "No report yet" in page.text and not page.all("data-k", "redundancy")
    assert page.one("data-worker", A).wei("paid") == UNIT // 10


def test_the_value_section_says_when_a_job_was_not_valued_and_lists_payouts_when_it_was() -> None:
    view = _job(GROWN)
    view["completed"], view["value"] = True, None
    assert "Completed without valuation" in parse(render(view)).clean("value_none")
    view["value"] = {"report_cid": "bafyvalues", "root": "0x" + "ab" * 32, "pool_wei": UNIT // 2,
                     "dividends_wei": UNIT // 2, "unclaimed_wei": UNIT // 4, "value_share_bps": 5000,
                     "blob": {"cid": "bafyvalues", "readable": True},
                     "report": {"k": 5, "embedding": {"kind": "raw features", "dims": 64}, "train_samples": 800,
                                "eval_samples": 200, "model_matches": True, "root_matches": False,
                                "entries": [{"index": 0, "cid": "bafyentry", "contributor": A, "samples": 800,
                                             "value": 0.9, "amount_wei": UNIT // 2}],
                                "contributors": [{"address": A, "value": 0.9, "amount_wei": UNIT // 4, "claimed": True},
                                                 {"address": B, "value": -0.1, "amount_wei": 0, "claimed": False}]}}
    page = parse(render(view))
    assert page.wei("value_unclaimed") == UNIT // 4 and page.clean("value_share") == "50%"
    assert "raw features (64 dims)" in page.clean("value_method")
    assert "≠ report" in page.text  # a report whose root is not the chain's is flagged
    assert "yes" in page.one("data-contributor", A).text and "—" in page.one("data-contributor", B).text
