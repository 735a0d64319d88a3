"""Connecting to a chain and sending transactions that fail with typed errors.

Two kinds of chain: the embedded one (eth-tester on py-evm, in this process, gone when it
ends: right for the demo and tests) and any JSON-RPC node (a `databright node` anvil, with
its state on disk, for separate CLI commands and several processes). Both expose unlocked
funded dev accounts, so DataBright never handles a private key for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import RPCEndpoint

from databright.errors import ChainError, ConfigError, revert_from_reason

EMBEDDED = "embedded"
_REVERT_PREFIXES = ("execution reverted: ", "execution reverted:", "revert: ", "VM Exception: ")


@dataclass
class Chain:
    """A connection plus the account that signs what this process sends."""

    w3: Web3
    rpc: str
    account: str

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def embedded(self) -> bool:
        return self.rpc == EMBEDDED

    def accounts(self) -> list[str]:
        return [str(a) for a in self.w3.eth.accounts]

    def balance(self, address: str) -> int:
        """Ether held by `address`, in wei."""
        return int(self.w3.eth.get_balance(self.w3.to_checksum_address(address)))

    def with_account(self, account: str | int) -> Chain:
        """The same connection, sending as another of the node's accounts."""
        return Chain(self.w3, self.rpc, resolve_account(self.w3, account))

    def send(self, fn: Any, value: int = 0) -> Any:
        """Sends a contract call as a transaction and returns its receipt.

        A revert becomes the DataBrightError subclass its reason names.
        """
        params: dict[str, Any] = {"from": self.account, "value": value}
        if self.embedded:
            # py-evm estimates gas by a binary search of about a dozen executions; the embedded chain mines
            # each transaction in its own block, so a fixed ceiling is as good and costs one execution
            params["gas"] = EMBEDDED_GAS
        try:
            tx_hash = fn.transact(params)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        except (ContractLogicError, TransactionFailed) as exc:
            raise revert_from_reason(revert_reason(exc)) from exc
        except (Web3Exception, OSError, ValueError) as exc:
            raise ChainError(f"transaction failed: {exc}") from exc
        if receipt["status"] != 1:
            self._explain_revert(fn, value, receipt)
            raise ChainError(f"transaction {tx_hash.hex()} reverted without a reason")
        return receipt

    def _explain_revert(self, fn: Any, value: int, receipt: Any) -> None:
        """Replays a reverted transaction as a call on the state before it, for its reason (a
        transaction sent without a gas estimate reverts on-chain instead of at the estimate)."""
        try:
            fn.call({"from": self.account, "value": value}, block_identifier=receipt["blockNumber"] - 1)
        except (ContractLogicError, TransactionFailed) as exc:
            raise revert_from_reason(revert_reason(exc)) from exc
        except (Web3Exception, OSError, ValueError):
            return

    def call(self, fn: Any) -> Any:
        """A read-only contract call; a revert becomes a typed error."""
        try:
            # with no `from`, web3's eth-tester middleware asks for every account on each call
            return fn.call({"from": self.account})
        except (ContractLogicError, TransactionFailed) as exc:
            raise revert_from_reason(revert_reason(exc)) from exc
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"call failed: {exc}") from exc

    def mine(self, blocks: int = 1) -> None:
        """Advances a dev chain by empty blocks (voting periods are counted in blocks)."""
        if blocks < 1:
            raise ConfigError("mine at least one block")
        if self.embedded:
            provider: Any = self.w3.provider
            provider.ethereum_tester.mine_blocks(blocks)
        else:
            self.w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(blocks)])

    def now(self) -> int:
        """The latest block's timestamp: the chain's clock, which job deadlines are measured by.

        The next transaction runs in a later block, so its `block.timestamp` is at least this.
        """
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> int:
        """Moves a dev chain's clock forward by `seconds` and mines a block there; returns `now()`.

        Deadlines are wall-clock times on-chain, so tests of refunds and expiry need to jump
        past them instead of sleeping.
        """
        if seconds < 1:
            raise ConfigError(f"advance the clock by at least one second, not {seconds}")
        target = self.now() + seconds
        if self.embedded:
            tester: Any = self.w3.provider
            backend = tester.ethereum_tester.backend
            # py-evm mines the block at (to_timestamp - 1) and opens the next one at to_timestamp;
            # asking for target + 1 puts the latest block exactly at target
            pending = int(tester.ethereum_tester.get_block_by_number("pending")["timestamp"])
            backend.time_travel(max(target + 1, pending + 1))
        else:
            for method, params in (("evm_increaseTime", [hex(seconds)]), ("evm_mine", [])):
                try:
                    answer: Any = self.w3.provider.make_request(RPCEndpoint(method), params)
                except (Web3Exception, OSError) as exc:
                    raise ChainError(f"{self.rpc} cannot move its clock (not a dev node?): {exc}") from exc
                if isinstance(answer, dict) and answer.get("error"):
                    raise ChainError(f"{self.rpc} cannot move its clock (not a dev node?): {answer['error']}")
        return self.now()


