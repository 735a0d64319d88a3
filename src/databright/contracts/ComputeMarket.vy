# pragma version ~=0.4.3
"""
@title ComputeMarket
@license Apache-2.0
@notice The compute market of DataBright. Workers stake ether to be assignable; governance
        approves coordinators (attested signing keys); a buyer escrows a data fee and a
        compute fee for a job on a dataset of the DataAssociation; an approved coordinator
        accepts the job, assigns workers, slashes those whose work failed verification and
        completes the job with the verified units of each worker. The compute fee is then
        split pro rata by units into pull balances. The data fee is split by the dataset's
        valueShareBps rule (read when the job is posted): that part is paid by the measured
        value of each contributor's data in this job (a Merkle root of (contributor, amount)
        leaves, claimed with claimValue), the rest goes to the dataset's shareholders
        through CuratorToken.distribute(). A job not completed by its deadline is refunded
        to its buyer.
@dev Every wei the contract holds is in exactly one of four buckets, so that after every
     call  self.balance == totalEscrow + totalStake + totalOwed + the unclaimed value pools:
       totalEscrow  fees of jobs that are posted or accepted,
       totalStake   stakes of registered workers,
       totalOwed    pull balances (balanceOf), paid out only by withdraw(),
       value pools  unclaimed value payouts of each completed job (jobValue), paid out by
                    claimValue(). They have no running total on purpose: keeping one would
                    cost every claim 5,000 gas (see bench/gas.py); the sum over jobs is the
                    fourth bucket.
     Storage is packed where a job or an assignment would otherwise take fresh slots
     (22,100 gas each):
       _jobCore[j]    = coordinator (160) | state (8) | deadline (64) | value share bps (16)
       _jobBuyer[j]   = buyer (160) | data fee (96)
       _jobData[j]    = database (160) | compute fee (96)
       _worker[a]     = stake (low 128) | open jobs (high 128); registered == (stake > 0)
       _assignment[j][a] = assigned (bit 0) | slashed (bit 1) | paid (bit 2) | units (<< 3)
       _jobUnits[j]   = total units of the completed job
       _value[j]      = value root's first 160 bits (high) | unclaimed value pool (low 96)
       _valueClaimed[a << 96 | j >> 8] = bit (j & 255) set once `a` claimed its value in job j
                      (one mapping level, one keccak less than [a][j >> 8]; j < jobCount < 2**104)
     Payments fit 96 bits (2**96 wei is about 7.9e10 ether, far above all ether in
     existence), deadlines 64 bits and units 64 bits per worker, so the pro rata products
     below stay under 2**256.
"""

interface DataAssociation:
    def tokenOf(database: address) -> address: view
    def valueShareBps(database: address) -> uint256: view

interface CuratorToken:
    def totalSupply() -> uint256: view
    def distribute(): payable

event GovernanceTransferred:
    previous: address
    new: address

event CoordinatorApproved:
    account: indexed(address)
    signingKey: address
    quoteHash: bytes32

event CoordinatorRevoked:
    account: indexed(address)

event WorkerRegistered:
    worker: indexed(address)
    stake: uint256

event WorkerLeft:
    worker: indexed(address)
    stake: uint256

event JobPosted:
    jobId: indexed(uint256)
    buyer: indexed(address)
    database: indexed(address)
    specCid: bytes32
    dataFee: uint256
    computeFee: uint256
    deadline: uint256

event JobAccepted:
    jobId: indexed(uint256)
    coordinator: indexed(address)

event WorkerAssigned:
    jobId: indexed(uint256)
    worker: indexed(address)

event WorkerSlashed:
    jobId: indexed(uint256)
    worker: indexed(address)
    amount: uint256
    evidenceCid: bytes32

event WorkerPaid:
    jobId: indexed(uint256)
    worker: indexed(address)
    units: uint256
    amount: uint256

event JobCompleted:
    jobId: indexed(uint256)
    resultCid: bytes32
    modelHash: bytes32
    reportCid: bytes32
    totalUnits: uint256

# ---- value payouts (events)

event JobValued:
    jobId: indexed(uint256)
    valueRoot: bytes32
    valueCid: bytes32
    valuePool: uint256
    dividends: uint256

event ValueClaimed:
    account: indexed(address)
    jobId: uint256
    amount: uint256

event JobRefunded:
    jobId: indexed(uint256)
    buyer: indexed(address)
    amount: uint256

event Withdrawal:
    account: indexed(address)
    amount: uint256

