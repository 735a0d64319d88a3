# pragma version ~=0.4.3
"""
@title DataAssociation
@license Apache-2.0
@notice Runs the data market of DataBright: opens data requests (each with its own
        Database registry and CuratorToken shares), takes data proposals, counts votes
        weighted by shares delegated at a snapshot, and executes what passed: a registry
        entry plus newly minted shares for the contributor. A request's rules (how it
        votes, and valueShareBps: the share of every compute job's data fee paid to its
        contributors by the measured value of their data rather than pro rata to shares)
        change only through a passed proposal of its own shareholders. At most one proposal
        per cid is open at a time, so two passing proposals can never race for one entry.
@dev A proposal's weight is getPastVotes at the block before the proposal, so tokens
     bought, minted or moved afterwards never change its outcome. Tallies are kept as votes
     arrive; nothing loops over voters. Proposal storage is packed into four slots:
       _core[p]  = for (96) | against (96) | snapshot block (32) | deadline block (32)
       _meta[p]  = database (160) | kind (8) | executed (8) | quorum bps (16)
                   | approval bps (16) | samples (48)
       _payee[p] = proposer, who is the contributor of data (160) | shares (96)
       _body[p]  = the cid digest (data) or the packed new rules (rules)
     Tallies fit 96 bits because the token caps its supply at 2**96 - 1.
"""

interface CuratorToken:
    def mint(to: address, amount: uint256): nonpayable
    def getVotes(account: address) -> uint256: view
    def getPastVotes(account: address, timepoint: uint256) -> uint256: view
    def getPastTotalSupply(timepoint: uint256) -> uint256: view

interface Database:
    def append(cid: bytes32, contributor: address, samples: uint256, shares: uint256,
               proposalId: uint256) -> uint256: nonpayable
    def indexOf(cid: bytes32) -> uint256: view

event RequestCreated:
    database: indexed(address)
    token: indexed(address)
    initiator: indexed(address)
    name: String[64]
    specCid: bytes32

event ProposalCreated:
    proposalId: indexed(uint256)
    database: indexed(address)
    proposer: indexed(address)
    kind: uint8
    body: bytes32
    samples: uint256
    shares: uint256
    snapshot: uint256
    deadline: uint256

event VoteCast:
    voter: indexed(address)
    proposalId: indexed(uint256)
    support: uint8
    weight: uint256
    reason: String[512]

event ProposalExecuted:
    proposalId: indexed(uint256)

event RulesChanged:
    database: indexed(address)
    quorumBps: uint256
    approvalBps: uint256
    votingPeriod: uint256
    maxShares: uint256
    valueShareBps: uint256

KIND_DATA: public(constant(uint8)) = 1
KIND_RULES: public(constant(uint8)) = 2

STATE_ACTIVE: public(constant(uint8)) = 1
STATE_DEFEATED: public(constant(uint8)) = 2
STATE_SUCCEEDED: public(constant(uint8)) = 3
STATE_EXECUTED: public(constant(uint8)) = 4

MAX_CURATORS: constant(uint256) = 32
BPS: constant(uint256) = 10_000
MASK8: constant(uint256) = 2**8 - 1
MASK16: constant(uint256) = 2**16 - 1
MASK32: constant(uint256) = 2**32 - 1
MASK96: constant(uint256) = 2**96 - 1
MASK160: constant(uint256) = 2**160 - 1
SUPPLY_CAP: constant(uint256) = 2**96 - 1

TOKEN_BLUEPRINT: public(immutable(address))
DATABASE_BLUEPRINT: public(immutable(address))

requestCount: public(uint256)
requestAt: public(HashMap[uint256, address])
tokenOf: public(HashMap[address, address])
# quorum bps (16) | approval bps (16) | voting period (32) | max shares (96)
# | value share bps (16): one slot
_rules: HashMap[address, uint256]
# the latest data proposal for (database, cid): a new one is refused while it is open
_cidProposal: HashMap[address, HashMap[bytes32, uint256]]

proposalCount: public(uint256)
_core: HashMap[uint256, uint256]
_meta: HashMap[uint256, uint256]
_payee: HashMap[uint256, uint256]
_body: HashMap[uint256, bytes32]
hasVoted: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(tokenBlueprint: address, databaseBlueprint: address):
    """
    @notice Binds the association to the blueprints each new request is created from.
    """
    assert tokenBlueprint != empty(address) and databaseBlueprint != empty(address), \
        "association: zero blueprint"
    TOKEN_BLUEPRINT = tokenBlueprint
    DATABASE_BLUEPRINT = databaseBlueprint


