"""Commands of the compute market: jobs, workers, coordinators, earnings.

The Typer apps are module-level (`job_app`, `worker_app`, `coordinator_app`) so that the
services' commands (`job submit`, `worker start`, `coordinator start`, ...) can join them.
Amounts are typed in ether and shown in ether; the chain holds wei.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from web3 import Web3

from databright.chain.compute_market import Job, JobState
from databright.cli.common import console, errors_to_exit, market, short
from databright.compute.attestation import AttestationVerifier, DevAttestation, SgxDcapVerifier, approve
from databright.errors import ConfigError
from databright.market import Market
from databright.market.units import format_amount, parse_amount

job_app = typer.Typer(help="Training jobs: their state, and refunds after a missed deadline.", no_args_is_help=True)
worker_app = typer.Typer(help="Work for the compute market: stake, and leave.", no_args_is_help=True)
coordinator_app = typer.Typer(help="Trusted coordinators: approval by governance.", no_args_is_help=True)
evidence_app = typer.Typer(help="Slash evidence: check it yourself.", no_args_is_help=True)

JobArg = Annotated[int, typer.Argument(help="Job id (see `job list`).")]
VERIFIERS: dict[str, type[DevAttestation] | type[SgxDcapVerifier]] = {
    "dev": DevAttestation, "sgx-dcap": SgxDcapVerifier,
}


def account_arg(m: Market, text: str) -> str:
    """An account typed as an index into the node's accounts or as an address."""
    if text.isdigit():
        accounts = m.chain.accounts()
        if int(text) >= len(accounts):
            raise ConfigError(f"account index {text} out of range: this node has {len(accounts)} accounts")
        return accounts[int(text)]
    if not Web3.is_address(text):
        raise ConfigError(f"not an address or account index: {text!r}")
    return str(Web3.to_checksum_address(text))