struct Coordinator:
    signingKey: address
    quoteHash: bytes32
    approvedBlock: uint256
    approved: bool

struct JobResult:
    resultCid: bytes32
    modelHash: bytes32
    reportCid: bytes32

MAX_JOB_WORKERS: public(constant(uint256)) = 128
# a value tree of up to 2**32 leaves
MAX_PROOF: public(constant(uint256)) = 32
BPS: constant(uint256) = 10_000

JOB_NONE: public(constant(uint8)) = 0
JOB_POSTED: public(constant(uint8)) = 1
JOB_ACCEPTED: public(constant(uint8)) = 2
JOB_COMPLETED: public(constant(uint8)) = 3
JOB_REFUNDED: public(constant(uint8)) = 4

# CuratorToken.distribute() reverts while fewer than one whole share exists
MIN_DIVIDEND_SUPPLY: constant(uint256) = 10**18
MAX_PAYMENT: constant(uint256) = 2**96 - 1
MAX_DEADLINE: constant(uint256) = 2**64 - 1
MAX_UNITS: constant(uint256) = 2**64 - 1
MAX_STAKE: constant(uint256) = 2**128 - 1

MASK8: constant(uint256) = 2**8 - 1
MASK128: constant(uint256) = 2**128 - 1
MASK160: constant(uint256) = 2**160 - 1
MASK64: constant(uint256) = 2**64 - 1
MASK96: constant(uint256) = 2**96 - 1
OPEN_JOB: constant(uint256) = 2**128  # one open job in the high half of _worker[a]

ASSIGNED: constant(uint256) = 1
SLASHED: constant(uint256) = 2
PAID: constant(uint256) = 4

ASSOCIATION: public(immutable(address))
minStake: public(immutable(uint256))
governance: public(address)

jobCount: public(uint256)
balanceOf: public(HashMap[address, uint256])
totalEscrow: public(uint256)
totalStake: public(uint256)
totalOwed: public(uint256)

_worker: HashMap[address, uint256]
_coordinator: HashMap[address, Coordinator]
_jobCore: HashMap[uint256, uint256]
_jobBuyer: HashMap[uint256, uint256]
_jobData: HashMap[uint256, uint256]
_jobSpec: HashMap[uint256, bytes32]
_jobResult: HashMap[uint256, JobResult]
_workers: HashMap[uint256, DynArray[address, MAX_JOB_WORKERS]]
_assignment: HashMap[uint256, HashMap[address, uint256]]
_jobUnits: HashMap[uint256, uint256]
_value: HashMap[uint256, uint256]
_valueClaimed: HashMap[uint256, uint256]


@deploy
def __init__(association: address, minStake_: uint256, governance_: address):
    """
    @notice Binds the market to the DataAssociation whose datasets it sells compute on.
    @param association The DataAssociation (its tokenOf(database) finds a dataset's token).
    @param minStake_ Least stake (wei) a worker must lock to be assignable.
    @param governance_ The account that approves and revokes coordinators.
    """
    assert association != empty(address), "compute: zero association"
    assert governance_ != empty(address), "compute: zero governance"
    assert minStake_ > 0, "compute: zero minimum stake"
    ASSOCIATION = association
    minStake = minStake_
    self.governance = governance_


# ---------------------------------------------------------------- governance

@external
def transferGovernance(newGovernance: address):
    """
    @notice Hands governance (coordinator approval) to `newGovernance`.
    """
    assert msg.sender == self.governance, "compute: caller is not governance"
    assert newGovernance != empty(address), "compute: zero governance"
    self.governance = newGovernance
    log GovernanceTransferred(previous=msg.sender, new=newGovernance)


@external
def approveCoordinator(account: address, signingKey: address, quoteHash: bytes32):
    """
    @notice Approves `account` as a coordinator whose results are signed with `signingKey`;
            approving it again replaces the record.
    @dev On SGX/TDX hardware the attestation quote whose hash is `quoteHash` is verified
         off-chain by governance before this call (databright.compute.attestation); the
         chain records what was approved, and in which block.
    """
    assert msg.sender == self.governance, "compute: caller is not governance"
    assert account != empty(address), "compute: zero account"
    assert signingKey != empty(address), "compute: zero signing key"
    self._coordinator[account] = Coordinator(
        signingKey=signingKey, quoteHash=quoteHash, approvedBlock=block.number, approved=True
    )
    log CoordinatorApproved(account=account, signingKey=signingKey, quoteHash=quoteHash)


