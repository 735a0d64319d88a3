"""Deploying the market and finding it again from another process.

A deployment is recorded per chain id under ``$DATABRIGHT_HOME/deployments`` together with
the chain's genesis hash, so that a record left over from an anvil that was reset is
recognised as stale instead of pointing at empty addresses. A record written before the
compute market existed is stale too: nothing could pay or be paid for training through it.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import asdict, dataclass, fields
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
    compute_market: str


_FIELDS = tuple(f.name for f in fields(Deployment))
DEFAULT_MIN_STAKE = 10**18  # one ether: a worker has something to lose when caught deviating

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


def deploy(chain: Chain, record: bool = True, min_stake: int = DEFAULT_MIN_STAKE) -> Deployment:
    """Deploys both blueprints, the association and the compute market, and records where they are.

    The deploying account becomes the compute market's governance (it approves coordinators);
    `min_stake` is the least a worker must lock, in wei.
    """
    if min_stake < 1:
        raise ConfigError(f"the minimum worker stake must be at least 1 wei, not {min_stake}")
    art = load_artifacts()
    token_bp = _deploy_bytecode(chain, art["CuratorToken"].blueprint_bytecode, [])
    db_bp = _deploy_bytecode(chain, art["Database"].blueprint_bytecode, [])
    assoc = art["DataAssociation"]
    association = _deploy_bytecode(chain, assoc.bytecode, assoc.abi, token_bp, db_bp)
    compute = art["ComputeMarket"]
    compute_market = _deploy_bytecode(chain, compute.bytecode, compute.abi, association, min_stake, chain.account)
    deployment = Deployment(
        chain_id=chain.chain_id,
        genesis_hash=_genesis_hash(chain),
        association=association,
        token_blueprint=token_bp,
        database_blueprint=db_bp,
        block=int(chain.w3.eth.block_number),
        compute_market=compute_market,
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
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the deployment record {path} is unreadable ({exc}): run `databright deploy`") from exc
    missing = sorted(set(_FIELDS) - set(raw))
    if missing:
        raise ConfigError(
            f"the deployment recorded for chain {chain.chain_id} is stale: it predates the "
            f"{', '.join(missing)} (an older DataBright deployed it): run `databright deploy` to redeploy"
        )
    deployment = Deployment(**{name: raw[name] for name in _FIELDS})
    if deployment.genesis_hash != _genesis_hash(chain) or not all(
        chain.w3.eth.get_code(chain.w3.to_checksum_address(a))
        for a in (deployment.association, deployment.compute_market)
    ):
        raise ConfigError(
            f"the deployment recorded for chain {chain.chain_id} is not on this chain any more "
            "(the node was reset): run `databright deploy`"
        )
    return deployment
