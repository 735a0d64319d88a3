"""The computation-market part of the demo: a buyer pays to train a CNN on the accepted digits, with
every protection on, and one worker cheats.

Roles are more of the chain's funded dev accounts: a coordinator (approved by governance with the dev
attestation: there is no SGX/TDX here), a buyer, and as many workers as the job needs plus a spare,
each with its own account and stake. The job asks for triple modular redundancy, the paper's 5 % data
cap and 2-way model splitting: 3 groups x (one shard owner per 5 % of the data + a second stage). The
workers are simulated as identities hosted in two worker processes (one process each would cost ~250 MB
of PyTorch apiece), each identity with its own key and its own authenticated gRPC session to the
coordinator; the market cannot tell. One identity corrupts its weights: TMR catches it, it is
slashed on-chain and replaced by the spare. The coordinator reads the registry with its on-chain right,
trains, values every training sample in the trained model's embedding (exact KNN-Shapley on the job's
held-out split), seals the model to the buyer and settles: the compute fee split among the workers by
verified units; of the data fee, the request's value share (half) paid to the contributors by the
measured value of their data in this job (a Merkle root on-chain, each claims its own leaf) and the
rest as dividends to the shareholders by their shares; the slashed stake to the buyer. A curator then
recomputes the values from the buyer's model and the registry and checks them against the chain.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from databright.chain.keys import dev_keys
from databright.compute.attestation import approve
from databright.compute.buyer import buyer_spec, fetch_result, submit_job
from databright.compute.checkpoint import Progress as JobProgress
from databright.compute.coordinator import Coordinator, chain_admission
from databright.compute.data import load_registry, prepare
from databright.compute.evidence import verify_stored
from databright.compute.gateway import CoordinatorIdentity, Gateway
from databright.compute.handle import WorkerHandle
from databright.compute.schedule import schedule, workers_needed
from databright.compute.value_audit import claim, load_values, verify
from databright.demo.environment import DemoStore
from databright.demo.pool import HostedPool
from databright.market import Market
from databright.market.units import UNIT, format_amount

DATA_FEE = UNIT
COMPUTE_FEE = UNIT // 2
WORKER_STAKE = 2 * UNIT
FIRST_WORKER = 20  # dev account index of the first worker (the data market uses the ones before)
JOB = {"model": {"kind": "cnn"}, "training": {"epochs": 8, "batch_size": 64, "lr": 0.05, "seed": 1},
       "workers": 1, "unit_steps": 10, "eval_points": 8,
       "protections": {"redundancy": 3, "data_cap": 0.05, "split_stages": 2, "micro_batches": 2}}


@dataclass
class ComputeDemo:
    compute_market: str
    job_id: int = 0
    status: str = ""
    test_accuracy: float = 0.0
    workers: list[str] = field(default_factory=list)
    cheat: str = ""
    data_fee_wei: int = 0
    compute_fee_wei: int = 0
    worker_payouts_wei: dict[str, int] = field(default_factory=dict)
    slashed_stake_wei: int = 0
    evidence_checks: list[str] = field(default_factory=list)  # the slash's evidence, re-run: every check held
    dividends_withdrawn_wei: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    value_report: dict[str, Any] = field(default_factory=dict)
    value_claimed_wei: dict[str, int] = field(default_factory=dict)
    dividends_wei: dict[str, int] = field(default_factory=dict)  # this job's dividends per shareholder
    shares_wei: dict[str, int] = field(default_factory=dict)
    value_verified: bool = False
    model: bytes = b""

    def summary(self) -> dict[str, Any]:
        v = self.report.get("verification", {})
        cap = v.get("data_cap") or {}
        return {
            "job": {"id": self.job_id, "status": self.status, "test_accuracy": self.test_accuracy,
                    "redundancy": v.get("redundancy", 1), "groups_agreed": v.get("groups_agreed", 0),
                    "units_verified": v.get("units_verified", 0),
                    "deviations_detected": v.get("deviations_detected", 0),
                    "slashed_workers": v.get("slashed_workers", []), "data_cap": cap.get("cap"),
                    "max_worker_data_fraction": v.get("max_worker_data_fraction", 0.0),
                    "split_stages": v.get("split_stages", 1),
                    "max_worker_param_fraction": v.get("max_worker_param_fraction", 1.0),
                    "evidence_checks": self.evidence_checks, "workers": self.workers},
            "payments": {"data_fee_wei": self.data_fee_wei, "compute_fee_wei": self.compute_fee_wei,
                         "worker_payouts_wei": self.worker_payouts_wei,
                         "slashed_stake_wei": self.slashed_stake_wei,
                         "dividends_withdrawn_wei": self.dividends_withdrawn_wei,
                         "value_pool_wei": self.value_report.get("pool_wei", 0),
                         "value_claimed_wei": self.value_claimed_wei},
            "value": {"k": self.value_report.get("k"), "embedding": self.value_report.get("embedding", {}),
                      "verified": self.value_verified,
                      "contributors": {c["address"]: {"value": c["value"], "amount_wei": c["amount_wei"]}
                                       for c in self.value_report.get("contributors", [])}},
        }

    def value_details(self, names: dict[str, str]) -> dict[str, Any]:
        """Per shareholder and contributor: this job's dividends by shares beside its payout by value."""
        r = self.value_report
        people = {c["address"]: c for c in r.get("contributors", [])}
        rows = [{"name": names.get(a, a[:10]), "address": a, "shares_wei": self.shares_wei.get(a, 0),
                 "dividends_wei": self.dividends_wei.get(a, 0), "value": people.get(a, {}).get("value"),
                 "value_wei": int(people.get(a, {}).get("amount_wei", 0)),
                 "claimed_wei": self.value_claimed_wei.get(a, 0)}
                for a in dict.fromkeys([*self.shares_wei, *people])]
        return {"job": self.job_id, "pool_wei": r.get("pool_wei", 0), "value_share_bps": r.get("value_share_bps"),
                "data_fee_wei": self.data_fee_wei, "k": r.get("k"), "embedding": r.get("embedding", {}),
                "verified": self.value_verified, "rows": rows}

    def details(self, names: dict[str, str]) -> dict[str, Any]:
        """The job's numbers per worker, for the report's pictures."""
        r = self.report
        cap = r.get("verification", {}).get("data_cap") or {}
        slashed = set(r.get("verification", {}).get("slashed_workers", []))
        workers = [{"name": names.get(w["address"], w["address"][:10]), "address": w["address"],
                    "role": ", ".join(w.get("roles", [])) or ("slashed" if w["address"] in slashed else "replaced"),
                    "distinct_samples": w["distinct_samples"], "data_fraction": w["data_fraction"],
                    "parameters_held": w["parameters_held"], "parameter_fraction": w["parameter_fraction"],
                    "units": w["units"], "paid_wei": self.worker_payouts_wei.get(w["address"], 0),
                    "slashed": w["address"] in slashed} for w in r.get("workers", [])]
        return {**self.summary()["job"], "quota": cap.get("quota"),
                "train_samples": r.get("data", {}).get("train_samples", 0),
                "total_parameters": r.get("model", {}).get("parameters", 0), "curve": r.get("curve", []),
                "workers": workers}


