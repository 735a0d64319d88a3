"""The embedded chain's backend: eth-tester's py-evm backend with an index of transactions.

eth-tester finds a transaction by scanning every block back from the head, so each receipt costs
O(length of the chain) and `get_logs` (a receipt per transaction in range) O(chain²): after the demo's
~800 transactions one `get_logs` took 10 s. This backend remembers which block each transaction is in,
indexing new blocks as they appear, and falls back to eth-tester's scan when the index is wrong (a
chain reverted to a snapshot), so it can only be faster, never different.
"""

from __future__ import annotations

from typing import Any

from eth_tester import PyEVMBackend
from eth_tester.backends.pyevm.main import _get_transaction_by_hash
from eth_tester.backends.pyevm.serializers import serialize_transaction, serialize_transaction_receipt
from eth_tester.exceptions import TransactionNotFound


class IndexedPyEVMBackend(PyEVMBackend):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._block_of: dict[bytes, int] = {}
        self._indexed_to = -1

    def _locate(self, tx_hash: bytes) -> tuple[Any, Any, int]:
        chain = self.chain
        head = chain.get_block()  # the pending block
        for index, tx in enumerate(head.transactions):
            if tx.hash == tx_hash:
                return head, tx, index
        if tx_hash not in self._block_of:
            for number in range(self._indexed_to + 1, head.number):
                for tx in chain.get_canonical_block_by_number(number).transactions:
                    self._block_of[tx.hash] = number
            self._indexed_to = max(self._indexed_to, head.number - 1)
        known = self._block_of.get(tx_hash)
        if known is not None and known < head.number:
            block = chain.get_canonical_block_by_number(known)
            for index, tx in enumerate(block.transactions):
                if tx.hash == tx_hash:
                    return block, tx, index
        try:
            found: tuple[Any, Any, int] = _get_transaction_by_hash(chain, tx_hash)
        except TransactionNotFound:
            raise
        self._block_of.clear()  # the index was stale (a reverted chain): rebuild it from scratch
        self._indexed_to = -1
        return found

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, tx, index = self._locate(transaction_hash)
        return serialize_transaction(block, tx, index, block.number == self.chain.get_block().number)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, tx, index = self._locate(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return serialize_transaction_receipt(block, block.get_receipts(self.chain.chaindb), tx, index, is_pending,
                                             self.chain.get_vm())
