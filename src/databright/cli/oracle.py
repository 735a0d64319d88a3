"""`databright oracle run`: the oracle service for one or more requests."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from databright.cli.common import console, errors_to_exit, market, store_client
from databright.config import home
from databright.oracle import FairSharePolicy, Oracle

oracle_app = typer.Typer(help="The oracle: votes with delegated power by data value.", no_args_is_help=True)


@oracle_app.command("run")
@errors_to_exit
def oracle_run(
    ctx: typer.Context,
    request: Annotated[list[str], typer.Option(help="Request to serve (index or address); repeat for several.")],
    once: Annotated[bool, typer.Option(help="Decide the open proposals once and exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between rounds.")] = 2.0,
    state: Annotated[Path | None, typer.Option(help="State file (default: $DATABRIGHT_HOME/oracle-<account>.json).")]
    = None,
    k: Annotated[int, typer.Option(help="Neighbours of the KNN utility the value is measured with.")] = 5,
    shares_per_accuracy: Annotated[float, typer.Option(
        help="Fair shares for a contribution worth the whole validation accuracy.")] = 100.0,
    max_duplicates: Annotated[float, typer.Option(help="Largest tolerated share of duplicated rows.")] = 0.05,
    max_noise: Annotated[float, typer.Option(help="Largest tolerated share of points with negative value.")] = 0.25,
) -> None:
    """Serve requests as the acting account: curators delegate to it, it votes by value."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    m = market(ctx)
    databases = [m.resolve_request(r) for r in request]
    policy = FairSharePolicy(k=k, shares_per_accuracy=shares_per_accuracy, max_duplicate_fraction=max_duplicates,
                             max_noise_fraction=max_noise)
    path = state or home() / f"oracle-{m.account}.json"
    with store_client(ctx, m) as store:
        oracle = Oracle(m, store, databases, path, policy)
        console.print(f"oracle {m.account} serving {len(databases)} request(s); state in {path}")
        if once:
            for vote in oracle.run_once():
                console.print(f"proposal {vote.proposal_id}: {'yes' if vote.support else 'no'} — {vote.reason}")
            return
        try:
            oracle.run(poll=poll)
        except KeyboardInterrupt:
            console.print("oracle stopped")