@external
def revokeCoordinator(account: address):
    """
    @notice Withdraws the approval of `account`: it can no longer accept jobs nor act on the
            jobs it holds, which its buyers then get refunded after their deadline.
    @dev The record (key, quote hash, block) is kept with approved = False.
    """
    assert msg.sender == self.governance, "compute: caller is not governance"
    assert self._coordinator[account].approved, "compute: not an approved coordinator"
    self._coordinator[account].approved = False
    log CoordinatorRevoked(account=account)


@view
@external
def coordinator(account: address) -> (address, bytes32, uint256, bool):
    """
    @notice (signingKey, quoteHash, approvedBlock, approved) of `account`.
    """
    c: Coordinator = self._coordinator[account]
    return (c.signingKey, c.quoteHash, c.approvedBlock, c.approved)


@view
@external
def isCoordinator(account: address) -> bool:
    """
    @notice Whether `account` is an approved coordinator now.
    """
    return self._coordinator[account].approved


# ================================================================ coordinator endpoints (issue 15)
# Where an approved coordinator's workers dial it (its gRPC endpoint, host:port) and the SHA-256 of
# its TLS certificate, which workers pin (they trust that certificate and no other). Set by the
# coordinator itself, not by governance, so it can move or renew its certificate; kept apart from
# the approval record, which governance writes. A revoked coordinator's endpoint stays readable but
# `isCoordinator` says false, and workers dial only approved coordinators.

MAX_ENDPOINT: public(constant(uint256)) = 256

event CoordinatorEndpointSet:
    account: indexed(address)
    url: String[MAX_ENDPOINT]
    certSha256: bytes32

_endpointUrl: HashMap[address, String[MAX_ENDPOINT]]
_endpointCert: HashMap[address, bytes32]


@external
def setCoordinatorEndpoint(url: String[MAX_ENDPOINT], certSha256: bytes32):
    """
    @notice The calling approved coordinator publishes where workers dial it and the SHA-256 of
            the TLS certificate it serves there; setting it again replaces both.
    @param url Its endpoint, host:port (at most 256 bytes, not empty).
    @param certSha256 SHA-256 of its certificate's DER bytes (not zero).
    """
    assert self._coordinator[msg.sender].approved, "compute: not an approved coordinator"
    assert len(url) > 0, "compute: empty endpoint"
    assert certSha256 != empty(bytes32), "compute: zero certificate hash"
    self._endpointUrl[msg.sender] = url
    self._endpointCert[msg.sender] = certSha256
    log CoordinatorEndpointSet(account=msg.sender, url=url, certSha256=certSha256)


@view
@external
def coordinatorEndpoint(account: address) -> (String[MAX_ENDPOINT], bytes32):
    """
    @notice (url, certSha256) that `account` last published; empty if it never did.
    """
    return (self._endpointUrl[account], self._endpointCert[account])

# ================================================================ end of coordinator endpoints


# ---------------------------------------------------------------- workers

@external
@payable
def registerWorker():
    """
    @notice Registers the caller as a worker with the attached stake (at least minStake),
            or adds the attached ether to the stake of a registered worker.
    """
    packed: uint256 = self._worker[msg.sender]
    stake: uint256 = packed & MASK128
    if stake == 0:
        assert msg.value >= minStake, "compute: stake below minimum"
    else:
        assert msg.value > 0, "compute: no stake sent"
    stake += msg.value
    assert stake <= MAX_STAKE, "compute: stake out of range"
    # unchecked: the low half held the old stake and now holds stake < 2**128, the open
    # jobs in the high half are kept
    self._worker[msg.sender] = unsafe_add(packed & ~MASK128, stake)
    self.totalStake += msg.value
    log WorkerRegistered(worker=msg.sender, stake=stake)


@external
def leave():
    """
    @notice Deregisters the caller; its stake moves to its pull balance (see withdraw).
            Not while it is assigned to a job that has not settled.
    """
    packed: uint256 = self._worker[msg.sender]
    stake: uint256 = packed & MASK128
    assert stake > 0, "compute: not a registered worker"
    assert packed >> 128 == 0, "compute: worker is assigned to an open job"
    self._worker[msg.sender] = 0
    # unchecked: the worker's stake is part of totalStake
    self.totalStake = unsafe_sub(self.totalStake, stake)
    self._credit(msg.sender, stake)
    log WorkerLeft(worker=msg.sender, stake=stake)


@view
@external
def worker(account: address) -> (uint256, uint256, bool):
    """
    @notice (stake, openJobs, registered) of `account`; openJobs counts the unsettled jobs
            it is assigned to (slashed or not).
    """
    packed: uint256 = self._worker[account]
    stake: uint256 = packed & MASK128
    return (stake, packed >> 128, stake > 0)


