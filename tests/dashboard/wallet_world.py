"""A small market on anvil for the wallet tests, and the EIP-1193 wallet the tests put into the page.

The demo takes a minute and leaves nothing open to vote on, so the wallet tests build what they act
on directly through the Python client, in a few seconds: one request with four curators (two of
them voting, one not yet delegated, one through a delegate holding no shares), dividends paid to its
token, a second request of tabular data, a worker paid for a job, a store holding the data proposed.
Each test makes the proposals it needs (`World.proposal`).

`wallet_script` is the wallet: an EIP-1193 provider injected before the page's own scripts
(`add_init_script`) that answers accounts and the chain id itself, forwards every other request
(`eth_sendTransaction`, `personal_sign`, calls) to anvil, whose unlocked dev accounts sign, and
refuses the methods it is told to with EIP-1193's user-rejection error (4001). It announces itself
through EIP-6963 and, unless told not to, as `window.ethereum`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from databright.chain.connection import Chain, connect
from databright.chain.contracts import Rules
from databright.chain.deployment import deploy
from databright.chain.keys import signer
from databright.dashboard import BlobReader, Dashboard, create_app
from databright.datasets.canonical import canonicalize
from databright.datasets.spec import DatasetSpec
from databright.market import Market
from databright.market.data import publish_spec
from databright.market.units import UNIT
from databright.store import BlobStore
from databright.store.client import StoreClient
from databright.store.server import ServerThread
from databright.store.server import create_app as store_app
from databright.store.server.access import ChainAccessPolicy

SPEC = DatasetSpec(name="glyphs", feature_shape=(8, 8), dtype="float32", labels=(0, 1, 2))
TABLE = DatasetSpec(name="readings", feature_shape=(5,), dtype="float64", labels=(0, 1))  # drawn as a table
RULES = Rules(quorum_bps=2000, approval_bps=5000, voting_period=12, max_shares=10 * UNIT)
DIVIDEND = UNIT  # paid to the token before the tests


@dataclass
class World:
    market: Market  # acting as the initiator (dev account 0), who governs the compute market
    rpc: str
    store_url: str
    dashboard: str
    database: str  # request #0, glyphs (image-shaped samples)
    token: str
    tabular: str  # request #1, readings (a row of numbers per sample)
    jobs: list[int]  # settled with the worker paid; jobs[1] with value payouts, jobs[2] with a report off its root
    roles: dict[str, str]
    datasets: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = field(default_factory=dict)
    _seed: int = 0

    @property
    def chain(self) -> Chain:
        return self.market.chain

    def contract(self, name: str, address: str) -> Any:
        """A web3.py contract: the tests read the chain through it, not through the dashboard."""
        from databright.chain.artifacts import load_artifacts

        return self.chain.w3.eth.contract(address=address, abi=load_artifacts()[name].abi)

    @property
    def association(self) -> Any:
        return self.contract("DataAssociation", self.market.deployment.association)

    @property
    def tokens(self) -> Any:
        return self.contract("CuratorToken", self.token)

    @property
    def compute(self) -> Any:
        return self.contract("ComputeMarket", self.market.deployment.compute_market)

    def upload(self, samples: int = 12, spec: DatasetSpec = SPEC) -> str:
        """New samples for `spec` uploaded by the contributor; their CID (every call gives different data)."""
        self._seed += 1
        rng = np.random.default_rng(self._seed)
        if spec is SPEC:
            x = rng.integers(0, 16, size=(samples, 8, 8)).astype(np.float32)
        else:
            x = rng.normal(size=(samples, *spec.feature_shape))
        y = rng.choice(spec.labels, size=samples)
        data = canonicalize(x, y, spec)
        with StoreClient(self.store_url, signer(self.chain, self.roles["contributor"])) as store:
            cid = store.upload_bytes(data.to_bytes())
        self.datasets[cid] = (data.x, data.y)
        return cid

    def proposal(self, samples: int = 12, shares: int = 2 * UNIT, tabular: bool = False) -> tuple[int, str]:
        """A fresh data proposal by the contributor: (its id, the CID of its data)."""
        cid = self.upload(samples, TABLE if tabular else SPEC)
        database = self.tabular if tabular else self.database
        return self.market.as_account(self.roles["contributor"]).propose(database, cid, samples, shares), cid

    def mine(self, blocks: int) -> None:
        self.chain.w3.provider.make_request("anvil_mine", [hex(blocks)])


@contextmanager
def build_world(rpc: str) -> Iterator[World]:
    chain = connect(rpc)
    market = Market(chain, deploy(chain, record=False))
    accounts = chain.accounts()
    roles = {"initiator": accounts[0], "curator": accounts[1], "newcomer": accounts[2], "contributor": accounts[3],
             "outsider": accounts[4], "worker": accounts[5], "second": accounts[6], "holder": accounts[7],
             "delegate": accounts[8]}  # the holder's shares vote through the delegate, who holds none
    server_log = logging.getLogger("databright.store.server")
    level = server_log.level
    server_log.setLevel(logging.ERROR)  # the refusals the tests ask for are not news
    with tempfile.TemporaryDirectory(prefix="databright-wallet-store-") as root:
        blobs = BlobStore(Path(root))
        with ServerThread(store_app(blobs, ChainAccessPolicy(market, store=blobs))) as store:
            with StoreClient(store.url, signer(chain, roles["initiator"])) as client:
                spec_cid, _ = publish_spec(client, SPEC)
                table_cid, _ = publish_spec(client, TABLE)
            info = market.create_request("glyphs", "GLY", spec_cid, {roles["curator"]: 6 * UNIT,
                                                                     roles["newcomer"]: 3 * UNIT,
                                                                     roles["second"]: 1 * UNIT,
                                                                     roles["holder"]: 1 * UNIT}, RULES)
            table = market.create_request("readings", "RDG", table_cid, {roles["curator"]: UNIT}, RULES)
            for who, database in (("curator", info.database), ("second", info.database), ("curator", table.database)):
                market.as_account(roles[who]).delegate(database)
            market.as_account(roles["holder"]).delegate(info.database, roles["delegate"])
            market.distribute(info.database, DIVIDEND)
            paid = {roles["contributor"]: 3 * UNIT // 10, roles["second"]: UNIT // 10}
            with StoreClient(store.url, signer(chain, roles["initiator"])) as coordinator:
                jobs = [_paid_worker(market, info.database, spec_cid, roles["worker"]),
                        _paid_worker(market, info.database, spec_cid, roles["worker"], coordinator, paid, paid),
                        _paid_worker(market, info.database, spec_cid, roles["worker"], coordinator, paid,
                                     {**paid, roles["second"]: UNIT // 5})]  # the report says 0.1, the root 0.2
                # the dashboard reads its own documents as the coordinator (value reports, specs), and never signs
                # for a visitor: the relay forwards the visitor's own signature
                view = Dashboard(Market(connect(rpc), market.deployment),
                                 BlobReader(StoreClient(store.url, signer(chain, roles["initiator"]))),
                                 poll_seconds=0.3, store_url=store.url)
                with ServerThread(create_app(view)) as dashboard:
                    yield World(market, rpc, store.url, dashboard.url, info.database, info.token, table.database,
                                jobs, roles)
                if view.blobs.store is not None:
                    view.blobs.store.close()
    server_log.setLevel(level)


def _paid_worker(market: Market, database: str, spec_cid: str, worker: str, store: StoreClient | None = None,
                 reported: dict[str, int] | None = None, rooted: dict[str, int] | None = None) -> int:
    """A job settled with the initiator as its coordinator, paying `worker` for 10 verified units and,
    with a `store`, the contributors by value: `reported` in the stored value report (as
    `databright.compute.job_value` writes its contributors), `rooted` in the tree on-chain."""
    compute = market.compute
    if not compute.worker(worker).registered:
        compute.as_account(worker).register_worker(compute.min_stake)
        compute.approve_coordinator(market.account, market.account, hashlib.sha256(b"dev").digest())
    job = compute.post_job(database, spec_cid, UNIT, UNIT // 2, market.chain.now() + 3600)
    compute.accept_job(job)
    compute.assign_workers(job, [worker])
    value_cid = None
    if store is not None and reported is not None:
        report = {"version": 1, "job": job, "contributors": [{"address": a, "value": 0.01, "amount_wei": v}
                                                              for a, v in reported.items()]}
        value_cid = store.upload_bytes(json.dumps(report).encode())
    compute.complete_job(job, spec_cid, hashlib.sha256(b"model").digest(), spec_cid, {worker: 10}, value_cid, rooted)
    return job


def wallet_script(rpc: str, *wallets: dict[str, Any]) -> str:
    """The init script injecting one EIP-1193 provider per entry of `wallets`.

    Each entry: account (the dev account it signs as), and optionally name, chain_id (what it
    reports until switched, default anvil's), reject (methods refused with 4001), legacy (also
    `window.ethereum`, default True for the first). Each provider records the methods it was asked
    in `window.walletCalls[name]`; `window.walletEmit[name](event, argument)` fires a provider event.
    """
    configs = [{"name": "Test Wallet", "chain_id": None, "reject": [], "legacy": i == 0, **w,
                "uuid": f"00000000-0000-4000-8000-{i:012d}", "rdns": f"org.databright.test{i}"}
               for i, w in enumerate(wallets)]
    return f"(() => {{\nconst RPC = {json.dumps(rpc)}, CONFIGS = {json.dumps(configs)};\n{_PROVIDER}\n}})();"


_PROVIDER = r"""
window.walletCalls = {};
window.walletEmit = {};  // name -> (event, argument): what a wallet does when its user switches accounts
let id = 0;
async function anvil(method, params) {
  const answer = await fetch(RPC, {method: "POST", headers: {"content-type": "application/json"},
                                   body: JSON.stringify({jsonrpc: "2.0", id: ++id, method, params: params || []})});
  const body = await answer.json();
  if (body.error) throw Object.assign(new Error(body.error.message), {code: body.error.code, data: body.error.data});
  return body.result;
}
for (const cfg of CONFIGS) {
  const calls = window.walletCalls[cfg.name] = [];
  const listeners = {};
  let chainId = null;
  const provider = {
    async request({method, params}) {
      calls.push(method);
      if (cfg.reject.includes(method)) throw Object.assign(new Error("User rejected the request."), {code: 4001});
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [cfg.account];
      if (method === "eth_chainId") {
        if (chainId === null) {
          chainId = cfg.chain_id === null ? await anvil("eth_chainId") : "0x" + cfg.chain_id.toString(16);
        }
        return chainId;
      }
      if (method === "wallet_switchEthereumChain") {
        const real = await anvil("eth_chainId");
        if (Number(params[0].chainId) !== Number(real)) {
          throw Object.assign(new Error("Unrecognized chain"), {code: 4902});
        }
        chainId = real;
        for (const f of listeners.chainChanged || []) f(chainId);
        return null;
      }
      return anvil(method, params);
    },
    on(event, f) { (listeners[event] = listeners[event] || []).push(f); },
    emit(event, argument) {
      if (event === "accountsChanged") cfg.account = argument[0];
      for (const f of listeners[event] || []) f(argument);
    },
    removeListener(event, f) { listeners[event] = (listeners[event] || []).filter((g) => g !== f); },
  };
  window.walletEmit[cfg.name] = (event, argument) => provider.emit(event, argument);
  const info = Object.freeze({uuid: cfg.uuid, name: cfg.name, rdns: cfg.rdns,
                              icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"});
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider",
                                                              {detail: Object.freeze({info, provider})}));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
  if (cfg.legacy) window.ethereum = provider;
}
"""
