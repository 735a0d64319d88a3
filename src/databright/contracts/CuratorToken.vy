# pragma version ~=0.4.3
"""
@title CuratorToken
@license Apache-2.0
@notice Shares of one DataBright data request. ERC-20 balances, ERC-5805 votes with
        delegation on block numbers (ERC-6372), and ERC-1726-style dividends paid in ether
        through a dividend-per-share accumulator, so paying any number of holders is O(1).
@dev Only the DataAssociation that created the token mints; nothing ever burns.
     Storage is packed by hand because every slot touched costs 2,100-22,100 gas:
       _account[a]   = balance (low 128 bits) | withdrawn dividends (high 128 bits)
       _checkpoint   = fromBlock (high 48 bits) | votes (low 208 bits)
       _supplyAndPaid = total supply (low 96 bits) | ether distributed (high 160 bits)
     Votes follow ERC-5805: tokens vote only once their holder has chosen a delegate
     (possibly itself). The total supply is capped at 2**96 - 1 so that vote tallies in
     the association fit in 96 bits.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20
implements: IERC20Detailed

import packing

event DelegateChanged:
    delegator: indexed(address)
    fromDelegate: indexed(address)
    toDelegate: indexed(address)

event DelegateVotesChanged:
    delegate: indexed(address)
    previousVotes: uint256
    newVotes: uint256

event DividendsDistributed:
    sender: indexed(address)
    weiAmount: uint256

event DividendWithdrawn:
    receiver: indexed(address)
    weiAmount: uint256

MAGNITUDE: constant(uint256) = 2**128
SUPPLY_CAP: constant(uint256) = 2**96 - 1
LOW96: constant(uint256) = 2**96 - 1
# Dividends need at least one whole share outstanding. Then the accumulator grows by at most
# 2**128 / 10**18 (about 2**68.2) per wei paid, so `_dividendPerShare * amount` (amount < 2**96)
# stays below 2**255 (an int256) until about 2**90.8 wei (~2.1e9 ether) has been paid.
MIN_DIVIDEND_SUPPLY: constant(uint256) = 10**18
LOW128: constant(uint256) = 2**128 - 1
SUPPLY_KEY: constant(address) = empty(address)

name: public(String[64])
symbol: public(String[16])
decimals: public(constant(uint8)) = 18
ASSOCIATION: public(immutable(address))

# total supply (low 96 bits) | total ether ever distributed (high 160 bits): distribute()
# needs both, and the slot is already non-zero when it runs, so paying costs no fresh slot
_supplyAndPaid: uint256
allowance: public(HashMap[address, HashMap[address, uint256]])
delegates: public(HashMap[address, address])

_account: HashMap[address, uint256]
# Checkpoints of delegated votes per delegatee; the total supply's checkpoints live under
# SUPPLY_KEY (the zero address, which can never hold votes).
_checkpoints: HashMap[address, HashMap[uint256, uint256]]
_numCheckpoints: HashMap[address, uint256]

_dividendPerShare: uint256
_corrections: HashMap[address, int256]


@deploy
def __init__(name_: String[64], symbol_: String[16], association: address):
    """
    @notice Creates the share token of one request; `association` alone may mint.
    """
    assert association != empty(address), "token: zero association"
    self.name = name_
    self.symbol = symbol_
    ASSOCIATION = association


# ---------------------------------------------------------------- ERC-20

@view
@external
def totalSupply() -> uint256:
    """
    @notice All shares in existence.
    """
    return self._supplyAndPaid & LOW96


@view
@external
def totalDistributed() -> uint256:
    """
    @notice All ether ever paid to the shareholders through distribute() (wei).
    """
    return self._supplyAndPaid >> 96


@view
@external
def balanceOf(owner: address) -> uint256:
    """
    @notice Shares held by `owner`.
    """
    return self._account[owner] & LOW128


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` shares to `to`; the votes follow the delegates and accrued
            dividends stay with the sender.
    """
    self._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` shares from `owner` using the caller's allowance.
    """
    allowed: uint256 = self.allowance[owner][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "token: insufficient allowance"
        # unchecked: allowed >= amount was just asserted
        self.allowance[owner][msg.sender] = unsafe_sub(allowed, amount)
    self._transfer(owner, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Lets `spender` move up to `amount` of the caller's shares.
    """
    assert spender != empty(address), "token: approve to zero address"
    self.allowance[msg.sender][spender] = amount
    log IERC20.Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(to: address, amount: uint256):
    """
    @notice Mints `amount` new shares to `to`; only the association, for passed proposals.
    @dev New shares earn only dividends distributed after the mint (correction below).
    """
    assert msg.sender == ASSOCIATION, "token: caller is not the association"
    assert to != empty(address), "token: mint to zero address"
    packed: uint256 = self._supplyAndPaid
    supply: uint256 = (packed & LOW96) + amount
    assert supply <= SUPPLY_CAP, "token: supply cap exceeded"
    # unchecked: the new supply fits the low 96 bits (asserted), the paid part is kept
    self._supplyAndPaid = unsafe_add(packed & ~LOW96, supply)
    # unchecked: the balance is at most the supply, which is below 2**96
    self._account[to] = unsafe_add(self._account[to], amount)
    self._corrections[to] -= convert(self._dividendPerShare * amount, int256)
    self._pushSupply(supply)
    self._moveVotes(empty(address), self.delegates[to], amount)
    log IERC20.Transfer(sender=empty(address), receiver=to, value=amount)


@internal
def _transfer(owner: address, to: address, amount: uint256):
    assert to != empty(address), "token: transfer to zero address"
    packedFrom: uint256 = self._account[owner]
    assert packedFrom & LOW128 >= amount, "token: insufficient balance"
    # unchecked: the low 128 bits hold at least `amount`, so no borrow from the high half
    self._account[owner] = unsafe_sub(packedFrom, amount)
    # unchecked: the receiver's balance stays below the supply cap of 2**96
    self._account[to] = unsafe_add(self._account[to], amount)
    magnified: int256 = convert(self._dividendPerShare * amount, int256)
    self._corrections[owner] += magnified
    self._corrections[to] -= magnified
    self._moveVotes(self.delegates[owner], self.delegates[to], amount)
    log IERC20.Transfer(sender=owner, receiver=to, value=amount)


# ---------------------------------------------------------------- ERC-5805 / ERC-6372

@view
@external
def clock() -> uint48:
    """
    @notice The clock votes are measured on: the block number (ERC-6372).
    """
    return convert(block.number, uint48)


@view
@external
def CLOCK_MODE() -> String[32]:
    """
    @notice Describes the clock (ERC-6372).
    """
    return "mode=blocknumber&from=default"


@external
def delegate(delegatee: address):
    """
    @notice Gives the caller's voting power to `delegatee` (itself to vote in person,
            the zero address to revoke).
    """
    holder: address = msg.sender
    old: address = self.delegates[holder]
    self.delegates[holder] = delegatee
    log DelegateChanged(delegator=holder, fromDelegate=old, toDelegate=delegatee)
    self._moveVotes(old, delegatee, self._account[holder] & LOW128)


@view
@external
def getVotes(account: address) -> uint256:
    """
    @notice Current voting power of `account`.
    """
    if account == SUPPLY_KEY:
        return 0
    n: uint256 = self._numCheckpoints[account]
    if n == 0:
        return 0
    # unchecked: n > 0
    return packing.low208(self._checkpoints[account][unsafe_sub(n, 1)])


@view
@external
def getPastVotes(account: address, timepoint: uint256) -> uint256:
    """
    @notice Voting power of `account` at the end of block `timepoint` (a past block).
    """
    assert timepoint < block.number, "token: future lookup"
    if account == SUPPLY_KEY:
        return 0
    return self._lookup(account, timepoint)


@view
@external
def getPastTotalSupply(timepoint: uint256) -> uint256:
    """
    @notice Total supply at the end of block `timepoint` (a past block).
    """
    assert timepoint < block.number, "token: future lookup"
    return self._lookup(SUPPLY_KEY, timepoint)


@view
@internal
def _lookup(key: address, timepoint: uint256) -> uint256:
    # Fast path first: most lookups ask for a block after the latest checkpoint.
    n: uint256 = self._numCheckpoints[key]
    if n == 0:
        return 0
    # unchecked: n > 0
    last: uint256 = self._checkpoints[key][unsafe_sub(n, 1)]
    if packing.high48(last) <= timepoint:
        return packing.low208(last)
    low: uint256 = 0
    high: uint256 = n
    for _: uint256 in range(256):
        if low >= high:
            break
        # unchecked: low + high < 2 * n, far from overflow
        mid: uint256 = unsafe_div(unsafe_add(low, high), 2)
        if packing.high48(self._checkpoints[key][mid]) > timepoint:
            high = mid
        else:
            # unchecked: mid < high <= n
            low = unsafe_add(mid, 1)
    if high == 0:
        return 0
    # unchecked: high > 0
    return packing.low208(self._checkpoints[key][unsafe_sub(high, 1)])


@internal
def _moveVotes(src: address, dst: address, amount: uint256):
    if src == dst or amount == 0:
        return
    if src != empty(address):
        n: uint256 = self._numCheckpoints[src]
        # unchecked: src delegates at least `amount`, so it has a checkpoint (n >= 1)
        old: uint256 = packing.low208(self._checkpoints[src][unsafe_sub(n, 1)])
        # unchecked: src's votes include the `amount` shares it delegated
        new: uint256 = unsafe_sub(old, amount)
        self._write(src, n, new)
        log DelegateVotesChanged(delegate=src, previousVotes=old, newVotes=new)
    if dst != empty(address):
        n: uint256 = self._numCheckpoints[dst]
        old: uint256 = 0
        if n > 0:
            # unchecked: n > 0
            old = packing.low208(self._checkpoints[dst][unsafe_sub(n, 1)])
        # unchecked: votes never exceed the supply cap of 2**96
        new: uint256 = unsafe_add(old, amount)
        self._write(dst, n, new)
        log DelegateVotesChanged(delegate=dst, previousVotes=old, newVotes=new)


@internal
def _pushSupply(supply: uint256):
    self._write(SUPPLY_KEY, self._numCheckpoints[SUPPLY_KEY], supply)


@internal
def _write(key: address, n: uint256, amount: uint256):
    # One checkpoint per block: a second change in the same block overwrites it.
    packed: uint256 = packing.pack48_208(block.number, amount)
    if n > 0:
        # unchecked: n > 0
        last: uint256 = unsafe_sub(n, 1)
        if packing.high48(self._checkpoints[key][last]) == block.number:
            self._checkpoints[key][last] = packed
            return
    self._checkpoints[key][n] = packed
    # unchecked: n counts checkpoints, at most one per block
    self._numCheckpoints[key] = unsafe_add(n, 1)


# ---------------------------------------------------------------- dividends

@external
@payable
def distribute():
    """
    @notice Pays the attached ether to all shareholders pro rata to their shares, in O(1).
    @dev The remainder of the division (less than one wei per share unit, scaled by
         2**128) stays in the contract; holders lose at most one wei each to rounding.
    """
    self._distribute()


@external
@payable
def __default__():
    """
    @notice Plain ether sent to the token is distributed as dividends.
    """
    self._distribute()


@internal
@payable
def _distribute():
    packed: uint256 = self._supplyAndPaid
    supply: uint256 = packed & LOW96
    assert supply >= MIN_DIVIDEND_SUPPLY, "token: less than one share to pay"
    assert msg.value > 0, "token: nothing to distribute"
    self._dividendPerShare += msg.value * MAGNITUDE // supply
    # checked: adding in the high 160 bits overflows uint256 exactly when the ether total
    # would pass 2**160 wei, which no chain holds
    self._supplyAndPaid = packed + (msg.value << 96)
    log DividendsDistributed(sender=msg.sender, weiAmount=msg.value)


@view
@internal
def _accumulative(owner: address) -> uint256:
    magnified: int256 = convert(self._dividendPerShare * (self._account[owner] & LOW128), int256)
    return convert(magnified + self._corrections[owner], uint256) // MAGNITUDE


@view
@external
def accumulativeDividendOf(owner: address) -> uint256:
    """
    @notice All dividends `owner` has earned so far, withdrawn or not (wei).
    """
    return self._accumulative(owner)


@view
@external
def withdrawnDividendOf(owner: address) -> uint256:
    """
    @notice Dividends `owner` has already withdrawn (wei).
    """
    return self._account[owner] >> 128


@view
@external
def withdrawableDividendOf(owner: address) -> uint256:
    """
    @notice Dividends `owner` can withdraw now (wei).
    """
    return self._accumulative(owner) - (self._account[owner] >> 128)


@external
@nonreentrant
def withdrawDividend():
    """
    @notice Sends the caller all its withdrawable dividends.
    @dev State is updated before the call and the function is non-reentrant.
    """
    packed: uint256 = self._account[msg.sender]
    withdrawn: uint256 = packed >> 128
    amount: uint256 = self._accumulative(msg.sender) - withdrawn
    assert amount > 0, "token: nothing to withdraw"
    # unchecked: amount <= total distributed ether < 2**128 on any real chain
    self._account[msg.sender] = unsafe_add(packed, amount << 128)
    log DividendWithdrawn(receiver=msg.sender, weiAmount=amount)
    raw_call(msg.sender, b"", value=amount)
