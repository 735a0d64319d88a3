"""The data market's pages as plain dicts: the overview, a request, a proposal.

Each function returns exactly what `/api/...` answers and what the template renders, so the
page and its JSON twin cannot disagree. Amounts stay in the chain's units (wei for ether, base
units of 10**18 for shares); the templates format them and keep the exact value in a
`data-wei`/`data-units` attribute. Every number is read from the chain at the block returned
with it; only the oracle's reports and the request's spec come from the store.
"""

from __future__ import annotations

import re
from typing import Any

from databright.chain.contracts import ProposalKind
from databright.cid import cid_from_digest
from databright.dashboard.core import Dashboard, by_state

PROPOSAL_STATES = ("active", "defeated", "succeeded", "executed")
JOB_STATES = ("posted", "accepted", "completed", "refunded")
REPORT = re.compile(r"\breport (b[a-z2-7]{58})\b")  # how the oracle names its JSON report in a vote's reason
RECENT = 50  # proposals listed on the overview (the newest first)


def overview(d: Dashboard) -> dict[str, Any]:
    m, c = d.market, d.compute
    block = d.block()
    names = d.request_names()
    requests = []
    distributed = withdrawn = withdrawable = 0
    for r in m.requests():
        holdings = m.holdings(r.database)
        paid = m.token(r.database).total_distributed()
        distributed += paid
        withdrawn += sum(h.withdrawn for h in holdings)
        withdrawable += sum(h.withdrawable for h in holdings)
        requests.append({
            "index": r.index, "name": r.name, "symbol": r.symbol, "database": r.database, "token": r.token,
            "spec_cid": r.spec_cid, "entries": r.entries, "samples": sum(e.samples for e in m.entries(r.database)),
            "total_supply": r.total_supply, "holders": sum(1 for h in holdings if h.balance > 0),
            "dividends_distributed_wei": paid,
        })
    proposals = [d.proposal_row(p, names) for p in m.proposals()]
    jobs = [d.job_row(j, names) for j in c.jobs()]
    escrow, stakes, owed = c.market.totals()
    workers = c.workers()
    since = m.deployment.block
    return {
        "block": block,
        "chain_id": m.deployment.chain_id,
        "reader": m.account,
        "deployment": {
            "association": m.deployment.association, "compute_market": m.deployment.compute_market,
            "token_blueprint": m.deployment.token_blueprint, "database_blueprint": m.deployment.database_blueprint,
            "block": m.deployment.block, "governance": c.governance(), "min_stake_wei": c.min_stake,
        },
        "requests": requests,
        "proposals": {"count": len(proposals), "by_state": by_state([p["state"] for p in proposals],
                                                                     PROPOSAL_STATES),
                      "recent": proposals[::-1][:RECENT]},
        "jobs": {"count": len(jobs), "by_state": by_state([j["state"] for j in jobs], JOB_STATES), "list": jobs},
        "workers": {"count": len(workers), "registered": sum(1 for w in workers if w.registered),
                    "stake_wei": sum(w.stake for w in workers)},
        "money": {
            "data_fees_wei": sum(j["data_fee_wei"] for j in jobs),
            "compute_fees_wei": sum(j["compute_fee_wei"] for j in jobs),
            "worker_payouts_wei": sum(int(a["amount"]) for a in c.market.logs("WorkerPaid", since)),
            "slashed_wei": sum(s.amount for s in c.slashes()),
            "refunded_wei": sum(int(a["amount"]) for a in c.market.logs("JobRefunded", since)),
            "dividends_distributed_wei": distributed,
            "dividends_withdrawn_wei": withdrawn,
            "dividends_withdrawable_wei": withdrawable,
            "escrow_wei": escrow, "stakes_wei": stakes, "owed_wei": owed,
            "compute_market_balance_wei": m.chain.balance(c.address),
        },
    }