# ---------------------------------------------------------------- jobs

@external
@payable
def postJob(database: address, specCid: bytes32, dataFee: uint256, deadline: uint256) -> uint256:
    """
    @notice Posts a compute job on a dataset of the association and escrows the attached
            ether: `dataFee` for the dataset's shareholders, the rest for the workers.
    @param database The request's Database (must be known to the association).
    @param specCid Digest of the job spec (CIDv1 raw sha2-256).
    @param dataFee Part of msg.value paid to the dataset's token on completion.
    @param deadline Unix time by which the job must be completed, else it is refundable.
    @return The job id (ids run 1..jobCount).
    @dev The dataset's valueShareBps at this moment fixes the job's value pool
         (dataFee * bps / 10,000): a later rules change does not alter a posted job.
    """
    token: address = staticcall DataAssociation(ASSOCIATION).tokenOf(database)
    assert token != empty(address), "compute: unknown database"
    assert specCid != empty(bytes32), "compute: empty spec cid"
    assert deadline > block.timestamp, "compute: deadline passed"
    assert deadline <= MAX_DEADLINE, "compute: deadline out of range"
    assert msg.value > 0, "compute: no payment"
    assert msg.value <= MAX_PAYMENT, "compute: payment out of range"
    assert msg.value >= dataFee, "compute: data fee above payment"
    if dataFee > 0:
        assert staticcall CuratorToken(token).totalSupply() >= MIN_DIVIDEND_SUPPLY, \
            "compute: dataset has no shareholders"
    bps: uint256 = staticcall DataAssociation(ASSOCIATION).valueShareBps(database)
    assert bps <= BPS, "compute: value share above 100%"
    # unchecked: dataFee <= msg.value was just asserted
    computeFee: uint256 = unsafe_sub(msg.value, dataFee)
    # unchecked: ids count jobs ever posted, far from 2**256
    jobId: uint256 = unsafe_add(self.jobCount, 1)
    self.jobCount = jobId
    # unchecked (all three): every field fits its width (asserted above; bps <= 10,000 < 2**16),
    # no field overlaps
    self._jobCore[jobId] = unsafe_add(unsafe_add(convert(JOB_POSTED, uint256) << 160, deadline << 168),
                                      bps << 232)
    self._jobBuyer[jobId] = unsafe_add(convert(msg.sender, uint256), dataFee << 160)
    self._jobData[jobId] = unsafe_add(convert(database, uint256), computeFee << 160)
    self._jobSpec[jobId] = specCid
    self.totalEscrow += msg.value
    log JobPosted(jobId=jobId, buyer=msg.sender, database=database, specCid=specCid,
                  dataFee=dataFee, computeFee=computeFee, deadline=deadline)
    return jobId


@external
def acceptJob(jobId: uint256):
    """
    @notice The calling approved coordinator takes a posted job before its deadline.
    """
    core: uint256 = self._core(jobId)
    assert self._coordinator[msg.sender].approved, "compute: not an approved coordinator"
    assert self._state(core) == JOB_POSTED, "compute: job not posted"
    assert block.timestamp <= (core >> 168) & MASK64, "compute: deadline passed"
    # unchecked: the coordinator field was empty; the state goes from 1 to 2
    self._jobCore[jobId] = unsafe_add(core, convert(msg.sender, uint256) + (1 << 160))
    log JobAccepted(jobId=jobId, coordinator=msg.sender)


@external
def assignWorkers(jobId: uint256, workers: DynArray[address, MAX_JOB_WORKERS]):
    """
    @notice The job's coordinator assigns registered workers to it, before its deadline;
            it may assign more later (replacements after faults), up to MAX_JOB_WORKERS in
            all. An assigned worker cannot leave until the job settles.
    """
    core: uint256 = self._coordinatorCore(jobId)
    assert block.timestamp <= (core >> 168) & MASK64, "compute: deadline passed"
    assert len(self._workers[jobId]) + len(workers) <= MAX_JOB_WORKERS, "compute: too many workers"
    for w: address in workers:
        packed: uint256 = self._worker[w]
        assert packed & MASK128 >= minStake, "compute: worker not registered"
        assert self._assignment[jobId][w] == 0, "compute: worker already assigned"
        self._assignment[jobId][w] = ASSIGNED
        # unchecked: open jobs count the unsettled jobs of one worker, far from 2**128
        self._worker[w] = unsafe_add(packed, OPEN_JOB)
        self._workers[jobId].append(w)
        log WorkerAssigned(jobId=jobId, worker=w)


