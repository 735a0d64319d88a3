"""The Python client against every chain backend: one test class, run on each.

As in Flower's backend tests, the same behaviour is asserted on the embedded chain
(eth-tester) and on a real anvil node, so neither backend can drift.
"""

from __future__ import annotations

import pytest

from databright.chain.connection import connect, reset_embedded
from databright.chain.contracts import ProposalKind, ProposalState, Rules
from databright.chain.deployment import deploy
from databright.cid import cid_for_bytes
from databright.errors import AssociationRevert, CidError, ConfigError, TokenRevert
from databright.market import Market
from databright.market.units import UNIT

RULES = Rules(quorum_bps=2000, approval_bps=5001, voting_period=6, max_shares=100 * UNIT)
SPEC = cid_for_bytes(b'{"task": "classification"}')


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def market(request: pytest.FixtureRequest) -> Market:
    if request.param == "embedded":
        reset_embedded()
        return Market.open("embedded")
    chain = connect(request.getfixturevalue("anvil_rpc"))
    return Market(chain, deploy(chain))


def _open_request(m: Market) -> str:
    a = m.chain.accounts()
    info = m.create_request("digits", "DIG", SPEC, {a[1]: 100 * UNIT, a[2]: 50 * UNIT}, RULES)
    m.as_account(1).delegate(info.database)
    m.as_account(2).delegate(info.database)
    return info.database


