"""The data commands end to end: a spec file and validation set, `data submit|show|get`.

The store server runs in this process (a thread) on the same embedded chain as the CLI
invocations, so every command goes over real HTTP with signed requests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from databright.chain.connection import reset_embedded
from databright.chain.keys import signer
from databright.cli.main import app
from databright.datasets import DatasetSpec, load_canonical
from databright.datasets.writers import write_dataset
from databright.market import Market
from databright.store import BlobStore
from databright.store.client import StoreClient
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy

SPEC = DatasetSpec(name="tiny digits", feature_shape=(2, 2), labels=(0, 1, 2), min_samples=3)
rng = np.random.default_rng(1)


def dataset(n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    return rng.integers(0, 16, size=(n, 2, 2)).astype(np.float64), np.arange(n) % 3


class DataCli:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp, self.runner = url, tmp, CliRunner()

    def __call__(self, *args: str, account: int = 0, code: int = 0) -> str:
        result = self.runner.invoke(app, ["--rpc", "embedded", "--store", self.url, "-a", str(account), *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[DataCli]:
    reset_embedded()
    market = Market.open("embedded")
    store = BlobStore(tmp_path / "store")
    with ServerThread(create_app(store, ChainAccessPolicy(market, store=store))) as server:
        c = DataCli(server.url, tmp_path)
        accounts = market.chain.accounts()
        (tmp_path / "spec.json").write_bytes(SPEC.to_bytes())
        write_dataset(tmp_path / "val.npz", *dataset(6))
        out = c("request", "create", "tiny", "--spec", str(tmp_path / "spec.json"), "--validation",
                str(tmp_path / "val.npz"), "--curator", f"{accounts[1]}=100", "--period", "4")
        assert "validation set stored as bafk" in out and "request #0 tiny opened" in out
        c("delegate", "0", account=1)
        yield c


def test_submit_show_get(cli: DataCli) -> None:
    x, y = dataset(9)
    path = write_dataset(cli.tmp / "mine.csv", x, y)
    out = cli("data", "submit", str(path), "--request", "0", "--shares", "5", account=3)
    [cid] = re.findall(r"stored as (bafk\w+)", out)
    assert "proposal 1: 9 samples" in out
    shown = cli("data", "show", "1", "--png", str(cli.tmp / "grid.png"), account=1)
    assert "9 samples, features (2, 2)" in shown and "examples written to" in shown
    assert (cli.tmp / "grid.png").read_bytes()[:4] == b"\x89PNG"
    cli("data", "get", cid, "-o", str(cli.tmp / "back.npz"), account=3)  # the contributor reads its own data
    back = load_canonical((cli.tmp / "back.npz").read_bytes())
    np.testing.assert_array_equal(back.x, x)
    np.testing.assert_array_equal(back.y, y)


def test_refusals(cli: DataCli) -> None:
    x, y = dataset(9)
    x[4, 1, 0] = np.inf
    bad = write_dataset(cli.tmp / "bad.npz", x, y)
    out = cli("data", "submit", str(bad), "--request", "0", "--shares", "5", account=3, code=2)
    assert "bad.npz, row 4, column x[2]: non-finite value" in out
    assert "proposal" not in out.lower().replace("no proposal", "")
    good = write_dataset(cli.tmp / "good.npz", *dataset(9))
    cli("data", "submit", str(good), "--request", "0", "--shares", "5", account=3)
    assert "refused (403)" in cli("data", "show", "1", account=5, code=6)
    few = write_dataset(cli.tmp / "few.npz", *dataset(2))
    assert "too few samples" in cli("data", "submit", str(few), "--request", "0", "--shares", "1", account=3, code=2)
    assert "no such file" in cli("data", "submit", "nope.npz", "--request", "0", "--shares", "1", code=2)
    assert "needs --spec to be a JSON file" in cli(
        "request", "create", "x", "--spec", "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq",
        "--validation", str(good), "--curator", f"0x{'1' * 40}=1", code=2)
    (cli.tmp / "badspec.json").write_text('{"name": "x"}')
    assert "not a valid spec" in cli("request", "create", "x", "--spec", str(cli.tmp / "badspec.json"),
                                     "--curator", f"0x{'1' * 40}=1", code=2)


def test_unreachable_store_is_reported(tmp_path: Path) -> None:
    reset_embedded()
    cli = DataCli("http://127.0.0.1:9", tmp_path)
    (tmp_path / "spec.json").write_bytes(SPEC.to_bytes())
    out = cli("request", "create", "x", "--spec", str(tmp_path / "spec.json"), "--curator", f"0x{'1' * 40}=1",
              code=3)
    assert "cannot reach the store server" in out


def test_oracle_run_once(cli: DataCli) -> None:
    accounts = re.findall(r"0x[0-9a-fA-F]{40}", cli("accounts"))
    cli("delegate", "0", accounts[9], account=1)
    good = write_dataset(cli.tmp / "good.npz", *dataset(9))
    cli("data", "submit", str(good), "--request", "0", "--shares", "0.5", account=3)
    out = cli("oracle", "run", "--request", "0", "--once", "--state", str(cli.tmp / "o.json"), account=9)
    assert re.search(r"proposal 1: (yes|no) — oracle (yes|no)", out)
    assert "proposal 1" not in cli("oracle", "run", "--request", "0", "--once", "--state", str(cli.tmp / "o.json"),
                                   account=9)


def test_get_of_a_large_blob_shows_a_byte_bar(cli: DataCli) -> None:
    market = Market.open("embedded")
    data = os.urandom(9 << 20)
    with StoreClient(cli.url, signer(market.chain, market.chain.accounts()[3])) as client:
        cid = client.upload_bytes(data)
    out = cli("data", "get", cid, "-o", str(cli.tmp / "big"), account=3)
    assert "downloading" in out and "9.4/9.4 MB" in out and f"{cid} written to" in out
    assert (cli.tmp / "big").read_bytes() == data


@pytest.mark.parametrize(("args", "message"), [
    (["--backend", "http://bucket"], "not an S3 URL"),
    (["--s3-endpoint", "http://127.0.0.1:1"], "--s3-endpoint needs --backend"),
    (["--backend", "s3://bucket", "--s3-endpoint", "http://127.0.0.1:1"], "cannot use bucket 'bucket'"),
])
def test_store_serve_refuses_a_bad_backend_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    reset_embedded()
    result = CliRunner().invoke(app, ["--rpc", "embedded", "store", "serve", "--root", str(tmp_path), *args])
    assert result.exit_code != 0 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output
