"""Commands that run or pay for training: `job submit|result`, `worker start`, `coordinator start`.

They sit beside the chain-only compute commands (cli/compute.py) on the same sub-apps; these need
the store, Ray or PyTorch, so they are kept apart and import those only when they run.
"""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path
from typing import Annotated

import typer

from databright.cli.common import console, errors_to_exit, market, store_client
from databright.cli.compute import coordinator_app, job_app, worker_app
from databright.compute.errors import ComputeError
from databright.config import home
from databright.market.units import format_amount, parse_amount

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`90`, `90s`, `15m`, `2h`, `1d` → seconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ComputeError(f"a deadline is a positive duration such as 600, 15m, 2h or 1d, not {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


@job_app.command("submit")
@errors_to_exit
def job_submit(
    ctx: typer.Context,
    spec: Annotated[Path, typer.Argument(help="Job spec (JSON): model, training, workers, protections.")],
    data_fee: Annotated[str, typer.Option("--data-fee", help="ETH paid as dividends to the dataset's holders.")],
    compute_fee: Annotated[str, typer.Option("--compute-fee", help="ETH split among workers by verified units.")],
    deadline: Annotated[str, typer.Option(help="Time to finish, e.g. 2h; after it you can take a refund.")] = "1h",
    request: Annotated[str | None, typer.Option(help="The dataset (request index or database), if the spec "
                                                     "does not name it.")] = None,
) -> None:
    """Store a job spec and post the job with its payment in escrow."""
    from databright.compute.buyer import buyer_spec, load_spec_fields, submit_job

    m = market(ctx)
    job_spec = buyer_spec(m, load_spec_fields(spec), request)
    data_wei, compute_wei = parse_amount(data_fee, "data fee"), parse_amount(compute_fee, "compute fee")
    due = m.chain.now() + parse_duration(deadline)
    with store_client(ctx, m) as store:
        submitted = submit_job(m, store, job_spec, data_wei, compute_wei, due)
    console.print(f"job [bold]{submitted.job_id}[/] posted: spec {submitted.spec_cid}, "
                  f"{format_amount(data_wei)} ETH data fee + {format_amount(compute_wei)} ETH compute fee in "
                  f"escrow until {deadline} from now")


@job_app.command("result")
@errors_to_exit
def job_result(
    ctx: typer.Context,
    job: Annotated[int, typer.Argument(help="Job id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the model (torch.load-able).")],
    report: Annotated[Path | None, typer.Option(help="Where to write the job's report (JSON).")] = None,
) -> None:
    """Download and unseal a completed job's model (buyer only); its hash is checked against the chain."""
    import json

    from databright.compute.buyer import fetch_result

    m = market(ctx)
    with store_client(ctx, m) as store:
        result = fetch_result(m, store, job)
    output.write_bytes(result.model)
    if report is not None:
        report.write_text(json.dumps(result.report, indent=1))
    final = result.report.get("final", {})
    console.print(f"model of job {job} written to {output} ({len(result.model)} bytes, sha-256 matches the chain); "
                  f"held-out accuracy {final.get('eval_accuracy', float('nan')):.3f}")


@worker_app.command("start")
@errors_to_exit
def worker_start(
    ctx: typer.Context,
    stake: Annotated[str, typer.Option(help="ETH to stake (topped up to this if already registered).")] = "1",
    ray_address: Annotated[str | None, typer.Option("--ray", help="Join this Ray cluster (host:port); "
                                                                  "default: start a local one.")] = None,
    fault: Annotated[str | None, typer.Option(hidden=True, help="Test only: misbehave (corrupt:P, "
                                                                "crash-after:N, hang-after:N, slow:F).")] = None,
) -> None:
    """Stake and serve as a worker (a Ray actor with this account's identity) until Ctrl-C."""
    from databright.compute.worker_service import serve_until_stopped, start_worker

    m = market(ctx)
    # a polite kill ends like Ctrl-C, so the actor is stopped and a local Ray instance shut down with us
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = start_worker(m, parse_amount(stake, "stake"), ray_address, fault)
    console.print(f"worker {m.account} serving on Ray at {started.ray_address} "
                  f"(staked {format_amount(started.staked)} ETH now); Ctrl-C to stop")
    try:
        serve_until_stopped(started)
    except KeyboardInterrupt:
        console.print("worker stopped")


@coordinator_app.command("start")
@errors_to_exit
def coordinator_start(
    ctx: typer.Context,
    ray_address: Annotated[str | None, typer.Option("--ray", help="The workers' Ray cluster (host:port); "
                                                                  "default: the one `worker start` opened.")] = None,
    once: Annotated[bool, typer.Option(help="Handle the open jobs once and exit.")] = False,
    folder: Annotated[Path | None, typer.Option(help="Where progress and checkpoints are kept.")] = None,
) -> None:
    """Follow posted jobs: accept, train on the workers, seal the model, settle on-chain."""
    from databright.compute.coordinator import Coordinator
    from databright.compute.pool import ensure_ray, recorded_cluster

    m = market(ctx)
    if not m.compute.is_coordinator(m.account):
        raise ComputeError(f"{m.account} is not an approved coordinator: governance approves it with "
                           "`databright coordinator approve`")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per store request drowns the job's story
    ensure_ray(ray_address or recorded_cluster())
    where = folder or home() / "coordinator" / f"{m.chain.chain_id}-{m.deployment.compute_market}"
    with store_client(ctx, m) as store:
        service = Coordinator(m, store, where)
        if once:
            for outcome in service.run_once():
                console.print(f"job {outcome.job_id}: {outcome.status} {outcome.detail}")
            return
        console.print(f"coordinator {m.account} following jobs (state in {where}); Ctrl-C to stop")
        try:
            service.run()
        except KeyboardInterrupt:
            console.print("coordinator stopped")
