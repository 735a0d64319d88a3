"""What every command shares: the connection options, error handling and output helpers.

A user mistake (an unknown proposal, a second vote, a missing node) is a DataBrightError;
`errors_to_exit` prints its message in one line and exits with the family's code, so no
traceback ever reaches a user for something they can fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console

from databright.errors import DataBrightError
from databright.market import Market

if TYPE_CHECKING:
    from databright.store.client import StoreClient

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Options:
    rpc: str | None
    account: str
    store: str | None = None


def errors_to_exit(fn: Callable[P, R]) -> Callable[P, R]:
    """Turns DataBrightError into a one-line message and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DataBrightError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def market(ctx: typer.Context) -> Market:
    """The market as the account chosen by --account, on the chain chosen by --rpc."""
    opts = options(ctx)
    return Market.open(opts.rpc, opts.account)


def options(ctx: typer.Context) -> Options:
    opts = ctx.find_root().obj
    return opts if isinstance(opts, Options) else Options(None, "0")


def store_client(ctx: typer.Context, m: Market) -> StoreClient:
    """A store client signing as the acting account (its key comes from the dev chain)."""
    from databright.chain.keys import signer
    from databright.store.client import StoreClient
    from databright.store.client.service import store_url

    return StoreClient(store_url(options(ctx).store), signer(m.chain))


def short(address: str) -> str:
    return f"{address[:8]}…{address[-4:]}"
