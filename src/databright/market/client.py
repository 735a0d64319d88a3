"""One object for every role of the data market, used by the CLI, the demo and tests.

It resolves what people type (a request by index or address, a CID as text, whole shares)
into contract calls, and hands back plain dataclasses. Each `Market` acts as one account;
`as_account` gives a view of the same market acting as another. The compute market of the
same deployment is `market.compute` (a `ComputeClient` acting as the same account).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from databright.chain.connection import Chain, connect
from databright.chain.contracts import CuratorToken, DataAssociation, Database, Entry, Proposal, Rules
from databright.chain.deployment import Deployment, deploy, load_deployment
from databright.cid import cid_from_digest, digest_from_cid
from databright.errors import ConfigError
from databright.market.compute import ComputeClient

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class RequestInfo:
    index: int
    name: str
    symbol: str
    database: str
    token: str
    spec_cid: str
    rules: Rules
    entries: int
    total_supply: int


@dataclass(frozen=True)
class Holding:
    account: str
    balance: int
    votes: int
    delegate: str
    withdrawable: int
    withdrawn: int


class Market:
    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.deployment = deployment
        self.association = DataAssociation(chain, deployment.association)
        self._compute: ComputeClient | None = None

    @classmethod
    def open(cls, rpc: str | None = None, account: str | int = 0) -> Market:
        """Connects and finds the deployment; the embedded chain is deployed on first use."""
        chain = connect(rpc, account)
        try:
            deployment = load_deployment(chain)
        except ConfigError:
            if not chain.embedded:
                raise
            deployment = deploy(chain)
        return cls(chain, deployment)

    @property
    def account(self) -> str:
        return self.chain.account

    def as_account(self, account: str | int) -> Market:
        return Market(self.chain.with_account(account), self.deployment)

    @property
    def compute(self) -> ComputeClient:
        """The deployment's compute market, acting as this market's account."""
        if self._compute is None:
            self._compute = ComputeClient(self.chain, self.deployment)
        return self._compute

    # ------------------------------------------------------------ requests

    def create_request(self, name: str, symbol: str, spec_cid: str, curators: dict[str, int],
                       rules: Rules) -> RequestInfo:
        """Opens a request whose bootstrap `curators` (address → shares) can vote at once."""
        if not curators:
            raise ConfigError("a request needs at least one bootstrap curator")
        database, _ = self.association.create_request(
            name, symbol, digest_from_cid(spec_cid), list(curators), list(curators.values()), rules
        )
        return self.request(database)

    def resolve_request(self, ref: str) -> str:
        """A request named by its index (``0``) or its database address."""
        requests = self.association.requests()
        if ref.isdigit():
            i = int(ref)
            if i >= len(requests):
                raise ConfigError(f"no request #{i}: there are {len(requests)}")
            return requests[i]
        if not Web3.is_address(ref):
            raise ConfigError(f"a request is an index or a database address, not {ref!r}")
        address = Web3.to_checksum_address(ref)
        if address not in requests:
            raise ConfigError(f"{address} is not a request of this market")
        return str(address)

    def request(self, database: str) -> RequestInfo:
        db = Database(self.chain, database)
        token = CuratorToken(self.chain, db.token())
        return RequestInfo(
            index=self.association.requests().index(db.address), name=db.name(), symbol=token.symbol(),
            database=db.address, token=token.address, spec_cid=cid_from_digest(db.spec_digest()),
            rules=self.association.rules(db.address), entries=db.entry_count(),
            total_supply=token.total_supply(),
        )

    def requests(self) -> list[RequestInfo]:
        return [self.request(d) for d in self.association.requests()]

    def token(self, database: str) -> CuratorToken:
        return CuratorToken(self.chain, self.association.token_of(database))

    def entries(self, database: str) -> list[Entry]:
        return Database(self.chain, database).entries()

    # ------------------------------------------------------------ proposals and votes

    def propose(self, database: str, cid: str, samples: int, shares: int) -> int:
        """Proposes the data named by `cid`; returns the proposal id."""
        return self.association.propose(database, digest_from_cid(cid), samples, shares)

    def propose_rules(self, database: str, rules: Rules) -> int:
        return self.association.propose_rules(database, rules)

    def proposal(self, proposal_id: int) -> Proposal:
        return self.association.proposal(proposal_id)

    def proposals(self, database: str | None = None) -> list[Proposal]:
        found = [self.association.proposal(i) for i in range(1, self.association.proposal_count() + 1)]
        return [p for p in found if database is None or p.database == database]

    def vote(self, proposal_id: int, support: bool, reason: str = "") -> int:
        return self.association.cast_vote(proposal_id, support, reason)

    def execute(self, proposal_id: int) -> None:
        self.association.execute(proposal_id)

    # ------------------------------------------------------------ shares and dividends

    def delegate(self, database: str, to: str | None = None) -> str:
        """Gives this account's votes in `database` to `to` (itself by default)."""
        target = to or self.account
        if not Web3.is_address(target):
            raise ConfigError(f"not an address: {target!r}")
        target = str(Web3.to_checksum_address(target))
        self.token(database).delegate(target)
        return target

    def undelegate(self, database: str) -> None:
        self.token(database).delegate(ZERO)

    def holding(self, database: str, account: str | None = None) -> Holding:
        who = account or self.account
        token = self.token(database)
        return Holding(who, token.balance_of(who), token.votes(who), token.delegate_of(who),
                       token.withdrawable(who), token.withdrawn(who))

    def holdings(self, database: str) -> list[Holding]:
        return [self.holding(database, a) for a in self.token(database).holders()]

    def distribute(self, database: str, wei: int) -> None:
        self.token(database).distribute(wei)

    def withdraw(self, database: str) -> int:
        return self.token(database).withdraw_dividend()
