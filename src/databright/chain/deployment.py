"""Deploying the market and finding it again from another process.

A deployment is recorded per chain id under ``$DATABRIGHT_HOME/deployments`` together with
the chain's genesis hash, so that a record left over from an anvil that was reset is
recognised as stale instead of pointing at empty addresses.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from databright.chain.artifacts import load_artifacts
from databright.chain.connection import Chain
from databright.config import home
from databright.errors import ChainError, ConfigError


@dataclass(frozen=True)
class Deployment:
    """Addresses of one deployment of the market on one chain."""

    chain_id: int
    genesis_hash: str
    association: str
    token_blueprint: str
    database_blueprint: str
    block: int


# The embedded chain lives in this process only, so its deployment is remembered here.
_embedded_deployments: weakref.WeakKeyDictionary[Any, Deployment] = weakref.WeakKeyDictionary()


def _record_path(chain_id: int) -> Path:
    return home() / "deployments" / f"{chain_id}.json"


def _genesis_hash(chain: Chain) -> str:
    return str(chain.w3.eth.get_block(0)["hash"].hex())


def _deploy_bytecode(chain: Chain, bytecode: str, abi: list[dict[str, object]], *args: object) -> str:
    factory = chain.w3.eth.contract(abi=abi, bytecode=bytecode)
    receipt = chain.send(factory.constructor(*args))
    address = receipt["contractAddress"]
    if not address:
        raise ChainError("deployment produced no contract address")
    return str(address)


def deploy(chain: Chain, record: bool = True) -> Deployment:
    """Deploys both blueprints and the association, and records where they are."""
    art = load_artifacts()
    token_bp = _deploy_bytecode(chain, art["CuratorToken"].blueprint_bytecode, [])
    db_bp = _deploy_bytecode(chain, art["Database"].blueprint_bytecode, [])
    assoc = art["DataAssociation"]
    association = _deploy_bytecode(chain, assoc.bytecode, assoc.abi, token_bp, db_bp)
    deployment = Deployment(
        chain_id=chain.chain_id,
        genesis_hash=_genesis_hash(chain),
        association=association,
        token_blueprint=token_bp,
        database_blueprint=db_bp,
        block=int(chain.w3.eth.block_number),
    )
    if chain.embedded:
        _embedded_deployments[chain.w3] = deployment
    elif record:
        path = _record_path(deployment.chain_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(deployment), indent=2))
    return deployment


def load_deployment(chain: Chain) -> Deployment:
    """The deployment recorded for this chain, checked to still be there."""
    if chain.embedded and chain.w3 in _embedded_deployments:
        return _embedded_deployments[chain.w3]
    path = _record_path(chain.chain_id)
    if chain.embedded or not path.exists():
        raise ConfigError(f"no deployment recorded for chain {chain.chain_id}: run `databright deploy`")
    deployment = Deployment(**json.loads(path.read_text()))
    code = chain.w3.eth.get_code(chain.w3.to_checksum_address(deployment.association))
    if deployment.genesis_hash != _genesis_hash(chain) or not code:
        raise ConfigError(
            f"the deployment recorded for chain {chain.chain_id} is not on this chain any more "
            "(the node was reset): run `databright deploy`"
        )
    return deployment