class TestMarket:
    def test_request_is_listed_with_its_rules(self, market: Market) -> None:
        db = _open_request(market)
        [info] = market.requests()
        assert (info.database, info.name, info.symbol, info.spec_cid) == (db, "digits", "DIG", SPEC)
        assert info.rules == RULES and info.total_supply == 150 * UNIT and info.entries == 0
        assert market.resolve_request("0") == db
        with pytest.raises(ConfigError, match="no request #1"):
            market.resolve_request("1")

    def test_proposal_passes_and_mints(self, market: Market) -> None:
        db = _open_request(market)
        contributor = market.chain.accounts()[3]
        cid = cid_for_bytes(b"dataset one")
        pid = market.as_account(3).propose(db, cid, 120, 10 * UNIT)
        p = market.proposal(pid)
        assert (p.kind, p.proposer, p.samples, p.shares, p.state) == (
            ProposalKind.DATA, contributor, 120, 10 * UNIT, ProposalState.ACTIVE)
        assert market.as_account(1).vote(pid, True, "good data") == 100 * UNIT
        assert market.as_account(2).vote(pid, False, "meh") == 50 * UNIT
        with pytest.raises(AssociationRevert, match="voting not over"):
            market.execute(pid)
        market.chain.mine(RULES.voting_period)
        assert market.proposal(pid).state is ProposalState.SUCCEEDED
        market.execute(pid)
        [entry] = market.entries(db)
        assert (entry.contributor, entry.samples, entry.shares, entry.proposal_id) == (contributor, 120, 10 * UNIT, pid)
        assert market.holding(db, contributor).balance == 10 * UNIT
        votes = market.association.votes(pid)
        assert [(v.support, v.weight, v.reason) for v in votes] == [(True, 100 * UNIT, "good data"),
                                                                   (False, 50 * UNIT, "meh")]
        with pytest.raises(AssociationRevert, match="already executed"):
            market.execute(pid)

    def test_mistakes_raise_typed_errors(self, market: Market) -> None:
        db = _open_request(market)
        pid = market.as_account(3).propose(db, cid_for_bytes(b"x"), 5, UNIT)
        with pytest.raises(AssociationRevert, match="unknown proposal") as info:
            market.vote(pid + 1, True)
        assert info.value.reason == "association: unknown proposal"
        market.as_account(1).vote(pid, True)
        with pytest.raises(AssociationRevert, match="already voted"):
            market.as_account(1).vote(pid, False)
        with pytest.raises(AssociationRevert, match="no voting power at the snapshot"):
            market.as_account(4).vote(pid, True)
        with pytest.raises(AssociationRevert, match="shares above the request's maximum"):
            market.propose(db, cid_for_bytes(b"y"), 5, 101 * UNIT)
        with pytest.raises(CidError):
            market.propose(db, "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", 5, UNIT)
        with pytest.raises(TokenRevert, match="nothing to withdraw"):
            market.as_account(1).withdraw(db)
        with pytest.raises(ConfigError, match="out of range"):
            market.as_account(10_000)

    def test_delegation_moves_votes_and_undelegation_removes_them(self, market: Market) -> None:
        db = _open_request(market)
        a = market.chain.accounts()
        market.as_account(2).delegate(db, a[5])
        assert market.holding(db, a[5]).votes == 50 * UNIT and market.holding(db, a[2]).votes == 0
        pid = market.propose(db, cid_for_bytes(b"z"), 5, UNIT)
        assert market.as_account(5).vote(pid, True) == 50 * UNIT
        market.as_account(2).undelegate(db)
        assert market.holding(db, a[5]).votes == 0
        later = market.propose(db, cid_for_bytes(b"w"), 5, UNIT)
        with pytest.raises(AssociationRevert, match="no voting power"):
            market.as_account(5).vote(later, True)

    def test_rules_change_only_through_a_passed_proposal(self, market: Market) -> None:
        db = _open_request(market)
        new = Rules(5000, 6000, 3, 7 * UNIT)
        with pytest.raises(AssociationRevert, match="proposer has no voting power"):
            market.as_account(4).propose_rules(db, new)
        pid = market.as_account(1).propose_rules(db, new)
        assert market.proposal(pid).new_rules() == new
        market.as_account(1).vote(pid, True)
        market.chain.mine(RULES.voting_period)
        market.execute(pid)
        assert market.association.rules(db) == new
        assert market.entries(db) == []
        with pytest.raises(AssociationRevert, match="maximum"):
            market.propose(db, cid_for_bytes(b"v"), 5, 8 * UNIT)

    def test_dividends_pro_rata_and_withdrawn(self, market: Market) -> None:
        db = _open_request(market)
        a = market.chain.accounts()
        market.as_account(0).distribute(db, 3 * UNIT)
        # pro rata to 100:50 shares, floored: each holder may lose at most 1 wei to rounding
        assert 2 * UNIT - 1 <= market.holding(db, a[1]).withdrawable <= 2 * UNIT
        assert UNIT - 1 <= market.holding(db, a[2]).withdrawable <= UNIT
        accrued = market.holding(db, a[1]).withdrawable
        market.as_account(1).token(db).transfer(a[2], 50 * UNIT)
        assert market.holding(db, a[1]).withdrawable == accrued
        before = market.chain.balance(a[2])
        paid = market.as_account(2).withdraw(db)
        assert UNIT - 1 <= paid <= UNIT
        h = market.holding(db, a[2])
        assert (h.withdrawable, h.withdrawn) == (0, paid)
        assert market.chain.balance(a[2]) > before + UNIT * 99 // 100


@pytest.mark.anvil
def test_deployment_is_found_from_another_connection(anvil_rpc: str) -> None:
    chain = connect(anvil_rpc)
    deployed = deploy(chain)
    other = Market.open(anvil_rpc, account=3)
    assert other.deployment == deployed and other.account == chain.accounts()[3]


def test_embedded_deployment_is_shared_within_the_process() -> None:
    reset_embedded()
    first = Market.open("embedded")
    assert Market.open("embedded").deployment == first.deployment
    reset_embedded()
    assert Market.open("embedded").deployment.association == first.deployment.association  # same nonce, new chain
    assert Market.open("embedded").chain.w3 is not first.chain.w3


def test_unreachable_rpc_is_a_clear_error() -> None:
    from databright.errors import ChainError

    with pytest.raises(ChainError, match="no chain answers"):
        connect("http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="http"):
        connect("ftp://x")
