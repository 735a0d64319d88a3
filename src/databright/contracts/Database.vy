# pragma version ~=0.4.3
"""
@title Database
@license Apache-2.0
@notice The append-only registry of one data request: every accepted contribution,
        in the order its proposal passed. The computation market reads it to find data
        and to pay its shareholders.
@dev Each entry takes three packed slots:
       _cids[i]  = content id digest (CIDv1 raw sha2-256: the digest determines the CID)
       _meta[i]  = contributor (low 160) | samples (next 48) | block number (high 48)
       _award[i] = shares (low 128) | proposal id (high 128)
"""

event EntryAppended:
    index: indexed(uint256)
    cid: indexed(bytes32)
    contributor: indexed(address)
    samples: uint256
    shares: uint256
    proposalId: uint256

name: public(String[64])
specCid: public(immutable(bytes32))
token: public(immutable(address))
ASSOCIATION: public(immutable(address))

entryCount: public(uint256)
# index + 1 of each accepted cid, 0 when absent (so a cid is never registered twice)
indexOf: public(HashMap[bytes32, uint256])

_cids: HashMap[uint256, bytes32]
_meta: HashMap[uint256, uint256]
_award: HashMap[uint256, uint256]


@deploy
def __init__(name_: String[64], spec: bytes32, token_: address, association: address):
    """
    @notice Creates the registry of one request; only `association` may append.
    """
    assert association != empty(address), "database: zero association"
    self.name = name_
    specCid = spec
    token = token_
    ASSOCIATION = association


@external
def append(cid: bytes32, contributor: address, samples: uint256, shares: uint256,
           proposalId: uint256) -> uint256:
    """
    @notice Registers an accepted contribution and returns its index.
    @dev Only the association calls this, when a data proposal executes.
    """
    assert msg.sender == ASSOCIATION, "database: caller is not the association"
    assert cid != empty(bytes32), "database: empty cid"
    assert self.indexOf[cid] == 0, "database: duplicate cid"
    assert samples < 2**48 and shares < 2**128 and proposalId < 2**128, "database: value out of range"
    i: uint256 = self.entryCount
    self._cids[i] = cid
    self._meta[i] = convert(contributor, uint256) | (samples << 160) | (block.number << 208)
    self._award[i] = shares | (proposalId << 128)
    # unchecked: i is the entry count, bounded by the number of proposals
    self.entryCount = unsafe_add(i, 1)
    self.indexOf[cid] = unsafe_add(i, 1)
    log EntryAppended(index=i, cid=cid, contributor=contributor, samples=samples, shares=shares,
                      proposalId=proposalId)
    return i


@view
@external
def entry(i: uint256) -> (bytes32, address, uint256, uint256, uint256, uint256):
    """
    @notice Entry `i`: (cid, contributor, samples, shares, proposal id, block number).
    """
    assert i < self.entryCount, "database: no such entry"
    meta: uint256 = self._meta[i]
    award: uint256 = self._award[i]
    return (
        self._cids[i],
        convert(convert(meta & (2**160 - 1), uint160), address),
        (meta >> 160) & (2**48 - 1),
        award & (2**128 - 1),
        award >> 128,
        meta >> 208,
    )
