"""`databright`: the entry point, global options, and the chain-level commands."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from databright.chain.connection import connect
from databright.chain.deployment import deploy as deploy_market
from databright.chain.node import forget_node, start_node, stop_node
from databright.cli import (  # noqa: F401 (compute_run adds its commands)
    compute,
    compute_run,
    dashboard,
    data,
    data_market,
    job_value,
    oracle,
)
from databright.cli.common import Options, console, err_console, errors_to_exit
from databright.market import Market
from databright.market.units import format_amount, parse_amount

app = typer.Typer(
    help="DataBright: a data and compute market where data and hardware earn dividends.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
data_market.register(app)
compute.register(app)
job_value.register(app)
dashboard.register(app)
app.add_typer(data.data_app, name="data")
app.add_typer(data.store_app, name="store")
app.add_typer(oracle.oracle_app, name="oracle")


@app.callback()
def main(
    ctx: typer.Context,
    rpc: Annotated[str | None, typer.Option(
        envvar="DATABRIGHT_RPC",
        help="JSON-RPC URL of the chain, or 'embedded'. Default: a running `databright node`, "
             "else the embedded chain (gone when the command ends).")] = None,
    account: Annotated[str, typer.Option(
        "--account", "-a", envvar="DATABRIGHT_ACCOUNT",
        help="Act as this account: an index into the node's accounts or an address.")] = "0",
    store: Annotated[str | None, typer.Option(
        envvar="DATABRIGHT_STORE",
        help="URL of the store server. Default: a running `databright store serve`, else port 8600.")] = None,
) -> None:
    ctx.obj = Options(rpc, account, store)


@app.command()
@errors_to_exit
def node(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8545,
    detach: Annotated[bool, typer.Option(help="Start in the background and return.")] = False,
    stop: Annotated[bool, typer.Option(help="Stop the running node (its state is kept).")] = False,
    fresh: Annotated[bool, typer.Option(help="Forget the saved chain state first.")] = False,
) -> None:
    """Run a local anvil chain whose state survives restarts."""
    if stop:
        info = stop_node()
        console.print(f"stopped the node at {info.rpc}; state kept in {info.state_file}")
        return
    info, proc = start_node(port=port, fresh=fresh)
    console.print(f"node running at [bold]{info.rpc}[/] (pid {info.pid}), state in {info.state_file}")
    if detach:
        console.print("stop it with `databright node --stop`")
        return
    console.print("Ctrl-C stops it")
    try:
        while proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is not None:
            forget_node()


@app.command()
@errors_to_exit
def deploy(
    ctx: typer.Context,
    min_stake: Annotated[str, typer.Option(help="Least ether a compute worker must stake.")] = "1",
) -> None:
    """Deploy the market contracts and record where they are (you govern the compute market)."""
    opts: Options = ctx.find_root().obj
    stake = parse_amount(min_stake, "--min-stake")
    chain = connect(opts.rpc, opts.account)
    d = deploy_market(chain, min_stake=stake)
    console.print(f"deployed on chain {d.chain_id}: association [bold]{d.association}[/], "
                  f"compute market [bold]{d.compute_market}[/] governed by {chain.account}")


@app.command()
@errors_to_exit
def accounts(ctx: typer.Context) -> None:
    """List the node's funded dev accounts (use their index with --account)."""
    opts: Options = ctx.find_root().obj
    chain = connect(opts.rpc, opts.account)
    table = Table("#", "address", "ether")
    for i, address in enumerate(chain.accounts()[:20]):
        table.add_row(str(i), address, format_amount(chain.balance(address), 2))
    console.print(table)


@app.command()
@errors_to_exit
def mine(ctx: typer.Context, blocks: Annotated[int, typer.Argument(help="Blocks to mine.")] = 1) -> None:
    """Mine empty blocks on a dev chain (voting periods are counted in blocks)."""
    opts: Options = ctx.find_root().obj
    chain = connect(opts.rpc, opts.account)
    chain.mine(blocks)
    console.print(f"now at block {chain.w3.eth.block_number}")


@app.command()
@errors_to_exit
def demo(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary (the story goes to stderr).")] = False,
    report_dir: Annotated[Path, typer.Option("--report-dir", help="Where to write index.html with pictures.")] = Path(
        "demo-report"),
) -> None:
    """Run the whole market end to end on a fresh deployment and print what happened.

    The embedded chain is used unless --rpc names a node. With a node, --store (or DATABRIGHT_STORE)
    names a `databright store serve` on that node to keep the data, so `databright serve` can show the
    reports afterwards; otherwise the demo serves a store of its own that ends with it.
    """
    import os

    from databright.demo import run_demo

    opts: Options = ctx.find_root().obj
    chain = connect(opts.rpc or "embedded", opts.account)
    store = None if chain.embedded else (opts.store or os.environ.get("DATABRIGHT_STORE"))
    result = run_demo(Market(chain, deploy_market(chain)), err_console if as_json else console, report_dir, store)
    if as_json:
        print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    app()
