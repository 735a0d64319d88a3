# pragma version ~=0.4.3
"""
@title packing
@license Apache-2.0
@notice Stateless helpers to pack two values into one storage word. One slot read or
        written instead of two is the main gas saving available to these contracts.
"""

LOW208: constant(uint256) = 2**208 - 1


@pure
@internal
def pack48_208(high: uint256, low: uint256) -> uint256:
    """
    @dev `high` must fit in 48 bits and `low` in 208 bits (block numbers and votes).
    """
    assert high < 2**48 and low <= LOW208, "packing: value out of range"
    return (high << 208) | low


@pure
@internal
def high48(word: uint256) -> uint256:
    return word >> 208


@pure
@internal
def low208(word: uint256) -> uint256:
    return word & LOW208
