"""The Merkle tree of a job's value payouts, built exactly as OpenZeppelin's StandardMerkleTree.

Why OpenZeppelin's layout and not any Merkle tree: ComputeMarket.claimValue checks a proof with
sorted-pair hashing, which accepts proofs of any tree built that way, but a contributor (or an
auditor) should be able to rebuild the root and their proof with the standard tool
(`@openzeppelin/merkle-tree`, `StandardMerkleTree.of(leaves, ["address", "uint256"])`) and get
the same bytes as the coordinator. So this follows that library step by step:

* leaf  = keccak256(keccak256(abi.encode(address, uint256)))   (double hashed: a leaf can never
  be mistaken for an inner node, whose preimage is 64 bytes);
* the leaf hashes are sorted ascending, laid out at the end of one array in reverse order, and
  every inner node i is hash_pair(tree[2i + 1], tree[2i + 2]) with hash_pair = keccak256 of the
  two hashes in ascending order;
* a proof is the sibling of each node from the leaf up to the root (tree[0]).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from databright.errors import ChainError


def leaf_hash(account: str, amount: int) -> bytes:
    """keccak256(bytes.concat(keccak256(abi.encode(account, amount)))), as claimValue hashes it."""
    return keccak(keccak(encode(["address", "uint256"], [to_checksum_address(account), amount])))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


def process_proof(leaf: bytes, proof: list[bytes]) -> bytes:
    """The root a proof leads to (OpenZeppelin MerkleProof.processProof)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


@dataclass(frozen=True)
class ValueTree:
    """(account, amount) leaves in the order given, and the tree over them."""

    leaves: tuple[tuple[str, int], ...]
    nodes: tuple[bytes, ...]  # OpenZeppelin's array: root first, leaves at the end
    positions: tuple[int, ...]  # tree index of each leaf, in the order of `leaves`

    @classmethod
    def of(cls, payouts: list[tuple[str, int]]) -> ValueTree:
        """Builds the tree; accounts must be distinct and amounts positive (each account claims
        once per job, so a second leaf of one account could never be claimed)."""
        if not payouts:
            raise ChainError("a value tree needs at least one payout")
        leaves = tuple((to_checksum_address(a), int(v)) for a, v in payouts)
        if len({a for a, _ in leaves}) != len(leaves):
            raise ChainError("a value tree holds one leaf per account")
        if any(not 0 < v < 2**256 for _, v in leaves):
            raise ChainError("value payouts must be positive uint256 amounts")
        hashes = [leaf_hash(a, v) for a, v in leaves]
        order = sorted(range(len(hashes)), key=lambda i: hashes[i])
        size = 2 * len(hashes) - 1
        nodes: list[bytes] = [b""] * size
        positions = [0] * len(hashes)
        for rank, i in enumerate(order):
            positions[i] = size - 1 - rank
            nodes[size - 1 - rank] = hashes[i]
        for i in range(size - 1 - len(hashes), -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(leaves, tuple(nodes), tuple(positions))

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def index_of(self, account: str) -> int:
        checksummed = to_checksum_address(account)
        for i, (a, _) in enumerate(self.leaves):
            if a == checksummed:
                return i
        raise ChainError(f"{checksummed} has no value payout in this tree")

    def proof(self, index: int) -> list[bytes]:
        """The proof of leaves[index] (OpenZeppelin getProof)."""
        i = self.positions[index]
        proof: list[bytes] = []
        while i > 0:
            proof.append(self.nodes[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return proof

    def verify(self, index: int, proof: list[bytes]) -> bool:
        account, amount = self.leaves[index]
        return process_proof(leaf_hash(account, amount), proof) == self.root
