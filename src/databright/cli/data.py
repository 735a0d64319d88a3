"""Commands that move real data: `data submit|show|get` and `store serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn
from rich.table import Table

from databright.cli.common import console, errors_to_exit, market, options, store_client
from databright.cli.progress import ByteProgress, columns
from databright.datasets.summary import summarize, write_png_grid
from databright.market.data import proposal_data, submit
from databright.market.units import parse_amount

data_app = typer.Typer(help="Submit, inspect and fetch datasets (encrypted in the store).", no_args_is_help=True)
store_app = typer.Typer(help="Run the encrypted store server.", no_args_is_help=True)


@data_app.command("submit")
@errors_to_exit
def data_submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Dataset file: .npz (x, y), .csv or .parquet (label, f0, f1, ...).")],
    request: Annotated[str, typer.Option(help="The request: index or database address.")],
    shares: Annotated[str, typer.Option(help="Shares asked for in return.")],
) -> None:
    """Validate a dataset against the request's spec, upload it encrypted, and propose it."""
    m = market(ctx)
    database = m.resolve_request(request)
    wanted = parse_amount(shares, "shares")
    with store_client(ctx, m) as store, Progress(SpinnerColumn(), *columns(), console=console,
                                                  transient=True) as bar:
        task = bar.add_task("starting", total=None)
        with ByteProgress(console, "uploading", into=bar) as sent:
            result = submit(m, store, database, file, wanted, step=lambda what: bar.update(task, description=what),
                            progress=sent)
    p = m.proposal(result.proposal_id)
    console.print(f"proposal [bold]{result.proposal_id}[/]: {result.samples} samples stored as {result.cid}; "
                  f"voting open until block {p.deadline}")


@data_app.command("show")
@errors_to_exit
def data_show(
    ctx: typer.Context,
    proposal: Annotated[int, typer.Argument(help="Proposal id.")],
    png: Annotated[Path | None, typer.Option(help="Where to write a grid of examples (image-shaped data).")] = None,
) -> None:
    """Fetch and summarise a proposal's data (needs a right to read it: curator, delegate, contributor)."""
    m = market(ctx)
    with store_client(ctx, m) as store:
        cid, ds = proposal_data(m, store, proposal)
    s = summarize(ds)
    console.print(f"proposal {proposal}: {cid}\n{s.samples} samples, features {s.feature_shape}, values "
                  f"{s.feature_min:g}..{s.feature_max:g} (mean {s.feature_mean:.3g}, std {s.feature_std:.3g})")
    table = Table("label", "samples", "%", "", title="labels")
    for label, count in s.label_counts.items():
        table.add_row(str(label), str(count), f"{100 * count / s.samples:.1f}", "#" * round(40 * count / s.samples))
    console.print(table)
    if s.image_shaped:
        path = png or Path(f"proposal-{proposal}.png")
        write_png_grid(ds, path)
        console.print(f"examples written to {path}")


@data_app.command("get")
@errors_to_exit
def data_get(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="CID of the blob.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
) -> None:
    """Download a blob you have a right to read, checked against its CID."""
    m = market(ctx)
    with store_client(ctx, m) as store, ByteProgress(console, f"downloading {cid[:12]}…") as received:
        store.download(cid, output, progress=received)
    console.print(f"{cid} written to {output}")


@data_app.command("example")
@errors_to_exit
def data_example(folder: Annotated[Path, typer.Argument(help="Where to write the files.")] = Path("example")) -> None:
    """Write a digits spec, a validation set and two contributions to try the market by hand."""
    from databright.datasets.writers import write_dataset
    from databright.demo.environment import SPEC, split_digits

    folder.mkdir(parents=True, exist_ok=True)
    digits = split_digits(2)
    (folder / "spec.json").write_bytes(SPEC.to_bytes())
    written = [folder / "spec.json", write_dataset(folder / "validation.npz", *digits.validation)]
    for path, (x, y) in zip((folder / "alice.csv", folder / "bob.npz"), digits.contributions, strict=True):
        written.append(write_dataset(path, x, y))
    console.print("wrote " + ", ".join(str(p) for p in written))


@store_app.command("serve")
@errors_to_exit
def store_serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    root: Annotated[Path | None, typer.Option(help="Store folder (default: $DATABRIGHT_HOME/store).")] = None,
    max_upload_mb: Annotated[int, typer.Option(help="Largest upload accepted, in MB.")] = 2048,
    backend: Annotated[str | None, typer.Option(
        help="Keep the blobs in S3-compatible storage: s3://BUCKET[/PREFIX] (credentials as boto3 finds them: "
             "AWS_* variables, ~/.aws). Default: the store folder.")] = None,
    s3_endpoint: Annotated[str | None, typer.Option(help="URL of the S3 service (MinIO, Ceph...); else AWS.")] = None,
    master_key_file: Annotated[Path | None, typer.Option(
        help="The master key file (also DATABRIGHT_STORE_MASTER_KEY_FILE, or the key in hex in "
             "DATABRIGHT_STORE_MASTER_KEY). Default: the store folder's own. Give every server on a bucket the same.")
    ] = None,
    s3_stale_after: Annotated[float, typer.Option(
        help="Seconds after which an unfinished upload in the bucket is dead and removed.")] = 24 * 3600.0,
) -> None:
    """Serve the store over HTTP; reads are allowed by rights checked on-chain."""
    from databright.store.client.service import forget_server, record_server
    from databright.store.server import open_store, run_server

    if backend is None and s3_endpoint is not None:
        raise typer.BadParameter("--s3-endpoint needs --backend s3://BUCKET")
    m = market(ctx)
    store = open_store(root, backend, s3_endpoint, master_key_file, s3_stale_after)
    url = f"http://{host}:{port}"
    console.print(f"store serving on {url} (chain {m.chain.rpc}, blobs in {store.backend}); Ctrl-C stops it",
                  markup=False)
    record_server(url)
    try:
        run_server(m, store, host=host, port=port, max_upload_bytes=max_upload_mb * 2**20, rpc=options(ctx).rpc)
    finally:
        forget_server()
