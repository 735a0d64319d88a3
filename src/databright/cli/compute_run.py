"""Commands that run or pay for training: `job submit|result`, `worker start`, `coordinator start`.

They sit beside the chain-only compute commands (cli/compute.py) on the same sub-apps; these need
the store, the worker protocol or PyTorch, so they are kept apart and import those only when they run.
"""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from databright.cli.common import console, errors_to_exit, market, store_client
from databright.cli.compute import coordinator_app, evidence_app, job_app, worker_app
from databright.compute.errors import ComputeError
from databright.config import home
from databright.market.units import format_amount, parse_amount
from databright.private_file import read_private_file

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
KEY_FILE_LIMIT = 1 << 20  # ~15,000 keys; a larger --key-file is a mistake, not a key list


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


def parse_identities(text: str) -> list[int]:
    """`12` or `12..15` (inclusive) → dev account indices."""
    first, sep, last = text.partition("..")
    try:
        lo, hi = int(first), int(last) if sep else int(first)
    except ValueError:
        raise ComputeError(f"--identities is an account index or a range such as 12..15, not {text!r}") from None
    if lo < 0 or hi < lo:
        raise ComputeError(f"--identities {text!r} is an empty range")
    return list(range(lo, hi + 1))


def read_key_file(path: Path) -> list[LocalAccount]:
    """The identities of a `--key-file` (one 0x-prefixed private key per line). Like ssh with its keys,
    a file that others on the machine can read is refused: those keys hold the worker's stake."""
    from eth_account import Account

    try:
        data = read_private_file(path, ComputeError, KEY_FILE_LIMIT + 1)
    except ComputeError as exc:
        raise ComputeError(f"--key-file {exc}") from None
    except OSError as exc:
        raise ComputeError(f"--key-file {path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > KEY_FILE_LIMIT:
        raise ComputeError(f"--key-file {path} is larger than {KEY_FILE_LIMIT >> 20} MiB: not a key file")
    lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        raise ComputeError(f"--key-file {path} holds no keys (one 0x... private key per line)")
    keys = []
    for number, line in enumerate(lines, 1):
        try:
            keys.append(Account.from_key(line))
        except (ValueError, TypeError):
            raise ComputeError(f"--key-file {path}: key {number} is not a private key (64 hex digits)") from None
    return keys


@worker_app.command("start")
@errors_to_exit
def worker_start(
    ctx: typer.Context,
    stake: Annotated[str, typer.Option(help="ETH to stake (topped up to this if already registered).")] = "1",
    coordinator: Annotated[str | None, typer.Option(help="Serve this coordinator (its address, or the endpoint "
                                                         "it published); default: every approved coordinator "
                                                         "with a published endpoint.")] = None,
    identities: Annotated[str | None, typer.Option(help="Host these dev accounts in this process, e.g. 12..15 "
                                                        "(each its own key, stake and session); default: -a.")]
    = None,
    key_file: Annotated[Path | None, typer.Option(help="Host the identities whose private keys this file "
                                                       "holds (one 0x... per line; keep it 0600) instead of "
                                                       "the chain's dev keys.")] = None,
) -> None:
    """Stake and serve as a worker (dialling out to the coordinators; nothing listens) until Ctrl-C."""
    import time

    from databright.compute.worker_service import start_workers

    m = market(ctx)
    keys = None
    if key_file is not None:
        keys = read_key_file(key_file)
        accounts = [str(k.address) for k in keys]
    else:
        accounts = [m.chain.accounts()[i] for i in parse_identities(identities)] if identities else [m.account]
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a polite kill ends like Ctrl-C
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    started = start_workers(m, accounts, parse_amount(stake, "stake"), coordinator, keys)
    for address, sent in started.staked.items():
        console.print(f"worker {address} staked (sent {format_amount(sent)} ETH now)")
    announced: set[int] = set()
    try:
        while True:
            for i, agent in enumerate(started.host.agents):
                if agent.sessions and i not in announced:
                    announced.add(i)
                    console.print(f"worker {agent.address} serving coordinator {agent.endpoint.coordinator} "
                                  f"at {agent.endpoint.url}")
            time.sleep(0.2)
    except KeyboardInterrupt:
        started.host.stop()
        console.print("worker stopped")


@coordinator_app.command("start")
@errors_to_exit
def coordinator_start(
    ctx: typer.Context,
    listen: Annotated[str, typer.Option(help="Where workers dial in (host:port).")] = "127.0.0.1:7443",
    public: Annotated[str | None, typer.Option(help="The endpoint to publish on-chain, if workers reach this "
                                                    "machine by another address; default: --listen.")] = None,
    once: Annotated[bool, typer.Option(help="Handle the open jobs once and exit.")] = False,
    folder: Annotated[Path | None, typer.Option(help="Where progress, checkpoints and the TLS key are kept.")] = None,
) -> None:
    """Serve workers (gRPC over TLS, endpoint and certificate published on-chain) and follow posted jobs:
    accept, train on the workers, seal the model, settle on-chain."""
    from databright.compute.coordinator import Coordinator, chain_admission
    from databright.compute.gateway import CoordinatorIdentity, Gateway
    from databright.worker.tls import split_url

    m = market(ctx)
    if not m.compute.is_coordinator(m.account):
        raise ComputeError(f"{m.account} is not an approved coordinator: governance approves it with "
                           "`databright coordinator approve`")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per store request drowns the job's story
    where = folder or home() / "coordinator" / f"{m.chain.chain_id}-{m.deployment.compute_market}"
    host, port = split_url(listen)
    gateway = Gateway(where, CoordinatorIdentity(m.account, m.chain.chain_id, m.deployment.compute_market),
                      chain_admission(m.compute), host=host, port=port)
    url = gateway.start()
    endpoint = public or url
    published = m.compute.coordinator_endpoint(m.account)
    if published is None or (published.url, published.cert_sha256) != (endpoint, gateway.cert_sha256):
        m.compute.set_coordinator_endpoint(endpoint, gateway.cert_sha256)
    console.print(f"coordinator {m.account} takes workers at {endpoint} (certificate sha-256 "
                  f"{gateway.cert_sha256[:16]}…, published on-chain)")
    try:
        with store_client(ctx, m) as store:
            service = Coordinator(m, store, where, workers=gateway.handles, patience=60.0)
            if once:
                for outcome in service.run_once():
                    console.print(f"job {outcome.job_id}: {outcome.status} {outcome.detail}")
                return
            console.print(f"coordinator {m.account} following jobs (state in {where}); Ctrl-C to stop")
            try:
                service.run()
            except KeyboardInterrupt:
                console.print("coordinator stopped")
    finally:
        gateway.stop()


@evidence_app.command("verify")
@errors_to_exit
def evidence_verify(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="The slash's evidence CID (the WorkerSlashed event names it).")],
) -> None:
    """Check a slash: every signature and hash of the evidence, and a re-run of the unit on the dataset
    (you need a read right on it)."""
    from databright.compute.evidence import verify_stored

    m = market(ctx)
    with store_client(ctx, m) as store:
        evidence, verdict = verify_stored(m, store, cid)
    for what, ok in verdict.checks:
        console.print(f"{'[green]ok[/]' if ok else '[red]FAILED[/]'}  {what}")
    if not verdict.ok:
        raise ComputeError(f"evidence {cid} does not hold: {sum(not ok for _, ok in verdict.checks)} checks failed")
    console.print(f"evidence {cid} holds: worker {evidence['worker']} signed a result the re-run contradicts")
