# pragma version ~=0.4.3
"""
@title Storage packing
@custom:contract-name packing
@license GNU Affero General Public License v3.0 or later
@notice Reading and writing the fields of a packed storage word. The
        claims modules keep a plan, an enrolment, a claim and a prior
        authorization in two or three words each (one cold slot read
        costs 2,100 gas, so a claim reads and writes few of them); the
        layout of each word is written beside its storage, as the bit
        offsets its fields start at.
"""


U8: constant(uint256) = 2**8 - 1
U16: constant(uint256) = 2**16 - 1
U32: constant(uint256) = 2**32 - 1
U64: constant(uint256) = 2**64 - 1
U96: constant(uint256) = 2**96 - 1
U160: constant(uint256) = 2**160 - 1


@internal
@pure
def _field(word: uint256, offset: uint256, mask: uint256) -> uint256:
    """
    @dev The field of `word` that starts at bit `offset`.
    @param word The packed storage word.
    @param offset The field's first bit.
    @param mask The field's width, as a mask of ones.
    @return The field's value.
    """
    return (word >> offset) & mask


@internal
@pure
def _with_field(word: uint256, offset: uint256, mask: uint256, field: uint256) -> uint256:
    """
    @dev `word` with the field at bit `offset` set to `field`.
    @param word The packed storage word.
    @param offset The field's first bit.
    @param mask The field's width, as a mask of ones.
    @param field The new value; it must fit the mask.
    @return The new word.
    """
    assert field <= mask, "packing: value too large for its field"
    return (word & ~(mask << offset)) | (field << offset)