# ---------------------------------------------------------------- requests

@internal
@pure
def _packRules(quorumBps: uint256, approvalBps: uint256, votingPeriod: uint256,
               maxShares: uint256, valueShareBps: uint256) -> uint256:
    assert quorumBps <= BPS, "association: quorum above 100%"
    assert approvalBps > 0 and approvalBps <= BPS, "association: approval must be 1..10000 bps"
    assert votingPeriod > 0 and votingPeriod < 2**32, "association: voting period out of range"
    assert maxShares > 0 and maxShares <= SUPPLY_CAP, "association: max shares out of range"
    assert valueShareBps <= BPS, "association: value share above 100%"
    return quorumBps | (approvalBps << 16) | (votingPeriod << 32) | (maxShares << 64) \
        | (valueShareBps << 160)


@external
def createRequest(name: String[64], symbol: String[16], specCid: bytes32,
                  curators: DynArray[address, MAX_CURATORS],
                  curatorShares: DynArray[uint256, MAX_CURATORS],
                  quorumBps: uint256, approvalBps: uint256, votingPeriod: uint256,
                  maxShares: uint256, valueShareBps: uint256) -> address:
    """
    @notice Opens a data request: deploys its share token and registry, mints the
            bootstrap shares of the curators the initiator names, and sets its rules.
    @param specCid Digest of the request's spec (CIDv1 raw sha2-256).
    @param quorumBps Votes cast needed, in basis points of the supply at the snapshot.
    @param approvalBps Share of the votes cast that must be in favour, in basis points.
    @param votingPeriod Blocks a proposal stays open after the block it was made in.
    @param maxShares Most shares one data proposal may ask for.
    @param valueShareBps Part of each compute job's data fee, in basis points, paid to the
           contributors by the measured value of their data in that job (the clients
           default to 5000); the rest is paid pro rata to shares.
    @return The request's Database address, which identifies the request.
    """
    assert len(curators) > 0, "association: at least one curator"
    assert len(curators) == len(curatorShares), "association: curators and shares differ in length"
    assert specCid != empty(bytes32), "association: empty spec cid"
    rules: uint256 = self._packRules(quorumBps, approvalBps, votingPeriod, maxShares,
                                     valueShareBps)
    token: address = create_from_blueprint(TOKEN_BLUEPRINT, name, symbol, self, code_offset=3)
    database: address = create_from_blueprint(DATABASE_BLUEPRINT, name, specCid, token, self,
                                              code_offset=3)
    for i: uint256 in range(len(curators), bound=MAX_CURATORS):
        assert curatorShares[i] > 0, "association: curator shares must be positive"
        extcall CuratorToken(token).mint(curators[i], curatorShares[i])
    self.tokenOf[database] = token
    self._rules[database] = rules
    n: uint256 = self.requestCount
    self.requestAt[n] = database
    # unchecked: one more than the number of requests ever created
    self.requestCount = unsafe_add(n, 1)
    log RequestCreated(database=database, token=token, initiator=msg.sender, name=name,
                       specCid=specCid)
    log RulesChanged(database=database, quorumBps=quorumBps, approvalBps=approvalBps,
                     votingPeriod=votingPeriod, maxShares=maxShares, valueShareBps=valueShareBps)
    return database


@view
@external
def rules(database: address) -> (uint256, uint256, uint256, uint256, uint256):
    """
    @notice The request's rules: (quorum bps, approval bps, voting period, max shares,
            value share bps).
    """
    r: uint256 = self._rules[database]
    assert r != 0, "association: unknown database"
    return (r & MASK16, (r >> 16) & MASK16, (r >> 32) & MASK32, (r >> 64) & MASK96, r >> 160)


@view
@external
def valueShareBps(database: address) -> uint256:
    """
    @notice The part (basis points) of a compute job's data fee that the request pays by
            measured value; the ComputeMarket reads it when a job is posted.
    """
    r: uint256 = self._rules[database]
    assert r != 0, "association: unknown database"
    return r >> 160


# ---------------------------------------------------------------- proposals

