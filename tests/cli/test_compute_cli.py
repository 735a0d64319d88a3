"""The compute-market commands in one process on the embedded chain: the flow and the mistakes.

Jobs are posted and settled through the Python API in the same process (the services that do
it have their own commands and tests); what is checked here is what a person sees and types.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from databright.chain.connection import reset_embedded
from databright.chain.contracts import Rules
from databright.cid import cid_for_bytes
from databright.cli.main import app
from databright.compute.attestation import DevAttestation
from databright.market import Market
from databright.market.units import UNIT

RULES = Rules(quorum_bps=2000, approval_bps=5001, voting_period=5, max_shares=100 * UNIT)
SPEC, RESULT, REPORT = cid_for_bytes(b"job spec"), cid_for_bytes(b"model"), cid_for_bytes(b"report")


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()
        self.market = Market.open("embedded")
        self.accounts = self.market.chain.accounts()

    def __call__(self, *args: str, account: int = 0, code: int = 0) -> str:
        result = self.runner.invoke(app, ["--rpc", "embedded", "--account", str(account), *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    def post_job(self, ttl: int = 3600, data_fee: int = UNIT, compute_fee: int = 2 * UNIT) -> int:
        """A job on request #0 bought by account 3."""
        database = self.market.requests()[0].database
        buyer = self.market.as_account(3).compute
        return buyer.post_job(database, SPEC, data_fee, compute_fee, self.market.chain.now() + ttl)


@pytest.fixture
def cli() -> Cli:
    reset_embedded()
    c = Cli()
    c.market.create_request("digits", "DIG", cid_for_bytes(b"spec"), {c.accounts[1]: 100 * UNIT}, RULES)
    return c


def test_workers_coordinator_and_a_completed_job(cli: Cli) -> None:
    a = cli.accounts
    registered = cli("worker", "register", "--stake", "1.5", account=4)
    assert "registered with a stake of 1.5 ETH (minimum 1 ETH)" in registered
    assert "stake of 2 ETH" in cli("worker", "register", "--stake", "0.5", account=4)  # a top-up
    cli("worker", "register", "--stake", "1", account=5)
    approved = cli("coordinator", "approve", "7")
    assert f"approved coordinator {a[7]} (signing key {a[7]}" in approved and "proves nothing" in approved
    assert cli.market.compute.is_coordinator(a[7])

    job = cli.post_job()
    coordinator = cli.market.as_account(7).compute
    coordinator.accept_job(job)
    coordinator.assign_workers(job, [a[4], a[5]])
    listed = cli("job", "list")
    assert re.search(rf"\b{job}\b.*#0 digits.*accepted.*\b1\b.*\b2\b.*in 5\d min", listed)
    assert f"{a[4]}" in cli("job", "status", str(job)) and "accepted" in cli("job", "status", str(job))
    coordinator.complete_job(job, RESULT, hashlib.sha256(b"model").digest(), REPORT, {a[4]: 3, a[5]: 1})

    status = cli("job", "status", str(job))
    assert f"job #{job} completed" in status and RESULT in status and REPORT in status
    assert hashlib.sha256(b"model").hexdigest() in status and "verified units 4" in status
    assert re.search(rf"{a[4]}\s.*\b3\b.*1\.5\b", status)  # 3 of 4 units of the 2 ETH compute fee
    assert f"{job}" in cli("job", "list", "--buyer", "3") and "digits" not in cli("job", "list", "--buyer", a[2])

    table = cli("workers")
    assert re.search(rf"{a[4]}.*\b2\b.*\b0\b.*yes.*1\.5", table) and re.search(rf"{a[5]}.*\b1\b.*yes.*0\.5", table)
    assert "earned 1.5 ETH for verified work; withdrawable 1.5 ETH" in cli("earnings", "4")
    assert "withdrew 1.5 ETH from the compute market" in cli("withdraw", account=4)
    assert "withdrawable 0 ETH" in cli("earnings", account=4)
    assert "its stake of 1 ETH is withdrawable" in cli("worker", "leave", account=5)
    assert re.search(rf"{a[5]}.*\b0\b.*no", cli("workers"))
    assert "revoked coordinator" in cli("coordinator", "revoke", a[7].lower())
    assert not cli.market.compute.is_coordinator(a[7])


def test_a_job_past_its_deadline_is_refunded(cli: Cli) -> None:
    job = cli.post_job(ttl=60)
    assert "compute: deadline not reached" in cli("job", "refund", str(job), code=4)
    cli.market.chain.advance_time(61)
    assert "passed" in cli("job", "status", str(job))
    refunded = cli("job", "refund", str(job), account=5)  # anyone may ask; the buyer is credited
    assert f"job #{job} refunded: 3 ETH credited to {cli.accounts[3]}" in refunded
    assert "refunded" in cli("job", "status", str(job))
    assert "withdrew 3 ETH" in cli("withdraw", account=3)


def test_a_quote_file_is_verified(cli: Cli, tmp_path: Path) -> None:
    a = cli.accounts
    good = tmp_path / "good.quote"
    good.write_bytes(DevAttestation.quote(a[6], a[8]))
    out = cli("coordinator", "approve", "6", "--signing-key", "8", "--quote", str(good))
    assert f"signing key {a[8]}, quote sha256 {hashlib.sha256(good.read_bytes()).hexdigest()}" in out


