"""The job page's value section: what each contributor's data was worth to the job, and its payout.

A view function of its own (and a template partial, `_job_value.html`) so the job page gains it with one
line: the chain gives the JobValued record (full root, value report CID, pool, dividends) and what is
still unclaimed; the store gives the report, read with the dashboard's account like the job's report.
"""

from __future__ import annotations

from typing import Any

from databright.chain.compute_market import Job
from databright.dashboard.core import Dashboard


def job_value(d: Dashboard, j: Job) -> dict[str, Any] | None:
    """None for a job completed without valuation (or not completed yet)."""
    c = d.compute
    record = c.value_record(j.id)
    if record is None:
        return None
    state = c.job_value(j.id)
    blob = d.blobs.json(record["report_cid"])
    report = blob.data if blob is not None and blob.readable and isinstance(blob.data, dict) else None
    contributors = []
    for x in (report or {}).get("contributors", []):
        amount = int(x.get("amount_wei", 0))
        contributors.append({"address": x.get("address"), "value": x.get("value"), "amount_wei": amount,
                             "claimed": bool(amount) and c.value_claimed(j.id, str(x.get("address")))})
    return {
        "report_cid": record["report_cid"], "root": "0x" + record["root"].hex(), "pool_wei": record["pool"],
        "dividends_wei": record["dividends"], "unclaimed_wei": state.unclaimed,
        "value_share_bps": state.value_share_bps,
        "blob": None if blob is None else {k: v for k, v in blob.as_json().items() if k != "data"},
        "report": None if report is None else {
            "k": report.get("k"), "embedding": report.get("embedding") or {},
            "train_samples": report.get("train_samples"), "eval_samples": report.get("eval_samples"),
            "model_matches": report.get("model_sha256") == j.model_hash,
            "root_matches": (report.get("root") or "0x" + "00" * 32) == "0x" + record["root"].hex(),
            "entries": [x for x in report.get("entries", []) if isinstance(x, dict)],
            "contributors": contributors,
        },
    }
