"""The value tree (databright.chain.merkle) against OpenZeppelin's own StandardMerkleTree.

`@openzeppelin/merkle-tree` (pinned in the Makefile, installed into .tools) is run with node on
the same payouts: its root and every proof must equal ours byte for byte, and a proof it makes
must be accepted by ComputeMarket.claimValue. Without node or the package these tests skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import boa
import pytest
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from databright.chain.merkle import ValueTree, hash_pair, leaf_hash, process_proof
from databright.errors import ChainError

from .test_compute_market import accept, assign, complete, make_market, post

OZ_DIR = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "@openzeppelin" / "merkle-tree"
NODE = shutil.which("node")
needs_oz = pytest.mark.skipif(NODE is None or not OZ_DIR.is_dir(), reason="node or @openzeppelin/merkle-tree missing")

# reads [[address, amount], ...] on stdin; prints the root and the proof of each value, in input order
OZ_SCRIPT = """
const { StandardMerkleTree } = require(process.argv[1]);
const values = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(values, ["address", "uint256"]);
console.log(JSON.stringify({ root: tree.root, proofs: values.map((_, i) => tree.getProof(i)) }));
"""


def oz_tree(payouts: list[tuple[str, int]]) -> tuple[bytes, list[list[bytes]]]:
    """(root, proofs) of OpenZeppelin's StandardMerkleTree over `payouts`."""
    values = json.dumps([[a, str(v)] for a, v in payouts])
    out = subprocess.run([NODE or "node", "-e", OZ_SCRIPT, str(OZ_DIR)], input=values, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    got = json.loads(out)
    return bytes.fromhex(got["root"][2:]), [[bytes.fromhex(h[2:]) for h in p] for p in got["proofs"]]


def account(i: int) -> str:
    return str(to_checksum_address(keccak(text=f"contributor {i}")[-20:]))


PAYOUTS = st.lists(
    st.tuples(st.integers(0, 10**6), st.one_of(st.integers(1, 10**18), st.integers(1, 2**256 - 1))),
    min_size=1, max_size=40, unique_by=lambda t: t[0],
).map(lambda xs: [(account(i), v) for i, v in xs])


@needs_oz
@settings(max_examples=15, deadline=None, database=None)
@given(payouts=PAYOUTS)
def test_same_root_and_proofs_as_openzeppelin(payouts):
    tree = ValueTree.of(payouts)
    root, proofs = oz_tree(payouts)
    assert tree.root == root
    assert [tree.proof(i) for i in range(len(payouts))] == proofs


@needs_oz
def test_same_tree_at_1000_leaves():
    payouts = [(account(i), 10**15 + 7919 * i) for i in range(1000)]
    tree = ValueTree.of(payouts)
    root, proofs = oz_tree(payouts)
    assert tree.root == root
    assert [tree.proof(i) for i in range(1000)] == proofs
    assert {len(p) for p in proofs} == {9, 10}


@needs_oz
def test_contract_accepts_openzeppelins_proof(compute_market, governance, dataset, make_account):
    market = make_market(compute_market, governance, dataset, make_account)
    cm = market.cm
    contributors = [make_account(1) for _ in range(5)]
    payouts = [(c, 10**15 * (i + 1)) for i, c in enumerate(contributors)]
    root, proofs = oz_tree(payouts)
    job = post(cm, market.buyer, market.db)
    accept(cm, market.coord, job)
    assign(cm, market.coord, job, market.workers)
    complete(cm, market.coord, job, market.workers, [1, 1, 1],
             value=(root, b"\x07" * 32, sum(v for _, v in payouts)))
    for (who, amount), proof in zip(payouts, proofs, strict=True):
        before = boa.env.get_balance(who)
        with boa.env.prank(who):
            cm.claimValue(job, amount, proof)
        assert boa.env.get_balance(who) == before + amount
    assert cm.jobValue(job)[2] == 0


# ---------------------------------------------------------------- the tree on its own


@settings(max_examples=30, deadline=None, database=None)
@given(payouts=PAYOUTS)
def test_every_proof_leads_to_the_root(payouts):
    tree = ValueTree.of(payouts)
    for i, (who, amount) in enumerate(tree.leaves):
        proof = tree.proof(i)
        assert tree.verify(i, proof)
        assert process_proof(leaf_hash(who, amount), proof) == tree.root
        wrong = amount - 1 if amount > 1 else amount + 1  # another amount, still a uint256
        assert process_proof(leaf_hash(who, wrong), proof) != tree.root
    assert len(tree.nodes) == 2 * len(payouts) - 1


def test_small_trees():
    a, b = account(1), account(2)
    one = ValueTree.of([(a, 5)])
    assert one.root == leaf_hash(a, 5) and one.proof(0) == []
    two = ValueTree.of([(a, 5), (b, 6)])
    assert two.root == hash_pair(leaf_hash(a, 5), leaf_hash(b, 6))
    assert two.proof(0) == [leaf_hash(b, 6)] and two.proof(1) == [leaf_hash(a, 5)]
    assert two.index_of(b.lower()) == 1


@pytest.mark.parametrize(
    ("payouts", "message"),
    [
        ([], "at least one payout"),
        ([(account(1), 1), (account(1), 2)], "one leaf per account"),
        ([(account(1), 0)], "positive"),
        ([(account(1), 2**256)], "positive"),
    ],
)
def test_bad_trees_are_refused(payouts, message):
    with pytest.raises(ChainError, match=message):
        ValueTree.of(payouts)


def test_index_of_a_stranger():
    with pytest.raises(ChainError, match="has no value payout"):
        ValueTree.of([(account(1), 1)]).index_of(account(2))