@pytest.mark.parametrize(
    ("args", "account", "code", "message"),
    [
        (("worker", "register", "--stake", "0.5"), 4, 2, "at least the minimum"),
        (("worker", "register", "--stake", "-1"), 4, 2, "non-negative"),
        (("worker", "leave"), 4, 4, "compute: not a registered worker"),
        (("job", "status", "9"), 0, 2, "no job #9: there are 0"),
        (("job", "status", "0"), 0, 2, "job ids are whole numbers from 1"),
        (("job", "refund", "9"), 0, 4, "compute: unknown job"),
        (("job", "list", "--buyer", "someone"), 0, 2, "not an address or account index"),
        (("coordinator", "approve", "0x123"), 0, 2, "not an address or account index"),
        (("coordinator", "approve", "7"), 3, 4, "compute: caller is not governance"),
        (("coordinator", "approve", "7", "--attestation", "tpm"), 0, 2, "--attestation is one of dev, sgx-dcap"),
        (("coordinator", "approve", "7", "--quote", "QUOTE"), 0, 6, "does not describe"),
        (("coordinator", "approve", "7", "--attestation", "sgx-dcap", "--quote", "QUOTE"), 0, 6,
         "Intel's quote verification library"),
        (("coordinator", "approve", "7", "--quote", "/no/such/file"), 0, 2, "no quote file"),
        (("coordinator", "revoke", "7"), 0, 4, "compute: not an approved coordinator"),
        (("withdraw",), 0, 4, "compute: nothing to withdraw"),
        (("earnings", "999"), 0, 2, "account index 999 out of range"),
    ],
)
def test_mistakes_give_clear_messages(cli: Cli, tmp_path: Path, args: tuple[str, ...], account: int, code: int,
                                      message: str) -> None:
    quote = tmp_path / "quote.bin"
    quote.write_bytes(DevAttestation.quote(cli.accounts[6], cli.accounts[6]))  # describes another account
    out = cli(*(str(quote) if arg == "QUOTE" else arg for arg in args), account=account, code=code)
    assert message in out and out.strip().startswith("error:")


def test_worker_start_refuses_a_bad_key_file_in_one_line(cli: Cli, tmp_path: Path) -> None:
    from databright.chain.keys import signer

    missing = tmp_path / "missing.keys"
    assert "cannot be read (No such file or directory)" in cli("worker", "start", "--key-file", str(missing),
                                                                code=2)
    readable = tmp_path / "shared.keys"
    readable.write_text(signer(cli.market.chain, cli.accounts[4]).key.hex() + "\n")
    readable.chmod(0o644)
    out = " ".join(cli("worker", "start", "--key-file", str(readable), code=2).split())  # rich wraps at 80
    assert "is accessible by other users (mode 0644)" in out and f"chmod 600 {readable}`" in out
    fifo = tmp_path / "fifo.keys"
    os.mkfifo(fifo, 0o600)
    assert "is not a regular file" in cli("worker", "start", "--key-file", str(fifo), code=2)  # never blocks
    readable.chmod(0o600)
    link = tmp_path / "link.keys"
    link.symlink_to(readable)
    assert "cannot be read (Too many levels of symbolic links)" in cli("worker", "start", "--key-file", str(link),
                                                                        code=2)  # a link is not followed
    garbled = tmp_path / "garbled.keys"
    garbled.write_text(signer(cli.market.chain, cli.accounts[4]).key.hex() + "\nnot-a-key\n")
    garbled.chmod(0o600)
    out = cli("worker", "start", "--key-file", str(garbled), code=2)
    assert "key 2 is not a private key" in out and "not-a-key" not in out  # a key file's lines are never echoed
    empty = tmp_path / "empty.keys"
    empty.write_text("\n")
    empty.chmod(0o600)
    assert "holds no keys" in cli("worker", "start", "--key-file", str(empty), code=2)
    assert not cli.market.compute.workers()  # nothing was staked for any of them


def test_worker_start_dials_only_a_coordinator_that_published_an_endpoint(cli: Cli) -> None:
    from databright.compute.worker_service import coordinators

    a = cli.accounts
    out = cli("worker", "start", account=4, code=2)
    assert "no approved coordinator has published an endpoint yet" in out
    cli("coordinator", "approve", "7")
    cli("coordinator", "approve", "8")
    out = cli("worker", "start", "--coordinator", a[7], account=4, code=2)
    assert f"{a[7]} is not an approved coordinator with a published endpoint" in out
    cli.market.as_account(7).compute.set_coordinator_endpoint("10.1.0.7:7443", "07" * 32)
    cli.market.as_account(8).compute.set_coordinator_endpoint("10.1.0.8:7443", "08" * 32)
    assert {(e.coordinator, e.url, e.cert_sha256) for e in coordinators(cli.market, None)} == \
        {(a[7], "10.1.0.7:7443", "07" * 32), (a[8], "10.1.0.8:7443", "08" * 32)}
    assert [(e.url, e.cert_sha256) for e in coordinators(cli.market, a[8])] == [("10.1.0.8:7443", "08" * 32)]
    assert [e.coordinator for e in coordinators(cli.market, "grpcs://10.1.0.7:7443")] == [a[7]]
    out = cli("worker", "start", "--coordinator", "10.9.9.9:7443", account=4, code=2)
    assert "no approved coordinator publishes the endpoint 10.9.9.9:7443" in out and "not dialled" in out
    cli("coordinator", "revoke", "8")
    assert [e.coordinator for e in coordinators(cli.market, None)] == [a[7]]  # a revoked one is not dialled
    assert "not an approved coordinator" in cli("worker", "start", "--coordinator", a[8], account=4, code=2)
    assert not cli.market.compute.workers()
