"""The computation-market part of the demo: a buyer pays to train a CNN on the accepted digits.

Roles are more of the chain's funded dev accounts: a coordinator (approved by governance with the
dev attestation: there is no SGX/TDX here), a buyer, three workers and a spare, each worker a Ray
actor with its own account and stake. The coordinator reads the registry's data with its on-chain
right, trains on the workers, seals the model to the buyer and settles: the compute fee split among
the workers by verified units, the data fee paid as dividends to the dataset's shareholders.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from databright.compute.attestation import approve
from databright.compute.buyer import buyer_spec, fetch_result, submit_job
from databright.compute.coordinator import Coordinator
from databright.compute.pool import WorkerHandle, ensure_ray, kill_worker, spawn_workers
from databright.demo.environment import DemoStore
from databright.market import Market
from databright.market.units import UNIT, format_amount

DATA_FEE = UNIT
COMPUTE_FEE = UNIT // 2
WORKER_STAKE = 2 * UNIT
JOB = {"model": {"kind": "cnn"}, "training": {"epochs": 6, "batch_size": 64, "lr": 0.05, "seed": 1},
       "workers": 3, "unit_steps": 10}


@dataclass
class ComputeDemo:
    compute_market: str
    job_id: int = 0
    status: str = ""
    test_accuracy: float = 0.0
    workers: list[str] = field(default_factory=list)
    data_fee_wei: int = 0
    compute_fee_wei: int = 0
    worker_payouts_wei: dict[str, int] = field(default_factory=dict)
    dividends_withdrawn_wei: int = 0
    report: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        verification = self.report.get("verification", {})
        return {
            "job": {"id": self.job_id, "status": self.status, "test_accuracy": self.test_accuracy,
                    "redundancy": verification.get("redundancy", 1), "workers": self.workers,
                    "max_worker_data_fraction": verification.get("max_worker_data_fraction", 0.0)},
            "payments": {"data_fee_wei": self.data_fee_wei, "compute_fee_wei": self.compute_fee_wei,
                         "worker_payouts_wei": self.worker_payouts_wei,
                         "dividends_withdrawn_wei": self.dividends_withdrawn_wei},
        }


def run_compute(market: Market, store: DemoStore, database: str, console: Console,
                names: dict[str, str]) -> ComputeDemo:
    accounts = market.chain.accounts()
    governance, coordinator, buyer = accounts[0], accounts[10], accounts[11]
    worker_accounts = accounts[12:16]
    names.update({coordinator: "coordinator", buyer: "buyer"} | {w: f"worker {i + 1}" for i, w in
                                                                  enumerate(worker_accounts)})
    result = ComputeDemo(market.deployment.compute_market)
    console.rule("[bold]DataBright computation market")
    approve(market.as_account(governance).compute, coordinator, coordinator)
    console.print(f"8. governance approves the coordinator {coordinator[:10]}… (dev attestation: no SGX/TDX here)")
    for w in worker_accounts:
        market.as_account(w).compute.register_worker(WORKER_STAKE)
    console.print(f"9. four workers stake {format_amount(WORKER_STAKE)} ETH each; starting Ray and their actors")
    ensure_ray()
    handles = spawn_workers(list(worker_accounts), namespace="databright-demo")
    try:
        _train(market, store, database, console, result, buyer, coordinator, handles)
    finally:
        for h in handles:
            kill_worker(h)
    _withdrawals(market, database, console, result, names)
    return result


def _train(market: Market, store: DemoStore, database: str, console: Console, result: ComputeDemo,
           buyer: str, coordinator: str, handles: list[WorkerHandle]) -> None:
    as_buyer = market.as_account(buyer)
    spec = buyer_spec(as_buyer, dict(JOB), database)
    deadline = market.chain.now() + 3600
    sub = submit_job(as_buyer, store.client(buyer), spec, DATA_FEE, COMPUTE_FEE, deadline)
    result.job_id, result.data_fee_wei, result.compute_fee_wei = sub.job_id, DATA_FEE, COMPUTE_FEE
    console.print(f"10. the buyer posts job {sub.job_id}: a CNN on the registry's digits, {spec.workers} "
                  f"data-parallel workers, {format_amount(DATA_FEE)} ETH data fee + "
                  f"{format_amount(COMPUTE_FEE)} ETH compute fee in escrow (spec {sub.spec_cid[:20]}…)")
    with tempfile.TemporaryDirectory(prefix="databright-coordinator-") as folder:
        service = Coordinator(market.as_account(coordinator), store.client(coordinator), Path(folder),
                              workers=lambda: handles)
        (outcome,) = service.run_once()
    result.status = outcome.status
    job = market.compute.job(sub.job_id)
    result.workers = job.workers
    console.print(f"11. the coordinator accepted, read {len(market.entries(database))} registry entries with its "
                  f"right, trained on workers {', '.join(w[:8] for w in job.workers)} and settled: job "
                  f"{job.state.name.lower()}")
    fetched = fetch_result(as_buyer, store.client(buyer), sub.job_id)
    result.report = fetched.report
    result.test_accuracy = float(fetched.report["final"]["eval_accuracy"])
    curve = " → ".join(f"{c['eval_accuracy']:.2f}" for c in fetched.report["curve"])
    console.print(f"12. the buyer unseals the model ({len(fetched.model)} bytes, hash matches the chain's): "
                  f"held-out accuracy by epoch {curve}")
    result.worker_payouts_wei = market.compute.payouts(sub.job_id)


def _withdrawals(market: Market, database: str, console: Console, result: ComputeDemo,
                 names: dict[str, str]) -> None:
    table = Table("worker", "units", "paid (ETH)", title="compute fee by verified units")
    units = {w["address"]: w["units"] for w in result.report.get("workers", [])}
    for worker, paid in result.worker_payouts_wei.items():
        market.as_account(worker).compute.withdraw()
        table.add_row(names.get(worker, worker), str(units.get(worker, 0)), format_amount(paid, 6))
    console.print(table)
    for h in market.holdings(database):
        if h.withdrawable > 0:
            result.dividends_withdrawn_wei += market.as_account(h.account).withdraw(database)
    withdrawn = format_amount(result.dividends_withdrawn_wei)
    console.print(f"13. workers withdraw their pay; shareholders withdraw {withdrawn} ETH of dividends "
                  "from the data fee")