@external
def slash(jobId: uint256, worker: address, evidenceCid: bytes32):
    """
    @notice The job's coordinator slashes an assigned worker whose work failed verification:
            the worker's WHOLE stake goes to the job buyer's pull balance (compensation for
            the redo) and the worker is deregistered. It is paid nothing for this job.
    @param evidenceCid Digest of the evidence (e.g. the disagreeing results) in the store.
    @dev The worker stays assigned (so it still counts this job in openJobs until the job
         settles) and cannot be assigned to this job again.
    """
    self._coordinatorCore(jobId)
    assert evidenceCid != empty(bytes32), "compute: empty evidence cid"
    a: uint256 = self._assignment[jobId][worker]
    assert a & ASSIGNED != 0, "compute: worker not assigned"
    assert a & SLASHED == 0, "compute: worker already slashed"
    # unchecked: sets the slashed bit, which is clear
    self._assignment[jobId][worker] = unsafe_add(a, SLASHED)
    packed: uint256 = self._worker[worker]
    amount: uint256 = packed & MASK128
    # keep the open jobs, drop the stake: stake 0 means not registered
    self._worker[worker] = packed & ~MASK128
    # unchecked: the worker's stake is part of totalStake
    self.totalStake = unsafe_sub(self.totalStake, amount)
    self._credit(self._buyer(jobId), amount)
    log WorkerSlashed(jobId=jobId, worker=worker, amount=amount, evidenceCid=evidenceCid)


@external
@nonreentrant
def completeJob(jobId: uint256, resultCid: bytes32, modelHash: bytes32, reportCid: bytes32,
                workers: DynArray[address, MAX_JOB_WORKERS],
                units: DynArray[uint256, MAX_JOB_WORKERS],
                valueRoot: bytes32, valueCid: bytes32, valueTotal: uint256):
    """
    @notice The job's coordinator completes it with the verified units of work of each
            listed worker and the measured value of the data. The compute fee is split pro
            rata to units into the workers' pull balances (rounded down; the dust returns to
            the buyer's pull balance). Of the data fee, `valueTotal` (at most the job's value
            share, dataFee * valueShareBps / 10,000) stays in the market for the
            contributors to claim against `valueRoot`; the rest, rounding dust included, is
            paid to the dataset's shareholders via its token's distribute().
    @param valueRoot Root of the OpenZeppelin StandardMerkleTree of (address contributor,
           uint256 amount) leaves whose amounts sum to valueTotal; empty when nothing is
           paid by value (valuation off, or no contributor's data had positive value).
    @param valueCid Digest of the value report in the store (empty when valuation is off).
    @dev Listed workers must be assigned, unslashed and distinct; assigned workers left
         out get nothing. Every assigned worker's open-job count drops by one. The root is
         set here only, once: a job completes once, and a refunded job never has one.
    """
    core: uint256 = self._coordinatorCore(jobId)
    assert block.timestamp <= (core >> 168) & MASK64, "compute: deadline passed"
    assert len(workers) == len(units), "compute: workers and units differ in length"
    assert resultCid != empty(bytes32), "compute: empty result cid"
    assert modelHash != empty(bytes32), "compute: empty model hash"
    assert reportCid != empty(bytes32), "compute: empty report cid"
    total: uint256 = 0
    for i: uint256 in range(len(workers), bound=MAX_JOB_WORKERS):
        w: address = workers[i]
        u: uint256 = units[i]
        a: uint256 = self._assignment[jobId][w]
        assert a & ASSIGNED != 0, "compute: worker not assigned"
        assert a & SLASHED == 0, "compute: worker was slashed"
        assert a & PAID == 0, "compute: duplicate worker"
        assert u <= MAX_UNITS, "compute: units out of range"
        # unchecked: the paid bit is clear and the units field is empty
        self._assignment[jobId][w] = unsafe_add(a, PAID + (u << 3))
        # unchecked: at most 128 terms below 2**64 each, so the sum stays below 2**71
        total = unsafe_add(total, u)
    assert total > 0, "compute: no verified units"
    dataFee: uint256 = self._jobBuyer[jobId] >> 160
    dividends: uint256 = self._settleValue(jobId, core, dataFee, total, valueRoot, valueCid,
                                           valueTotal)

    self._jobCore[jobId] = self._withState(core, JOB_COMPLETED)
    buyer: address = self._buyer(jobId)
    computeFee: uint256 = self._jobData[jobId] >> 160
    # unchecked: both fees of an open job are in the escrow, their sum is msg.value of postJob
    self.totalEscrow = unsafe_sub(self.totalEscrow, unsafe_add(dataFee, computeFee))
    paid: uint256 = 0
    for i: uint256 in range(len(workers), bound=MAX_JOB_WORKERS):
        # unchecked: computeFee < 2**96 and units[i] <= total < 2**70, so the product is
        # below 2**166; total > 0 was asserted
        amount: uint256 = unsafe_div(unsafe_mul(computeFee, units[i]), total)
        if amount > 0:
            # unchecked: pull balances sum to totalOwed, which is below all ether in existence
            self.balanceOf[workers[i]] = unsafe_add(self.balanceOf[workers[i]], amount)
            # unchecked: the amounts sum to at most computeFee
            paid = unsafe_add(paid, amount)
        log WorkerPaid(jobId=jobId, worker=workers[i], units=units[i], amount=amount)
    # unchecked: floor division pays out at most computeFee
    dust: uint256 = unsafe_sub(computeFee, paid)
    if dust > 0:
        # unchecked: as above, pull balances sum to totalOwed
        self.balanceOf[buyer] = unsafe_add(self.balanceOf[buyer], dust)
    # unchecked: the compute fee left the escrow just above; totalOwed holds far less than 2**256
    self.totalOwed = unsafe_add(self.totalOwed, computeFee)
    self._release(jobId)
    self._jobResult[jobId] = JobResult(resultCid=resultCid, modelHash=modelHash, reportCid=reportCid)
    log JobCompleted(jobId=jobId, resultCid=resultCid, modelHash=modelHash, reportCid=reportCid,
                     totalUnits=total)
    if dividends > 0:
        token: address = staticcall DataAssociation(ASSOCIATION).tokenOf(
            convert(convert(self._jobData[jobId] & MASK160, uint160), address))
        extcall CuratorToken(token).distribute(value=dividends)


