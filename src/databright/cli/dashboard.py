"""`databright serve`: the web dashboard over the chain chosen by --rpc and the store chosen by --store.

The dashboard only reads (visitors act with their own browser wallets, which sign in the
browser), but reports and data in the store are readable only with a right on-chain, so it signs
its own store reads as one account. `-a/--account` picks it, as for every
command; without it the dashboard reads as the first dev account the compute market approves as
a coordinator (coordinators may read job reports, the data voted on and the oracle's reports),
else as account 0. Whatever that account may not read, the pages say so.
"""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from databright.cli.common import console, errors_to_exit, options
from databright.errors import ConfigError
from databright.market import Market


def default_reader(m: Market) -> str:
    """The first unlocked dev account that is an approved coordinator now, else the acting account."""
    mine = set(m.chain.accounts())
    compute = m.compute
    approved = compute.market.logs("CoordinatorApproved", m.deployment.block)
    for address in dict.fromkeys(str(a["account"]) for a in approved):
        if address in mine and compute.is_coordinator(address):
            return address
    return m.account


def _listen(host: str, port: int) -> socket.socket:
    """Binds the port before anything else starts, so a port in use is one clear line, not a traceback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): pick another --port") from exc
    return sock


@errors_to_exit
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to serve the dashboard on.")] = 8700,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    poll: Annotated[float, typer.Option(help="Seconds between the pages' checks for a new block.")] = 2.0,
) -> None:
    """Serve the dashboard: requests, proposals, jobs and workers, live from the chain and the store."""
    import uvicorn

    from databright.chain.keys import signer
    from databright.dashboard import BlobReader, Dashboard, create_app
    from databright.dashboard.app import MISSING_BUNDLE, WALLET_BUNDLE
    from databright.store.client import StoreClient
    from databright.store.client.service import store_url

    if poll <= 0:
        raise ConfigError(f"--poll is a number of seconds above 0, not {poll}")
    opts = options(ctx)
    m = Market.open(opts.rpc, opts.account)
    source = ctx.find_root().get_parameter_source("account")  # typer vendors click: compare by name
    explicit = source is not None and source.name != "DEFAULT"
    m = m.as_account(m.account if explicit else default_reader(m))
    url = store_url(opts.store)
    try:
        blobs = BlobReader(StoreClient(url, signer(m.chain), timeout=10.0))
    except ConfigError as exc:  # no key for this account (an RPC that is not a dev node): chain only
        blobs = BlobReader(None, f"the dashboard cannot sign store reads: {exc}")
    sock = _listen(host, port)
    app = create_app(Dashboard(m, blobs, poll_seconds=poll, store_url=url))
    role = "coordinator" if m.compute.is_coordinator(m.account) else "not a coordinator"
    console.print(f"dashboard on [bold]http://{host}:{sock.getsockname()[1]}[/] (chain {m.chain.chain_id} at "
                  f"{m.chain.rpc}; store {url}, read as {m.account}, {role}); Ctrl-C stops it", highlight=False,
                  soft_wrap=True)
    if not WALLET_BUNDLE.exists():
        console.print(f"note: {MISSING_BUNDLE}; until then the pages cannot act with a browser wallet", soft_wrap=True)
    if m.chain.embedded:
        console.print("note: this is the embedded chain, empty and private to this process; "
                      "start `databright node` to watch a market other commands use", soft_wrap=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if blobs.store is not None:
            blobs.store.close()


def register(app: typer.Typer) -> None:
    """Adds `serve` to the top-level app."""
    app.command()(serve)
