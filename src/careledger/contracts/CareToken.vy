# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title CareLedger Health Token
@custom:contract-name CareToken
@license GNU Affero General Public License v3.0 or later
@notice The network's ERC-20 token (CARE, 18 decimals), with
        EIP-2612 permits so a patient can pay a share of a claim,
        or a service, with a signature and no gas. It rewards
        participation (sharing data, joining studies), funds
        research and pays for services. Accounts with the minter
        role mint; the owner (the deployer) grants and revokes that
        role. Everything is snekmate's `erc20`: this contract only
        names the token.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

exports: erc20.__interface__


# @dev The EIP-712 domain permits are signed under.
EIP712_NAME: constant(String[50]) = "CareLedger Health Token"
EIP712_VERSION: constant(String[20]) = "1"


@deploy
def __init__():
    """
    @dev The deployer owns the token and may grant the minter role.
    """
    ownable.__init__()
    erc20.__init__("CareLedger Health Token", "CARE", 18, EIP712_NAME, EIP712_VERSION)