@external
def refund(jobId: uint256):
    """
    @notice After the deadline of a job that was not completed, returns both fees to the
            buyer's pull balance. Anyone may call it.
    """
    core: uint256 = self._core(jobId)
    s: uint8 = self._state(core)
    assert s == JOB_POSTED or s == JOB_ACCEPTED, "compute: job already settled"
    assert block.timestamp > (core >> 168) & MASK64, "compute: deadline not reached"
    self._jobCore[jobId] = self._withState(core, JOB_REFUNDED)
    amount: uint256 = (self._jobBuyer[jobId] >> 160) + (self._jobData[jobId] >> 160)
    # unchecked: both fees of an open job are in the escrow
    self.totalEscrow = unsafe_sub(self.totalEscrow, amount)
    buyer: address = self._buyer(jobId)
    self._credit(buyer, amount)
    self._release(jobId)
    log JobRefunded(jobId=jobId, buyer=buyer, amount=amount)


@view
@external
def job(jobId: uint256) -> (address, address, bytes32, uint256, uint256, uint256, address, uint8):
    """
    @notice (buyer, database, specCid, dataFee, computeFee, deadline, coordinator, state);
            state 0 none, 1 posted, 2 accepted, 3 completed, 4 refunded. All zero for an
            unknown id.
    """
    core: uint256 = self._jobCore[jobId]
    buyer: uint256 = self._jobBuyer[jobId]
    data: uint256 = self._jobData[jobId]
    return (
        convert(convert(buyer & MASK160, uint160), address),
        convert(convert(data & MASK160, uint160), address),
        self._jobSpec[jobId],
        buyer >> 160,
        data >> 160,
        (core >> 168) & MASK64,
        convert(convert(core & MASK160, uint160), address),
        self._state(core),
    )


@view
@external
def jobResult(jobId: uint256) -> (bytes32, bytes32, bytes32, uint256):
    """
    @notice (resultCid, modelHash, reportCid, totalUnits) of a completed job; zero otherwise.
    """
    r: JobResult = self._jobResult[jobId]
    return (r.resultCid, r.modelHash, r.reportCid, self._jobUnits[jobId])


@view
@external
def jobWorkers(jobId: uint256) -> DynArray[address, MAX_JOB_WORKERS]:
    """
    @notice Every worker ever assigned to the job, in order of assignment.
    """
    return self._workers[jobId]


@view
@external
def isAssigned(jobId: uint256, account: address) -> bool:
    """
    @notice Whether `account` was assigned to the job (slashed or not).
    """
    return self._assignment[jobId][account] & ASSIGNED != 0