def run_compute(market: Market, store: DemoStore, database: str, console: Console,
                names: dict[str, str]) -> ComputeDemo:
    accounts = market.chain.accounts()
    governance, coordinator, buyer = accounts[0], accounts[10], accounts[11]
    names.update({coordinator: "coordinator", buyer: "buyer"})
    result = ComputeDemo(market.deployment.compute_market)
    console.rule("[bold]DataBright computation market")
    approve(market.as_account(governance).compute, coordinator, coordinator)
    console.print(f"8. governance approves the coordinator {coordinator[:10]}… (dev attestation: no SGX/TDX here)")
    spec = buyer_spec(market.as_account(buyer), JOB, database)
    dataset_spec, cids, parts = load_registry(market, store.client(coordinator), database)
    n_train = prepare(parts, dataset_spec, spec.eval_fraction, spec.training.seed, cids).n_train
    needed = workers_needed(spec, n_train)
    worker_accounts = list(accounts[FIRST_WORKER : FIRST_WORKER + needed + 1])  # + a spare for the cheat
    result.cheat = worker_accounts[len(worker_accounts) // 2]
    names.update({w: f"worker {i + 1}" for i, w in enumerate(worker_accounts)})
    names[result.cheat] += " (cheat)"
    for w in worker_accounts:
        market.as_account(w).compute.register_worker(WORKER_STAKE)
    console.print(f"9. {len(worker_accounts)} workers stake {format_amount(WORKER_STAKE)} ETH each: the job needs "
                  f"3 groups x ({needed // 3 - 1} shard owners of ≤ 5 % of {n_train} samples + 1 second stage) "
                  f"= {needed}, plus a spare; {names[result.cheat]} will corrupt its weights")
    folder = Path(tempfile.mkdtemp(prefix="databright-coordinator-"))
    gateway = Gateway(folder, CoordinatorIdentity(coordinator, market.chain.chain_id, market.deployment.compute_market),
                      chain_admission(market.compute))
    gateway.start()
    keys = dev_keys(market.chain)
    pool = HostedPool(gateway, [keys[w] for w in worker_accounts], processes=2, faults={result.cheat: "corrupt:1.0"})
    handles = pool.handles
    # the story tells of the cheat and its slash itself (step 11 and the progress bar): no log lines in between
    loggers = [logging.getLogger(name) for name in ("databright.compute", "databright.coordinator",
                                                           "databright.gateway")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        _train(market, store, database, console, result, buyer, coordinator, handles, spec, n_train, names, folder)
    finally:
        pool.stop()
        gateway.stop()
        shutil.rmtree(folder, ignore_errors=True)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    _withdrawals(market, store, database, console, result, names)
    _audit(market, store, console, result, accounts[1], names)
    return result


def _train(market: Market, store: DemoStore, database: str, console: Console, result: ComputeDemo, buyer: str,
           coordinator: str, handles: list[WorkerHandle], spec: Any, n_train: int, names: dict[str, str],
           folder: Path) -> None:
    as_buyer = market.as_account(buyer)
    sub = submit_job(as_buyer, store.client(buyer), spec, DATA_FEE, COMPUTE_FEE, market.chain.now() + 3600)
    result.job_id, result.data_fee_wei, result.compute_fee_wei = sub.job_id, DATA_FEE, COMPUTE_FEE
    console.print(f"10. the buyer posts job {sub.job_id}: a CNN on the registry's digits with TMR, a 5 % data cap "
                  f"and 2-way splitting; {format_amount(DATA_FEE)} ETH data fee + {format_amount(COMPUTE_FEE)} "
                  f"ETH compute fee in escrow (spec {sub.spec_cid[:20]}…)")
    units = len(schedule(spec, n_train))
    columns = (TextColumn("  training"), BarColumn(), MofNCompleteColumn(), TextColumn("units"),
               TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("train", total=units, note="")

        def on_unit(job_id: int, progress: JobProgress) -> None:
            acc = progress.curve[-1]["eval_accuracy"] if progress.curve else float("nan")
            bar.update(task, completed=progress.units_done,
                       note=f"held-out {acc:.2f}, slashed {len(progress.deviations)}")

        service = Coordinator(market.as_account(coordinator), store.client(coordinator), folder,
                              workers=lambda: handles, on_unit=on_unit)
        (outcome,) = service.run_once()
    result.status = outcome.status
    job = market.compute.job(sub.job_id)
    result.workers = job.workers
    fetched = fetch_result(as_buyer, store.client(buyer), sub.job_id)
    result.report = fetched.report
    v = fetched.report["verification"]
    result.test_accuracy = float(fetched.report["final"]["eval_accuracy"])
    result.slashed_stake_wei = sum(s.amount for s in market.compute.slashes(sub.job_id))
    console.print(f"11. the coordinator read {len(market.entries(database))} registry entries with its right and "
                  f"trained on {len(job.workers)} workers: {v['groups_agreed']} of {v['units_verified']} units agreed "
                  f"across the 3 groups; {v['deviations_detected']} deviation caught, "
                  f"{', '.join(names.get(w, w[:10]) for w in v['slashed_workers']) or 'nobody'} slashed "
                  f"({format_amount(result.slashed_stake_wei)} ETH to the buyer); every worker saw ≤ "
                  f"{v['max_worker_data_fraction']:.1%} of the samples and held ≤ "
                  f"{v['max_worker_param_fraction']:.0%} of the parameters; job {job.state.name.lower()}")
    for slash in market.compute.slashes(sub.job_id):  # what `databright evidence verify CID` does, as a third party
        _, verdict = verify_stored(market, store.client(coordinator), slash.evidence_cid)
        result.evidence_checks = [what for what, ok in verdict.checks if ok] if verdict.ok else []
        console.print(f"  a third party checks the slash (databright evidence verify {slash.evidence_cid[:16]}…): "
                      f"re-running the unit, {sum(ok for _, ok in verdict.checks)} of {len(verdict.checks)} checks "
                      f"hold{'' if verdict.ok else ' — the evidence does NOT hold'}")
    curve = " → ".join(f"{c['eval_accuracy']:.2f}" for c in fetched.report["curve"])
    console.print(f"12. the buyer unseals the model ({len(fetched.model)} bytes, hash matches the chain's): "
                  f"held-out accuracy {curve}")
    result.worker_payouts_wei = market.compute.payouts(sub.job_id)
    result.model = fetched.model
    result.value_report = load_values(as_buyer, store.client(buyer), sub.job_id).report
    _print_values(console, market, database, result, names)


def _print_values(console: Console, market: Market, database: str, result: ComputeDemo,
                  names: dict[str, str]) -> None:
    r = result.value_report
    supply = market.token(database).total_supply()
    dividends = result.data_fee_wei - r["paid_wei"]
    console.print(f"13. before settling, the coordinator valued each of the {r['train_samples']} training samples "
                  f"(exact KNN-Shapley, k = {r['k']}, in the model's {r['embedding']['kind']} of "
                  f"{r['embedding']['dims']} dims) on the {r['eval_samples']} held-out ones: "
                  f"{r['value_share_bps'] / 100:g} % of the data fee ({format_amount(r['pool_wei'])} ETH) is paid "
                  f"by value, {format_amount(dividends)} ETH as dividends by shares")
    table = Table("contributor", "shares", "share of the supply", "value in this job", "dividends ETH",
                  "paid by value ETH", title=f"job {result.job_id}'s data fee: by shares beside by value")
    for c in r["contributors"]:
        shares = market.token(database).balance_of(c["address"])
        table.add_row(names.get(c["address"], c["address"][:10]), format_amount(shares),
                      f"{100 * shares / supply:.1f} %", f"{c['value']:+.3f}",
                      format_amount(dividends * shares // supply, 6), format_amount(c["amount_wei"], 6))
    console.print(table)
    held = {c["address"]: market.token(database).balance_of(c["address"]) for c in r["contributors"]}
    worth = {c["address"]: max(c["value"], 0.0) for c in r["contributors"]}
    if sum(held.values()) and sum(worth.values()):
        low = min(held, key=lambda a: worth[a] / sum(worth.values()) - held[a] / sum(held.values()))
        console.print(f"  {names.get(low, low[:10])} holds {held[low] / sum(held.values()):.0%} of the contributors' "
                      f"shares, but its data is {worth[low] / sum(worth.values()):.0%} of their value in this job: "
                      "its shares pay it more than its data helped")


def _withdrawals(market: Market, store: DemoStore, database: str, console: Console, result: ComputeDemo,
                 names: dict[str, str]) -> None:
    paid = result.worker_payouts_wei
    for worker in paid:
        market.as_account(worker).compute.withdraw()
    table = Table("workers paid", "verified units each", "paid each (ETH)", "total (ETH)",
                  title="compute fee by verified units")
    units = {w["address"]: w["units"] for w in result.report.get("workers", [])}
    by_units: dict[int, list[str]] = {}
    for worker in paid:
        by_units.setdefault(units.get(worker, 0), []).append(worker)
    for u, group in sorted(by_units.items(), reverse=True):
        table.add_row(str(len(group)), str(u), format_amount(paid[group[0]], 6),
                      format_amount(sum(paid[w] for w in group), 6))
    console.print(table)
    if result.cheat and result.cheat not in paid:
        console.print(f"  {names.get(result.cheat, result.cheat)} is paid nothing: its work deviated")
    for h in market.holdings(database):
        result.shares_wei[h.account] = h.balance
        if h.withdrawable > 0:
            wei = market.as_account(h.account).withdraw(database)
            result.dividends_wei[h.account] = wei
            result.dividends_withdrawn_wei += wei
    for c in result.value_report.get("contributors", []):
        if int(c["amount_wei"]) > 0:
            who = c["address"]
            result.value_claimed_wei[who] = claim(market.as_account(who), store.client(who), result.job_id)
    withdrawn = format_amount(result.dividends_withdrawn_wei)
    claimed = format_amount(sum(result.value_claimed_wei.values()))
    console.print(f"14. workers withdraw their pay; shareholders withdraw {withdrawn} ETH of dividends by shares; "
                  f"{len(result.value_claimed_wei)} contributors each claim their value payout on-chain with a "
                  f"Merkle proof ({claimed} ETH in all)")


def _audit(market: Market, store: DemoStore, console: Console, result: ComputeDemo, curator: str,
           names: dict[str, str]) -> None:
    """A curator (who may read the registry) recomputes the values from the model the buyer shared."""
    audit = verify(market.as_account(curator), store.client(curator), result.job_id, result.model)
    result.value_verified = audit.ok
    verdict = "holds" if audit.ok else f"does not hold: {'; '.join(audit.problems)}"
    console.print(f"15. {names.get(curator, 'curator 1')} recomputes the values from the buyer's model and the "
                  f"registry ({len(audit.checked)} checks): the value report and the on-chain root {verdict}")