@internal
def _open(database: address, kind: uint8, body: bytes32, samples: uint256,
          shares: uint256, rules: uint256) -> uint256:
    period: uint256 = (rules >> 32) & MASK32
    # unchecked: a chain always has a genesis block, so block.number >= 1
    snapshot: uint256 = unsafe_sub(block.number, 1)
    deadline: uint256 = block.number + period
    assert deadline < 2**32, "association: block number out of range"
    # unchecked: ids count proposals ever made, far from 2**256
    pid: uint256 = unsafe_add(self.proposalCount, 1)
    self.proposalCount = pid
    self._core[pid] = (snapshot << 192) | (deadline << 224)
    self._meta[pid] = convert(database, uint256) | (convert(kind, uint256) << 160) \
        | ((rules & MASK32) << 176) | (samples << 208)
    self._payee[pid] = convert(msg.sender, uint256) | (shares << 160)
    self._body[pid] = body
    log ProposalCreated(proposalId=pid, database=database, proposer=msg.sender, kind=kind,
                        body=body, samples=samples, shares=shares, snapshot=snapshot,
                        deadline=deadline)
    return pid


@external
def propose(database: address, cid: bytes32, samples: uint256, requestedShares: uint256) -> uint256:
    """
    @notice Proposes the caller's dataset for the request; if it passes, the caller is
            minted `requestedShares` and the dataset is registered.
    @param cid Digest of the dataset's CIDv1 (raw, sha2-256).
    @return The proposal id.
    @dev Refused while an earlier proposal for the same cid is active or has passed without
         being executed: only a defeated one may be proposed again.
    """
    rules: uint256 = self._rules[database]
    assert rules != 0, "association: unknown database"
    assert cid != empty(bytes32), "association: empty cid"
    assert samples > 0 and samples < 2**48, "association: samples out of range"
    assert requestedShares > 0, "association: no shares requested"
    assert requestedShares <= (rules >> 64) & MASK96, "association: shares above the request's maximum"
    assert staticcall Database(database).indexOf(cid) == 0, "association: cid already registered"
    previous: uint256 = self._cidProposal[database][cid]
    if previous != 0:
        s: uint8 = self._state(previous)
        assert s != STATE_ACTIVE, "association: cid has an active proposal"
        assert s != STATE_SUCCEEDED, "association: cid has a passed proposal awaiting execution"
    pid: uint256 = self._open(database, KIND_DATA, cid, samples, requestedShares, rules)
    self._cidProposal[database][cid] = pid
    return pid


@external
def proposeRules(database: address, quorumBps: uint256, approvalBps: uint256,
                 votingPeriod: uint256, maxShares: uint256, valueShareBps: uint256) -> uint256:
    """
    @notice Proposes new rules for the request; only a shareholder with voting power may.
    @return The proposal id.
    """
    rules: uint256 = self._rules[database]
    assert rules != 0, "association: unknown database"
    assert staticcall CuratorToken(self.tokenOf[database]).getVotes(msg.sender) > 0, \
        "association: proposer has no voting power"
    newRules: uint256 = self._packRules(quorumBps, approvalBps, votingPeriod, maxShares,
                                        valueShareBps)
    return self._open(database, KIND_RULES, convert(newRules, bytes32), 0, 0, rules)


@external
def castVote(proposalId: uint256, support: uint8) -> uint256:
    """
    @notice Votes for (1) or against (0) a proposal with the caller's delegated shares
            at the proposal's snapshot.
    @return The weight counted.
    """
    return self._castVote(proposalId, support, "")


@external
def castVoteWithReason(proposalId: uint256, support: uint8, reason: String[512]) -> uint256:
    """
    @notice As castVote, with a reason kept in the VoteCast event.
    @return The weight counted.
    """
    return self._castVote(proposalId, support, reason)


@internal
def _castVote(pid: uint256, support: uint8, reason: String[512]) -> uint256:
    core: uint256 = self._core[pid]
    assert core != 0, "association: unknown proposal"
    assert block.number <= core >> 224, "association: voting closed"
    assert support <= 1, "association: support must be 0 (against) or 1 (for)"
    assert not self.hasVoted[pid][msg.sender], "association: already voted"
    database: address = convert(convert(self._meta[pid] & MASK160, uint160), address)
    weight: uint256 = staticcall CuratorToken(self.tokenOf[database]).getPastVotes(
        msg.sender, (core >> 192) & MASK32)
    assert weight > 0, "association: no voting power at the snapshot"
    self.hasVoted[pid][msg.sender] = True
    # unchecked: all weights of one proposal sum to at most the supply at its snapshot,
    # which is below 2**96, so a tally never carries into the next field
    if support == 1:
        self._core[pid] = unsafe_add(core, weight)
    else:
        self._core[pid] = unsafe_add(core, weight << 96)
    log VoteCast(voter=msg.sender, proposalId=pid, support=support, weight=weight, reason=reason)
    return weight