@view
@external
def isSlashed(jobId: uint256, account: address) -> bool:
    """
    @notice Whether `account` was slashed in the job.
    """
    return self._assignment[jobId][account] & SLASHED != 0


@view
@external
def unitsOf(jobId: uint256, account: address) -> uint256:
    """
    @notice Verified units `account` was paid for at the job's completion (0 before).
    """
    return self._assignment[jobId][account] >> 3


# ---------------------------------------------------------------- value payouts
# A job's value pool is the part of its data fee paid by the measured value of each
# contributor's data (databright.compute.job_value). completeJob records one Merkle root of
# (contributor, amount) leaves, OpenZeppelin StandardMerkleTree style:
#   leaf = keccak256(keccak256(abi.encode(address, uint256))), pairs hashed in sorted order,
# so standard tools build the same root and proofs. Each contributor pulls its amount once.
# The root's first 160 bits are kept in one slot with the job's unclaimed pool, so a claim
# reads and writes one slot of the job (a full root would cost every claim another 2,100 gas
# and break bench/gas.py's 65,000 target). Forging a proof then means finding a leaf and
# siblings whose root matches 160 given bits: a 2**160 search, the strength of an address. The
# full root is in the JobValued event, which is what `databright job values --verify` checks.

@external
def claimValue(jobId: uint256, amount: uint256, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Pays the caller `amount` wei, its value payout in a completed job, proven by
            `proof` against the job's value root. Once per job and account.
    @param proof The sibling hashes from the caller's leaf up to the root.
    @dev The claimed bit is set and the pool reduced before the ether is sent
         (checks-effects-interactions), so the call at the end sees a finished state: a
         reentrant claimValue finds its bit set, and any other function (withdraw and
         completeJob keep their lock) sees the four-bucket balance identity already true,
         the ether having left with the call. That is why it carries no reentrancy lock
         (-330 gas a claim, bench/gas.py; tests/contracts reenter it). The payment forwards
         all gas (a contract wallet can receive it) and reverts the claim if it fails; send()
         does that ~40 gas cheaper than raw_call. A proof can never pay
         more than the job's unclaimed pool, whatever the tree holds.
    """
    packed: uint256 = self._value[jobId]
    assert packed != 0, "compute: job has no value payouts"
    # unchecked: a job with a pool has jobId <= jobCount < 2**104, so jobId >> 8 < 2**96 fills
    # only the low 96 bits the shift of the address left empty: one key per (account, word)
    word: uint256 = unsafe_add(convert(msg.sender, uint256) << 96, jobId >> 8)
    bit: uint256 = 1 << (jobId & 255)
    claimed: uint256 = self._valueClaimed[word]
    assert claimed & bit == 0, "compute: value already claimed"
    node: bytes32 = keccak256(keccak256(abi_encode(msg.sender, amount)))
    # abi_encode of two bytes32 is the same 64 bytes as concat, for ~50 gas less a level (bench/gas.py)
    for sibling: bytes32 in proof:
        if convert(node, uint256) < convert(sibling, uint256):
            node = keccak256(abi_encode(node, sibling))
        else:
            node = keccak256(abi_encode(sibling, node))
    assert convert(node, uint256) >> 96 == packed >> 96, "compute: invalid value proof"
    assert amount <= packed & MASK96, "compute: claim above the job's unclaimed value"
    # unchecked: the bit was clear
    self._valueClaimed[word] = unsafe_add(claimed, bit)
    # unchecked: amount <= the pool in the low 96 bits, just asserted
    self._value[jobId] = unsafe_sub(packed, amount)
    log ValueClaimed(account=msg.sender, jobId=jobId, amount=amount)
    send(msg.sender, amount, gas=msg.gas)


@view
@external
def jobValue(jobId: uint256) -> (uint256, bytes20, uint256):
    """
    @notice (valueShareBps, root prefix, unclaimed) of a job: the part of its data fee paid by
            value (fixed at posting), the first 20 bytes of the value root set at completion
            (zero if none) and what is left to claim (wei). The full root and the value
            report's cid are in the JobValued event.
    """
    packed: uint256 = self._value[jobId]
    return ((self._core(jobId) >> 232), convert(convert(packed >> 96, uint160), bytes20),
            packed & MASK96)


@view
@external
def valueClaimed(jobId: uint256, account: address) -> bool:
    """
    @notice Whether `account` has claimed its value payout in the job.
    """
    if jobId >= 2**104:
        return False  # no such job: jobCount never gets there
    # unchecked: jobId >> 8 < 2**96, as in claimValue
    return self._valueClaimed[unsafe_add(convert(account, uint256) << 96, jobId >> 8)] \
        & (1 << (jobId & 255)) != 0


@internal
def _settleValue(jobId: uint256, core: uint256, dataFee: uint256, total: uint256,
                 valueRoot: bytes32, valueCid: bytes32, valueTotal: uint256) -> uint256:
    """
    @dev Records the job's value payouts (root, pool) and returns the dividends: the data
         fee less what is kept for the value claims.
    """
    if valueRoot == empty(bytes32):
        assert valueTotal == 0, "compute: value payouts without a root"
    else:
        assert valueCid != empty(bytes32), "compute: empty value report cid"
        assert valueTotal > 0, "compute: empty value pool"
        # unchecked: dataFee < 2**96 and the bps field < 2**16, so the product is below 2**112
        assert valueTotal <= unsafe_div(unsafe_mul(dataFee, core >> 232), BPS), \
            "compute: value payouts above the job's value share"
        assert convert(valueRoot, uint256) >> 96 != 0, "compute: value root prefix is zero"
        # unchecked: valueTotal <= dataFee < 2**96 fills the low 96 bits the shift left empty
        self._value[jobId] = unsafe_add((convert(valueRoot, uint256) >> 96) << 96, valueTotal)
    self._jobUnits[jobId] = total
    if valueCid != empty(bytes32):
        # unchecked: valueTotal <= dataFee, as below
        log JobValued(jobId=jobId, valueRoot=valueRoot, valueCid=valueCid, valuePool=valueTotal,
                      dividends=unsafe_sub(dataFee, valueTotal))
    # unchecked: valueTotal <= the value share <= dataFee (asserted above, or zero)
    return unsafe_sub(dataFee, valueTotal)


# ---------------------------------------------------------------- pull payments

@external
@nonreentrant
def withdraw():
    """
    @notice Sends the caller its whole pull balance (payouts, refunds, slashed stakes it
            received, its stake after leaving).
    @dev The balance is zeroed before the call (checks-effects-interactions) and the
         function is non-reentrant.
    """
    amount: uint256 = self.balanceOf[msg.sender]
    assert amount > 0, "compute: nothing to withdraw"
    self.balanceOf[msg.sender] = 0
    # unchecked: the balance is part of totalOwed
    self.totalOwed = unsafe_sub(self.totalOwed, amount)
    log Withdrawal(account=msg.sender, amount=amount)
    raw_call(msg.sender, b"", value=amount)


# ---------------------------------------------------------------- internal

@internal
def _credit(account: address, amount: uint256):
    if amount == 0:
        return
    # unchecked: pull balances sum to totalOwed, and the ether behind it is in this contract
    self.balanceOf[account] = unsafe_add(self.balanceOf[account], amount)
    # unchecked: totalOwed is at most this contract's balance
    self.totalOwed = unsafe_add(self.totalOwed, amount)


@internal
def _release(jobId: uint256):
    """
    @dev The job settled: each worker ever assigned to it has one open job less.
    """
    assigned: DynArray[address, MAX_JOB_WORKERS] = self._workers[jobId]
    for w: address in assigned:
        # unchecked: each assigned worker counts this job once in its open jobs (high half)
        self._worker[w] = unsafe_sub(self._worker[w], OPEN_JOB)


@view
@internal
def _core(jobId: uint256) -> uint256:
    core: uint256 = self._jobCore[jobId]
    assert core != 0, "compute: unknown job"
    return core


@view
@internal
def _coordinatorCore(jobId: uint256) -> uint256:
    """
    @dev The job's core word, after checking that the caller is its coordinator, still
         approved, and that the job is accepted (not yet settled).
    """
    core: uint256 = self._core(jobId)
    assert convert(convert(core & MASK160, uint160), address) == msg.sender, \
        "compute: caller is not the job's coordinator"
    assert self._coordinator[msg.sender].approved, "compute: not an approved coordinator"
    assert self._state(core) == JOB_ACCEPTED, "compute: job not accepted"
    return core


@pure
@internal
def _state(core: uint256) -> uint8:
    return convert((core >> 160) & MASK8, uint8)


@pure
@internal
def _withState(core: uint256, state: uint8) -> uint256:
    return (core & ~(MASK8 << 160)) | (convert(state, uint256) << 160)


@view
@internal
def _buyer(jobId: uint256) -> address:
    return convert(convert(self._jobBuyer[jobId] & MASK160, uint160), address)
