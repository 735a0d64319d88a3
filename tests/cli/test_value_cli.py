"""Value payouts end to end on the embedded chain and a store served from this process.

Three contributors hold one share each in a digits request: two give clean digits, the third
digits from a noisy scanner (correct labels, heavy pixel noise). A buyer's job is
trained here the way the coordinator trains it (a plain Replica loop) and settled through the
coordinator's value step (`settle_values`) and `complete_job`; then the commands are what people
type: `job values`, `job values --verify`, `value claim`, `dividends show`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from databright.chain.connection import reset_embedded
from databright.cli.main import app
from databright.compute.attestation import approve
from databright.compute.buyer import buyer_spec, submit_job
from databright.compute.data import load_registry, prepare
from databright.compute.job_value import settle_values
from databright.compute.sealing import seal
from databright.compute.training import Replica, batch_order
from databright.demo.environment import DemoStore, demo_store, seeded_request, split_digits
from databright.market import Market
from databright.market.units import UNIT

CURATOR, BUYER, COORDINATOR, WORKER = 1, 3, 7, 8
CONTRIBUTORS = (4, 5, 6)  # 6 gives noisy digits
JOB = {"model": {"kind": "cnn"}, "training": {"epochs": 8, "batch_size": 64, "lr": 0.05, "seed": 1},
       "valuation": {"k": 5}}  # the demo's CNN


@dataclass
class World:
    market: Market
    store: DemoStore
    url: str
    job: int
    tmp: Path

    def __call__(self, *args: str, account: int = 0, code: int = 0) -> str:
        result = CliRunner().invoke(app, ["--rpc", "embedded", "--store", self.url, "-a", str(account), *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    def account(self, i: int) -> str:
        return self.market.chain.accounts()[i]


def contributions() -> list[tuple[np.ndarray, np.ndarray]]:
    split = split_digits(6)
    (xa, ya), (xb, yb), (xc, yc) = split.contributions[:3]
    noisy = np.clip(xc + np.random.default_rng(5).normal(0, 6, size=xc.shape), 0, 16)
    return [(xa[:200], ya[:200]), (xb[:200], yb[:200]), (noisy[:200], yc[:200])]


def train_and_settle(market: Market, store: DemoStore, job_id: int, spec, database: str) -> None:
    """What Coordinator._train_and_settle does, with the training done here instead of on workers."""
    coordinator = market.chain.accounts()[COORDINATOR]
    as_coordinator = market.as_account(coordinator)
    as_coordinator.compute.accept_job(job_id)
    as_coordinator.compute.assign_workers(job_id, [market.chain.accounts()[WORKER]])
    dataset_spec, cids, parts = load_registry(as_coordinator, store.client(coordinator), database)
    data = prepare(parts, dataset_spec, spec.eval_fraction, spec.training.seed, cids)
    final = Replica(spec, data.feature_shape, data.n_classes)
    for epoch in range(spec.training.epochs):
        batches = batch_order(data.n_train, spec.training.batch_size, epoch, spec.training.seed)
        final.train_steps([data.x_train[b] for b in batches], [data.y_train[b] for b in batches])
    model = final.model_bytes()
    model_hash = hashlib.sha256(model).digest()
    client = store.client(coordinator)
    result = client.upload_bytes(seal(model, spec.buyer_key))
    report = client.upload_bytes(b'{"report": "of the job"}')
    job = as_coordinator.compute.job(job_id)
    value = settle_values(as_coordinator, client, job, spec, data, final.model, model_hash.hex())
    as_coordinator.compute.complete_job(job_id, result, model_hash, report, {market.chain.accounts()[WORKER]: 5},
                                        value.value_cid, value.payouts)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reset_embedded()
    market = Market.open("embedded")
    accounts = market.chain.accounts()
    with demo_store(market) as store:
        database = seeded_request(market, store, contributions(), curator=CURATOR, contributors=CONTRIBUTORS)
        approve(market.compute, accounts[COORDINATOR], accounts[COORDINATOR])
        market.as_account(WORKER).compute.register_worker(UNIT)
        as_buyer = market.as_account(BUYER)
        spec = buyer_spec(as_buyer, JOB, database)
        job = submit_job(as_buyer, store.client(accounts[BUYER]), spec, UNIT, UNIT // 10,
                         market.chain.now() + 3600).job_id
        train_and_settle(market, store, job, spec, database)
        yield World(market, store, store.url, job, tmp_path_factory.mktemp("values"))


def test_the_report_pays_by_value_and_the_noisy_digits_least(world: World) -> None:
    out = world("job", "values", str(world.job), account=CURATOR)
    assert "penultimate layer, 512 dims" in out and "k = 5" in out
    assert "value pool 0.5 ETH (50 % of the 1 ETH data fee)" in out
    record = world.market.compute.value_record(world.job)
    assert record is not None and world.market.compute.job_value(world.job).root_prefix == record["root"][:20]
    from databright.compute.value_audit import load_values

    values = load_values(world.market, world.store.client(world.account(CURATOR)), world.job)
    by_account = {c["address"]: c for c in values.report["contributors"]}
    a, b, noisy = (by_account[world.account(i)] for i in CONTRIBUTORS)
    # one share each, but the noisy digits are worth clearly less than either clean set
    assert 0 < noisy["value"] < 0.8 * min(a["value"], b["value"])
    assert noisy["amount_wei"] < 0.8 * min(a["amount_wei"], b["amount_wei"])
    assert values.paid <= values.report["pool_wei"] == UNIT // 2
    assert values.paid >= values.report["pool_wei"] - len(CONTRIBUTORS)  # only rounding dust is left
    assert sum(e["amount_wei"] for e in values.report["entries"]) == values.paid
    assert record["dividends"] == UNIT - values.paid
    assert world.market.token(world.market.requests()[0].database).total_distributed() == UNIT - values.paid


def test_a_contributor_sees_claims_and_cannot_claim_twice(world: World) -> None:
    who = CONTRIBUTORS[1]
    shown = world("dividends", "show", "0", account=who)
    assert re.search(rf"value payouts unclaimed 0\.\d+ ETH \(job {world.job}: 0\.\d+\)", shown)
    before = world.market.chain.w3.eth.get_balance(world.account(who))
    out = world("value", "claim", str(world.job), account=who)
    assert f"value payout in job {world.job} to {world.account(who)}" in out
    assert world.market.chain.w3.eth.get_balance(world.account(who)) > before
    assert world.market.compute.value_claimed(world.job, world.account(who))
    assert "value payouts unclaimed 0 ETH" in world("dividends", "show", "0", account=who)
    assert "already claimed" in world("value", "claim", str(world.job), account=who, code=2)
    assert re.search(rf"{world.account(who)}.*yes", world("job", "values", str(world.job), account=CURATOR))


def test_someone_without_a_payout_or_a_right_is_told_so(world: World) -> None:
    assert "has no value payout" in world("value", "claim", str(world.job), account=CURATOR, code=2)
    refused = world("job", "values", str(world.job), account=9, code=6)
    assert "may not read" in refused
    assert "completed without valuation" not in refused
    assert "no job #99" in world("job", "values", "99", account=CURATOR, code=2)
    assert "no job #99" in world("value", "claim", "99", account=CONTRIBUTORS[0], code=2)


def test_verify_recomputes_the_values_from_the_model_and_the_data(world: World) -> None:
    model = world.tmp / "model.pt"
    world("job", "result", str(world.job), "-o", str(model), account=BUYER)
    out = world("job", "values", str(world.job), "--verify", "--model", str(model), account=CURATOR)
    assert "the recomputed value root is the one recorded on-chain" in out
    assert "the recomputed payouts are the report's, to the wei" in out
    assert f"job {world.job}'s value report holds" in out
    # the buyer has the model but no right to the data; a stranger's model is not the job's
    assert "--verify needs the model" in world("job", "values", str(world.job), "--verify", account=CURATOR, code=2)
    other = world.tmp / "other.pt"
    other.write_bytes(model.read_bytes() + b"\0")
    bad = world("job", "values", str(world.job), "--verify", "--model", str(other), account=CURATOR, code=2)
    assert "mismatch" in bad and "not the one whose hash the coordinator committed" in bad


def test_a_job_with_valuation_off_pays_its_whole_data_fee_as_dividends(world: World) -> None:
    market, accounts = world.market, world.market.chain.accounts()
    database = market.requests()[0].database
    token = market.token(database)
    before = token.total_distributed()
    as_buyer = market.as_account(BUYER)
    spec = buyer_spec(as_buyer, {**JOB, "valuation": None, "training": {"epochs": 1, "seed": 1}}, database)
    job = submit_job(as_buyer, world.store.client(accounts[BUYER]), spec, UNIT, UNIT // 10,
                     market.chain.now() + 3600).job_id
    train_and_settle(market, world.store, job, spec, database)
    assert token.total_distributed() - before == UNIT
    assert market.compute.value_record(job) is None and market.compute.job_value(job).unclaimed == 0
    assert "completed without valuation" in world("job", "values", str(job), account=CURATOR, code=2)
    assert "completed without valuation" in world("value", "claim", str(job), account=CONTRIBUTORS[0], code=2)