@view
@internal
def _state(pid: uint256) -> uint8:
    core: uint256 = self._core[pid]
    assert core != 0, "association: unknown proposal"
    meta: uint256 = self._meta[pid]
    if (meta >> 168) & MASK8 != 0:
        return STATE_EXECUTED
    if block.number <= core >> 224:
        return STATE_ACTIVE
    votesFor: uint256 = core & MASK96
    cast: uint256 = votesFor + ((core >> 96) & MASK96)
    database: address = convert(convert(meta & MASK160, uint160), address)
    supply: uint256 = staticcall CuratorToken(self.tokenOf[database]).getPastTotalSupply(
        (core >> 192) & MASK32)
    quorumOk: bool = cast * BPS >= ((meta >> 176) & MASK16) * supply
    approved: bool = votesFor > 0 and votesFor * BPS >= ((meta >> 192) & MASK16) * cast
    if quorumOk and approved:
        return STATE_SUCCEEDED
    return STATE_DEFEATED


@view
@external
def state(proposalId: uint256) -> uint8:
    """
    @notice 1 active, 2 defeated, 3 succeeded (executable), 4 executed.
    """
    return self._state(proposalId)


@external
def execute(proposalId: uint256):
    """
    @notice Carries out a proposal that passed, once: registers the data and mints the
            contributor's shares, or applies the new rules. Anyone may call it.
    """
    s: uint8 = self._state(proposalId)
    assert s != STATE_ACTIVE, "association: voting not over"
    assert s != STATE_DEFEATED, "association: proposal defeated"
    assert s != STATE_EXECUTED, "association: already executed"
    meta: uint256 = self._meta[proposalId]
    # unchecked: sets the executed byte, which _state just saw as zero
    self._meta[proposalId] = unsafe_add(meta, 1 << 168)
    database: address = convert(convert(meta & MASK160, uint160), address)
    payee: uint256 = self._payee[proposalId]
    body: bytes32 = self._body[proposalId]
    if convert((meta >> 160) & MASK8, uint8) == KIND_DATA:
        contributor: address = convert(convert(payee & MASK160, uint160), address)
        shares: uint256 = payee >> 160
        extcall Database(database).append(body, contributor, meta >> 208, shares, proposalId)
        extcall CuratorToken(self.tokenOf[database]).mint(contributor, shares)
    else:
        r: uint256 = convert(body, uint256)
        self._rules[database] = r
        log RulesChanged(database=database, quorumBps=r & MASK16, approvalBps=(r >> 16) & MASK16,
                         votingPeriod=(r >> 32) & MASK32, maxShares=(r >> 64) & MASK96,
                         valueShareBps=r >> 160)
    log ProposalExecuted(proposalId=proposalId)


@view
@external
def proposalSnapshot(proposalId: uint256) -> uint256:
    """
    @notice The block whose end-of-block votes weigh this proposal's ballots.
    """
    core: uint256 = self._core[proposalId]
    assert core != 0, "association: unknown proposal"
    return (core >> 192) & MASK32


@view
@external
def proposalDeadline(proposalId: uint256) -> uint256:
    """
    @notice The last block in which votes are accepted.
    """
    core: uint256 = self._core[proposalId]
    assert core != 0, "association: unknown proposal"
    return core >> 224


@view
@external
def proposalVotes(proposalId: uint256) -> (uint256, uint256):
    """
    @notice (against, for) weights counted so far.
    """
    core: uint256 = self._core[proposalId]
    assert core != 0, "association: unknown proposal"
    return ((core >> 96) & MASK96, core & MASK96)


@view
@external
def proposal(proposalId: uint256) -> (address, uint8, address, bytes32, uint256, uint256):
    """
    @notice (database, kind, proposer, body, samples, shares) of a proposal; body is the
            cid digest of a data proposal or the packed rules of a rules proposal.
    """
    assert self._core[proposalId] != 0, "association: unknown proposal"
    meta: uint256 = self._meta[proposalId]
    payee: uint256 = self._payee[proposalId]
    return (
        convert(convert(meta & MASK160, uint160), address),
        convert((meta >> 160) & MASK8, uint8),
        convert(convert(payee & MASK160, uint160), address),
        self._body[proposalId],
        meta >> 208,
        payee >> 160,
    )
