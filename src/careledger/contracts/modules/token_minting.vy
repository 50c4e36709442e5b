# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Token: capped minting
@custom:contract-name token_minting
@license GNU Affero General Public License v3.0 or later
@notice Who may mint CareToken, and how much more each may mint: every
        minter has an allowance that each mint spends, and minting
        beyond it reverts. The owner (the deployer until the council is
        bootstrapped, the council after) sets each minter's allowance;
        zero revokes. It replaces snekmate `erc20`'s unbounded minter
        role, whose `mint` and `set_minter` the token does not export.
        The deployer starts with an unbounded allowance so a network
        runs as before its council exists; handing the ownership over
        ends it.
"""


from snekmate.auth import ownable
uses: ownable

from snekmate.tokens import erc20
uses: erc20


# @dev How much more each minter may mint, in the token's smallest
#      units; zero for an account that is not a minter.
mint_allowance: public(HashMap[address, uint256])


# @dev Emitted when the owner sets a minter's allowance (zero revokes it),
#      and when handing the ownership over ends the old owner's.
event MinterSet:
    minter: indexed(address)
    allowance: uint256


@deploy
def __init__():
    """
    @dev The deployer may mint without bound until it hands the ownership over.
    """
    self._set_minter(msg.sender, max_value(uint256))


@external
def mint(owner: address, amount: uint256):
    """
    @dev Creates `amount` tokens for `owner`, spending as much of the
         caller's allowance.
    @notice A minter only, within its allowance: more reverts.
    @param owner The account credited; not the zero address.
    @param amount The amount, in the token's smallest units.
    """
    allowance: uint256 = self.mint_allowance[msg.sender]
    assert allowance != 0, "token: caller is not a minter"
    assert amount <= allowance, "token: mint exceeds the minter's cap"
    self.mint_allowance[msg.sender] = unsafe_sub(allowance, amount)
    erc20._mint(owner, amount)


@external
def set_minter(minter: address, allowance: uint256):
    """
    @dev Sets how much more `minter` may mint; zero revokes it.
    @notice The owner only.
    @param minter The minter; not the zero address.
    @param allowance Its new allowance, in the token's smallest units.
    """
    ownable._check_owner()
    self._set_minter(minter, allowance)


@external
@view
def is_minter(account: address) -> bool:
    """
    @notice Whether `account` may still mint something.
    @param account Any address.
    @return True if its allowance is not zero.
    """
    return self.mint_allowance[account] != 0


@external
def transfer_ownership(new_owner: address):
    """
    @dev Hands the ownership (setting minters) to `new_owner`, and ends
         the old owner's own allowance: after bootstrap the deployer
         mints only what the council lets it.
    @notice The owner only.
    @param new_owner The new owner; not the zero address.
    """
    ownable._check_owner()
    assert new_owner != empty(address), "token: new owner is the zero address"
    self._set_minter(msg.sender, 0)
    ownable._transfer_ownership(new_owner)


@internal
def _set_minter(minter: address, allowance: uint256):
    assert minter != empty(address), "token: minter is the zero address"
    self.mint_allowance[minter] = allowance
    log MinterSet(minter=minter, allowance=allowance)
