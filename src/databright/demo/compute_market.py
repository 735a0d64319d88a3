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
trains, seals the model to the buyer and settles: the compute fee split among the workers by verified
units, the data fee paid as dividends to the dataset's shareholders, the slashed stake to the buyer.
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
from databright.compute.gateway import CoordinatorIdentity, Gateway
from databright.compute.handle import WorkerHandle
from databright.compute.schedule import schedule, workers_needed
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
    dividends_withdrawn_wei: int = 0
    report: dict[str, Any] = field(default_factory=dict)

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
                    "workers": self.workers},
            "payments": {"data_fee_wei": self.data_fee_wei, "compute_fee_wei": self.compute_fee_wei,
                         "worker_payouts_wei": self.worker_payouts_wei,
                         "slashed_stake_wei": self.slashed_stake_wei,
                         "dividends_withdrawn_wei": self.dividends_withdrawn_wei},
        }

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
    _withdrawals(market, database, console, result, names)
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
    curve = " → ".join(f"{c['eval_accuracy']:.2f}" for c in fetched.report["curve"])
    console.print(f"12. the buyer unseals the model ({len(fetched.model)} bytes, hash matches the chain's): "
                  f"held-out accuracy {curve}")
    result.worker_payouts_wei = market.compute.payouts(sub.job_id)


def _withdrawals(market: Market, database: str, console: Console, result: ComputeDemo,
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
        if h.withdrawable > 0:
            result.dividends_withdrawn_wei += market.as_account(h.account).withdraw(database)
    withdrawn = format_amount(result.dividends_withdrawn_wei)
    console.print(f"13. workers withdraw their pay; shareholders withdraw {withdrawn} ETH of dividends "
                  "from the data fee")
