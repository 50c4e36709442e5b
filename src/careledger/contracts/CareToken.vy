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
        research and pays for services. Transfers, approvals,
        burns and permits are snekmate's `erc20`; minting is
        capped per minter (modules/token_minting.vy) and the owner
        (the deployer, then the council) sets the caps.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

from .modules import token_minting as minting
initializes: minting[ownable := ownable, erc20 := erc20]

exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
    erc20.burn,
    erc20.burn_from,
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
    ownable.owner,
    minting.__interface__,
)


# @dev The EIP-712 domain permits are signed under.
EIP712_NAME: constant(String[50]) = "CareLedger Health Token"
EIP712_VERSION: constant(String[20]) = "1"


@deploy
def __init__():
    """
    @dev The deployer owns the token and mints without bound until it
         hands the ownership to the council.
    """
    ownable.__init__()
    erc20.__init__("CareLedger Health Token", "CARE", 18, EIP712_NAME, EIP712_VERSION)
    minting.__init__()
