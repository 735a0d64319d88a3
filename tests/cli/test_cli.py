"""The CLI in one process on the embedded chain: the flow, and every user mistake.

Commands run in one process share its embedded chain, so a sequence of invocations here
behaves like a sequence of shell commands against `databright node`.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from databright.chain.connection import reset_embedded
from databright.cid import cid_for_bytes
from databright.cli.main import app

SPEC = cid_for_bytes(b"spec")
DATA = cid_for_bytes(b"data")


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()
        result = self.runner.invoke(app, ["--rpc", "embedded", "accounts"])
        self.accounts = re.findall(r"0x[0-9a-fA-F]{40}", result.output)

    def __call__(self, *args: str, account: int = 0, code: int = 0) -> str:
        result = self.runner.invoke(app, ["--rpc", "embedded", "--account", str(account), *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output


@pytest.fixture
def cli() -> Cli:
    reset_embedded()
    return Cli()


def _request(cli: Cli) -> None:
    out = cli("request", "create", "digits", "--spec", SPEC, "--symbol", "DIG", "--period", "5",
              "--curator", f"{cli.accounts[1]}=100", "--curator", f"{cli.accounts[2]}=50")
    assert "request #0 digits opened" in out
    cli("delegate", "0", account=1)
    cli("delegate", "0", cli.accounts[1], account=2)


def test_full_flow(cli: Cli) -> None:
    _request(cli)
    assert "digits" in cli("request", "list")
    assert "proposal 1 open until block" in cli("propose", "0", DATA, "--samples", "300", "--shares", "12.5", account=3)
    assert "voted yes on proposal 1 with 150 shares" in cli("vote", "1", "yes", "--reason", "fine", account=1)
    listing = cli("proposals", "--request", "0")
    assert re.search(r"\b1\b.*#0 digits.*data.*12\.5.*150.*active", listing)
    cli("mine", "5")
    assert "12.5 shares minted" in cli("execute", "1")
    shown = cli("request", "show", "0")
    assert DATA in shown and cli.accounts[3] in shown
    assert "paid 1.5 ETH" in cli("dividends", "pay", "0", "1.5")
    assert "withdrawable 0.115385" in cli("dividends", "show", "0", account=3)  # 12.5 / 162.5 * 1.5
    assert "withdrew 0.115385 ETH" in cli("dividends", "withdraw", "0", account=3)
    holders = cli("shares", "0")
    assert "withdrawn ETH" in holders and "0.115385" in holders


def test_undelegate_removes_votes(cli: Cli) -> None:
    _request(cli)
    cli("undelegate", "0", account=2)
    cli("propose", "0", DATA, "--samples", "3", "--shares", "1", account=3)
    assert "with 100 shares" in cli("vote", "1", "no", account=1)


@pytest.mark.parametrize(
    ("args", "account", "code", "message"),
    [
        (("vote", "9", "yes"), 1, 4, "association: unknown proposal"),
        (("execute", "1"), 0, 4, "association: voting not over"),
        (("vote", "1", "yes"), 5, 4, "association: no voting power at the snapshot"),
        (("vote", "1", "maybe"), 1, 2, "vote yes or no"),
        (("propose", "0", "not-a-cid", "--samples", "3", "--shares", "1"), 3, 2, "not a CID"),
        (("propose", "0", DATA, "--samples", "3", "--shares", "-1"), 3, 2, "non-negative"),
        (("propose", "0", DATA, "--samples", "3", "--shares", "5000"), 3, 4, "shares above the request's maximum"),
        (("propose", "7", DATA, "--samples", "3", "--shares", "1"), 3, 2, "no request #7"),
        (("shares", "0x123"), 0, 2, "index or a database address"),
        (("dividends", "withdraw", "0"), 4, 4, "token: nothing to withdraw"),
        (("dividends", "pay", "0", "0"), 0, 2, "more than 0"),
        (("request", "create", "x", "--spec", SPEC, "--curator", "nobody=1"), 0, 2, "ADDRESS=SHARES"),
        (("request", "create", "x", "--spec", SPEC, "--curator", "0x" + "1" * 40 + "=1", "--quorum", "120"), 0, 2,
         "between 0 and 100"),
        (("accounts",), 999, 2, "account index 999 out of range"),
    ],
)
def test_mistakes_give_clear_messages(cli: Cli, args: tuple[str, ...], account: int, code: int,
                                      message: str) -> None:
    _request(cli)
    cli("propose", "0", DATA, "--samples", "3", "--shares", "1", account=3)
    out = cli(*args, account=account, code=code)
    assert message in out and out.strip().startswith("error:")


def test_voting_twice_is_refused(cli: Cli) -> None:
    _request(cli)
    cli("propose", "0", DATA, "--samples", "3", "--shares", "1", account=3)
    cli("vote", "1", "yes", account=1)
    assert "association: already voted" in cli("vote", "1", "no", account=1, code=4)


def test_unreachable_node_is_reported() -> None:
    result = CliRunner().invoke(app, ["--rpc", "http://127.0.0.1:9", "request", "list"])
    assert result.exit_code == 3 and "no chain answers" in result.output
