"""Commands of value payouts: a job's value report (and its audit), and claiming one's payout.

`job values ID` shows what each registry entry and contributor was worth to a job and is paid;
`--verify` recomputes it from the trained model and the data. `value claim JOB` pulls the acting
account's payout. They need the store (the report lives there) besides the chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from databright.cli.common import console, errors_to_exit, market, short, store_client
from databright.cli.compute import job_app
from databright.compute.errors import ComputeError
from databright.errors import ConfigError
from databright.market.units import format_amount

value_app = typer.Typer(help="Value payouts: what your data earned in each job that used it.", no_args_is_help=True)


@job_app.command("values")
@errors_to_exit
def job_values(
    ctx: typer.Context,
    job: Annotated[int, typer.Argument(help="Job id.")],
    verify: Annotated[bool, typer.Option("--verify", help="Recompute the values from the model and the data.")] = False,
    model: Annotated[Path | None, typer.Option(
        help="The job's model (torch.load-able, as `job result` writes it); default: unsealed, if you bought it.")
    ] = None,
) -> None:
    """Show a job's value report: each entry's and contributor's value and payout; --verify checks it."""
    from databright.compute.buyer import fetch_result
    from databright.compute.value_audit import load_values
    from databright.compute.value_audit import verify as audit_job

    m = market(ctx)
    with store_client(ctx, m) as store:
        values = load_values(m, store, job)
        r = values.report
        console.print(f"[bold]job #{job}[/] values (k = {r['k']}, {r['embedding']['kind']}, "
                      f"{r['embedding']['dims']} dims) of {r['train_samples']} training samples on "
                      f"{r['eval_samples']} held-out samples; model sha256 {r['model_sha256']}")
        console.print(f"value pool {format_amount(r['pool_wei'], 6)} ETH ({r['value_share_bps'] / 100:g} % of the "
                      f"{format_amount(r['data_fee_wei'], 6)} ETH data fee); paid by value "
                      f"{format_amount(r['paid_wei'], 6)} ETH; the rest is dividends")
        table = Table("entry", "cid", "contributor", "samples", "value", "paid ETH", title="registry entries")
        for e in r["entries"]:
            table.add_row(str(e["index"]), e["cid"][:20] + "…", short(e["contributor"]), str(e["samples"]),
                          f"{e['value']:+.5f}", format_amount(e["amount_wei"], 6))
        console.print(table)
        people = Table("contributor", "value", "paid ETH", "claimed", title="contributors")
        for c in r["contributors"]:
            claimed = m.compute.value_claimed(job, c["address"]) if int(c["amount_wei"]) else False
            people.add_row(c["address"], f"{c['value']:+.5f}", format_amount(c["amount_wei"], 6),
                           "yes" if claimed else ("-" if not int(c["amount_wei"]) else "no"))
        console.print(people)
        if not verify:
            return
        if model is not None:
            if not model.is_file():
                raise ConfigError(f"no model file at {model}")
            blob = model.read_bytes()
        elif m.compute.job(job).buyer == m.account:
            blob = fetch_result(m, store, job).model
        else:
            raise ConfigError("--verify needs the model: pass --model (its buyer can write it with `job result`)")
        audit = audit_job(m, store, job, blob)
    for line in audit.checked:
        console.print(f"[green]ok[/] {line}")
    for line in audit.problems:
        console.print(f"[red]mismatch[/] {line}")
    if not audit.ok:
        raise ComputeError(f"job {job}'s value report does not hold: {len(audit.problems)} mismatch(es)")
    console.print(f"job {job}'s value report holds")


@value_app.command("claim")
@errors_to_exit
def value_claim(ctx: typer.Context, job: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Claim your value payout in a job (once); the ether is sent to you at once."""
    from databright.compute.value_audit import claim

    m = market(ctx)
    with store_client(ctx, m) as store:
        wei = claim(m, store, job)
    console.print(f"claimed {format_amount(wei, 6)} ETH of value payout in job {job} to {m.account}")


def register(app: typer.Typer) -> None:
    app.add_typer(value_app, name="value")