def request(d: Dashboard, ref: str) -> dict[str, Any]:
    m = d.market
    database = d.request_ref(ref)
    block = d.block()
    info = m.request(database)
    names = d.request_names()
    token = m.token(database)
    holdings = m.holdings(database)
    supply = info.total_supply
    entries = [{"index": e.index, "cid": cid_from_digest(e.cid_digest), "contributor": e.contributor,
                "samples": e.samples, "shares": e.shares, "proposal_id": e.proposal_id, "block": e.block}
               for e in m.entries(database)]
    distributed = token.total_distributed()
    withdrawn = sum(h.withdrawn for h in holdings)
    withdrawable = sum(h.withdrawable for h in holdings)
    return {
        "block": block,
        "index": info.index, "name": info.name, "symbol": info.symbol, "database": database, "token": info.token,
        "spec_cid": info.spec_cid,
        "spec": d.blobs.json(info.spec_cid).as_json(),  # type: ignore[union-attr]  # a spec CID is never empty
        "rules": {"quorum_bps": info.rules.quorum_bps, "approval_bps": info.rules.approval_bps,
                  "voting_period": info.rules.voting_period, "max_shares": info.rules.max_shares},
        "total_supply": supply,
        "entries": entries,
        "samples": sum(e["samples"] for e in entries),
        "shareholders": [
            {"account": h.account, "balance": h.balance, "fraction": h.balance / supply if supply else 0.0,
             "votes": h.votes, "delegate": None if int(h.delegate, 16) == 0 else h.delegate,
             "withdrawable_wei": h.withdrawable, "withdrawn_wei": h.withdrawn,
             "earned_wei": h.withdrawable + h.withdrawn}
            for h in holdings
        ],
        # who votes with the shares: an oracle holds none, so it shows only here
        "voting_power": sorted(
            ({"account": a, "votes": token.votes(a),
              "delegated_by": [h.account for h in holdings if h.delegate == a and h.account != a]}
             for a in dict.fromkeys(h.delegate for h in holdings if int(h.delegate, 16) != 0)),
            key=lambda x: -int(x["votes"])),
        "dividends": {"distributed_wei": distributed, "withdrawn_wei": withdrawn, "withdrawable_wei": withdrawable,
                      # the accumulator rounds each holder's due down: at most a few wei stay in the token
                      "rounding_wei": distributed - withdrawn - withdrawable},
        "proposals": [d.proposal_row(p, names) for p in m.proposals(database)],
        "jobs": [d.job_row(j, names) for j in d.compute.jobs() if j.database == database],
    }


def proposal(d: Dashboard, ref: str) -> dict[str, Any]:
    m = d.market
    pid = d.proposal_id(ref)
    block = d.block()
    p = m.proposal(pid)
    row = d.proposal_row(p, d.request_names())
    token = m.token(p.database)
    supply = int(m.chain.call(token.contract.functions.getPastTotalSupply(p.snapshot)))
    rules = m.association.rules(p.database)
    cast = p.votes_for + p.votes_against
    votes = []
    for v in m.association.votes(pid):
        found = REPORT.search(v.reason)
        report = d.blobs.json(found.group(1)) if found else None
        votes.append({"voter": v.voter, "support": v.support, "weight": v.weight, "reason": v.reason,
                      "report": report.as_json() if report else None})
    entry = next(({"index": e.index, "block": e.block, "shares": e.shares} for e in m.entries(p.database)
                  if e.proposal_id == pid), None)
    new_rules = p.new_rules()
    return {
        **row,
        "block": block,
        "blocks_left": max(0, p.deadline - block) if row["state"] == "active" else 0,
        "supply_at_snapshot": supply,
        "votes_cast": cast,
        "turnout": cast / supply if supply else 0.0,
        "approval": p.votes_for / cast if cast else 0.0,
        "rules": {"quorum_bps": rules.quorum_bps, "approval_bps": rules.approval_bps,
                  "voting_period": rules.voting_period, "max_shares": rules.max_shares},
        "new_rules": None if new_rules is None or p.kind is not ProposalKind.RULES else {
            "quorum_bps": new_rules.quorum_bps, "approval_bps": new_rules.approval_bps,
            "voting_period": new_rules.voting_period, "max_shares": new_rules.max_shares},
        "votes": votes,
        "entry": entry,
    }