def when(deadline: int, now: int) -> str:
    """A deadline as UTC time and how far it is from the chain's clock."""
    stamp = datetime.fromtimestamp(deadline, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = deadline - now
    return f"{stamp} ({'in ' + _span(delta) if delta >= 0 else 'passed ' + _span(-delta) + ' ago'})"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _eth(wei: int) -> str:
    return f"{format_amount(wei, 6)} ETH"


def _dataset_names(m: Market) -> dict[str, str]:
    return {r.database: f"#{r.index} {r.name}" for r in m.requests()}


# ---------------------------------------------------------------- jobs


@job_app.command("status")
@errors_to_exit
def job_status(ctx: typer.Context, job: JobArg) -> None:
    """Show a job: dataset, fees, deadline, coordinator, workers and, once completed, its result."""
    m = market(ctx)
    j = m.compute.job(job)
    console.print(f"[bold]job #{j.id}[/] {j.state.name.lower()}")
    console.print(f"buyer {j.buyer}  dataset {_dataset_names(m).get(j.database, '?')} ({j.database})")
    console.print(f"spec {j.spec_cid}")
    console.print(f"fees: data {_eth(j.data_fee)} (to the shareholders), "
                  f"compute {_eth(j.compute_fee)} (to the workers)")
    console.print(f"deadline {when(j.deadline, m.chain.now())}")
    console.print(f"coordinator {j.coordinator or 'none yet'}")
    if j.workers:
        payouts = m.compute.payouts(j.id)
        slashed = {s.worker: s for s in m.compute.slashes(j.id)}
        table = Table("worker", "units", "paid ETH", "slashed", title="workers")
        for w in j.workers:
            s = slashed.get(w)
            table.add_row(w, str(m.compute.units_of(j.id, w)) if j.state is JobState.COMPLETED else "-",
                          format_amount(payouts.get(w, 0), 6),
                          f"{format_amount(s.amount, 6)} ETH, evidence {s.evidence_cid}" if s else "-")
        console.print(table)
    if j.state is JobState.COMPLETED:
        console.print(f"result {j.result_cid}\nreport {j.report_cid}\nmodel sha256 {j.model_hash}\n"
                      f"verified units {j.total_units}")


@job_app.command("list")
@errors_to_exit
def job_list(
    ctx: typer.Context,
    buyer: Annotated[str | None, typer.Option(help="Only this buyer's jobs (an address or account index).")] = None,
) -> None:
    """List jobs with their state, fees and deadline."""
    m = market(ctx)
    jobs = m.compute.jobs(buyer=account_arg(m, buyer) if buyer is not None else None)
    _print_jobs(m, jobs)


def _print_jobs(m: Market, jobs: list[Job]) -> None:
    names, now = _dataset_names(m), m.chain.now()
    table = Table("id", "buyer", "dataset", "state", "data fee ETH", "compute fee ETH", "deadline", "coordinator",
                  "workers")
    for j in jobs:
        table.add_row(str(j.id), short(j.buyer), names.get(j.database, short(j.database)), j.state.name.lower(),
                      format_amount(j.data_fee, 6), format_amount(j.compute_fee, 6), when(j.deadline, now),
                      short(j.coordinator) if j.coordinator else "-", str(len(j.workers)))
    console.print(table)


@job_app.command("refund")
@errors_to_exit
def job_refund(ctx: typer.Context, job: JobArg) -> None:
    """Return the fees of a job that missed its deadline to its buyer (anyone may ask)."""
    m = market(ctx)
    wei = m.compute.refund(job)
    buyer = m.compute.job(job).buyer
    console.print(f"job #{job} refunded: {_eth(wei)} credited to {buyer}; `databright withdraw` (as the buyer) "
                  "sends it")


# ---------------------------------------------------------------- coordinators


@coordinator_app.command("approve")
@errors_to_exit
def coordinator_approve(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The coordinator's account (an address or account index).")],
    signing_key: Annotated[str | None, typer.Option(
        help="Address of the key its results are signed with (default: the account itself).")] = None,
    quote: Annotated[Path | None, typer.Option(
        help="Its attestation quote (file). Default with --attestation dev: the dev self-description.")] = None,
    attestation: Annotated[str, typer.Option(
        help="How the quote is verified: dev (no enclave, proves nothing) or sgx-dcap.")] = "dev",
) -> None:
    """Approve a coordinator after verifying its attestation (governance only)."""
    if attestation not in VERIFIERS:
        raise ConfigError(f"--attestation is one of {', '.join(VERIFIERS)}, not {attestation!r}")
    m = market(ctx)
    account = account_arg(m, address)
    key = account_arg(m, signing_key) if signing_key is not None else account
    if quote is not None and not quote.is_file():
        raise ConfigError(f"no quote file at {quote}")
    verifier: AttestationVerifier = VERIFIERS[attestation]()
    info = approve(m.compute, account, key, verifier, quote.read_bytes() if quote is not None else None)
    console.print(f"approved coordinator {info.address} (signing key {info.signing_key}, quote sha256 "
                  f"{info.quote_hash}) at block {info.approved_block}")
    if attestation == "dev":
        console.print("note: a dev attestation proves nothing about the machine (no SGX/TDX enclave)")


@coordinator_app.command("revoke")
@errors_to_exit
def coordinator_revoke(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The coordinator's account (an address or account index).")],
) -> None:
    """Revoke a coordinator: it can no longer accept jobs or act on those it holds (governance only)."""
    m = market(ctx)
    account = account_arg(m, address)
    m.compute.revoke_coordinator(account)
    console.print(f"revoked coordinator {account}; its unfinished jobs are refundable after their deadline")


# ---------------------------------------------------------------- workers


@worker_app.command("register")
@errors_to_exit
def worker_register(
    ctx: typer.Context,
    stake: Annotated[str, typer.Option(help="Ether to stake (at least the market's minimum; adds to a stake).")],
) -> None:
    """Register the acting account as a worker with a stake, or add to its stake."""
    m = market(ctx)
    info = m.compute.register_worker(parse_amount(stake, "stake"))
    console.print(f"worker {info.address} registered with a stake of {_eth(info.stake)} "
                  f"(minimum {_eth(m.compute.min_stake)})")


@worker_app.command("leave")
@errors_to_exit
def worker_leave(ctx: typer.Context) -> None:
    """Stop working for the market; the stake becomes withdrawable."""
    m = market(ctx)
    wei = m.compute.leave()
    console.print(f"worker {m.account} left; its stake of {_eth(wei)} is withdrawable with `databright withdraw`")


@errors_to_exit
def workers(ctx: typer.Context) -> None:
    """List the compute market's workers: stake, open jobs, earnings."""
    m = market(ctx)
    table = Table("address", "stake ETH", "open jobs", "registered", "earnings ETH")
    for w in m.compute.workers():
        table.add_row(w.address, format_amount(w.stake, 6), str(w.open_jobs), "yes" if w.registered else "no",
                      format_amount(m.compute.earnings(w.address), 6))
    console.print(table)
    console.print(f"minimum stake {_eth(m.compute.min_stake)}")


@errors_to_exit
def earnings(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Whose (address or account index); default: yours.")] = None,
) -> None:
    """What an account earned for verified work, and what it may withdraw from the compute market."""
    m = market(ctx)
    who = account_arg(m, address) if address is not None else m.account
    console.print(f"{who}: earned {_eth(m.compute.earnings(who))} for verified work; "
                  f"withdrawable {_eth(m.compute.balance(who))} from the compute market")


@errors_to_exit
def withdraw(ctx: typer.Context) -> None:
    """Withdraw your compute-market balance (payouts, refunds, a stake after leaving)."""
    m = market(ctx)
    wei = m.compute.withdraw()
    console.print(f"withdrew {_eth(wei)} from the compute market to {m.account}")


def register(app: typer.Typer) -> None:
    """Adds the compute-market commands to the top-level app."""
    app.add_typer(job_app, name="job")
    app.add_typer(worker_app, name="worker")
    app.add_typer(coordinator_app, name="coordinator")
    app.add_typer(evidence_app, name="evidence")
    for command in (workers, earnings, withdraw):
        app.command()(command)