def revert_reason(exc: Exception) -> str:
    """The contract's reason string, without the node's decoration."""
    message = getattr(exc, "message", None)
    text = str(message or (exc.args[0] if exc.args else exc))
    for prefix in _REVERT_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text.strip()


def resolve_account(w3: Web3, account: str | int) -> str:
    """An account given as an index into the node's accounts or as an address."""
    accounts = [str(a) for a in w3.eth.accounts]
    if isinstance(account, int) or str(account).isdigit():
        i = int(account)
        if not 0 <= i < len(accounts):
            raise ConfigError(f"account index {i} out of range: this node has {len(accounts)} accounts")
        return accounts[i]
    if not Web3.is_address(account):
        raise ConfigError(f"not an address or account index: {account!r}")
    address = Web3.to_checksum_address(account)
    if address not in accounts:
        raise ConfigError(f"{address} is not one of this node's unlocked accounts")
    return str(address)


def default_rpc() -> str:
    """`DATABRIGHT_RPC`, else a running `databright node`, else the embedded chain."""
    return os.environ.get("DATABRIGHT_RPC") or _node_rpc() or EMBEDDED


_embedded: list[Web3] = []
EMBEDDED_GAS = 12_000_000  # per transaction on the embedded chain (its blocks hold 30M)
DEV_ACCOUNTS = 100  # funded dev accounts of the embedded chain and of `databright node`


def embedded_web3() -> Web3:
    """This process's embedded chain: one per process, so every command run in it shares it."""
    if not _embedded:
        from eth_tester import EthereumTester

        from databright.chain.embedded import IndexedPyEVMBackend

        # the market needs more roles than eth-tester's default 10 accounts (shard owners, a coordinator, a buyer)
        genesis = IndexedPyEVMBackend.generate_genesis_state(num_accounts=DEV_ACCOUNTS)
        _embedded.append(Web3(EthereumTesterProvider(EthereumTester(IndexedPyEVMBackend(genesis_state=genesis)))))
    return _embedded[0]


def reset_embedded() -> None:
    """Forgets this process's embedded chain (tests start each case on a fresh one)."""
    _embedded.clear()


def _node_rpc() -> str | None:
    from databright.chain.node import running_node  # the node module needs nothing from here

    info = running_node()
    return info.rpc if info else None


def connect(rpc: str | None = None, account: str | int = 0) -> Chain:
    """Connects to `rpc` (a URL or ``"embedded"``; default as in `default_rpc`)."""
    rpc = rpc or default_rpc()
    if rpc == EMBEDDED:
        w3 = embedded_web3()
    elif rpc.startswith(("http://", "https://")):
        w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
        if not w3.is_connected():
            raise ChainError(f"no chain answers at {rpc}: start one with `databright node`")
    else:
        raise ConfigError(f"--rpc takes an http(s) URL or 'embedded', not {rpc!r}")
    return Chain(w3, rpc, resolve_account(w3, account))
