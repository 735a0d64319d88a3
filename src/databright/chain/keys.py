"""Signing keys of the dev accounts, taken from the chain that funds them.

Signed store requests (EIP-191) need a private key, and dev chains do not sign for us
(eth-tester has no `eth_sign`). So the keys come from the chain itself: eth-tester's backend
holds them, and a `databright node` has anvil write them (`--config-out`). Nothing is kept in
the repository, and an arbitrary RPC endpoint gives no keys: signing there is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from databright.chain.connection import Chain
from databright.errors import ConfigError


def _anvil_keys(rpc: str) -> list[str]:
    from databright.chain.node import running_node

    info = running_node()
    if info is None or info.rpc != rpc or not info.accounts_file or not Path(info.accounts_file).exists():
        return []
    config: dict[str, Any] = json.loads(Path(info.accounts_file).read_text())
    return [str(k) for k in config.get("private_keys", [])]


def dev_keys(chain: Chain) -> dict[str, str]:
    """Address → private key of every dev account whose key the chain gives out."""
    if chain.embedded:
        provider: Any = chain.w3.provider
        keys = [str(k) for k in provider.ethereum_tester.backend.account_keys]
    else:
        keys = _anvil_keys(chain.rpc)
    return {Account.from_key(k).address: k for k in keys}


def signer(chain: Chain, account: str | None = None) -> LocalAccount:
    """The signing account for `account` (default: the chain's acting account)."""
    address = account or chain.account
    key = dev_keys(chain).get(chain.w3.to_checksum_address(address))
    if key is None:
        raise ConfigError(f"no signing key for {address}: signing works with the embedded chain's or a "
                          "`databright node`'s dev accounts")
    acct: LocalAccount = Account.from_key(key)
    return acct
