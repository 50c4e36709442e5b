# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Identity Registry
@custom:contract-name IdentityRegistry
@license GNU Affero General Public License v3.0 or later
@notice Who is who in a CareLedger network: each actor (organisation,
        practitioner, patient, device, insurer, pharmacy, lab,
        researcher, regulator) is an address with a role, a public
        encryption key (and its HPKE suite), a node endpoint and a
        hash of off-chain metadata (modules/identity_actors.vy).
        Issuers (`ISSUER_ROLE`, e.g. a licensing board) attest
        credentials such as a practitioner's licence, with an expiry,
        optionally revocable (modules/identity_credentials.vy). A
        node may hold a patient's identity until she claims it with
        her own wallet, which guardians she names can recover
        (modules/identity_custody.vy). Nothing here is protected
        health information: addresses, keys, URLs of organisations'
        nodes, hashes and codes only.
        Roles are managed with snekmate's `access_control`; the
        deployer is the first admin, registrar and issuer.
"""


from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth.interfaces import IAccessControl
implements: IAccessControl

from snekmate.auth import access_control
initializes: access_control

from .modules import roles

from .modules import identity_actors as actors
initializes: actors[access_control := access_control]

from .modules import identity_credentials as issuing
initializes: issuing[access_control := access_control, actors := actors]

from .modules import identity_custody as custody
initializes: custody[access_control := access_control, actors := actors]


exports: (
    access_control.__interface__,
    actors.__interface__,
    issuing.__interface__,
    custody.__interface__,
)


# @dev Actor roles (DESIGN.md section 3); 0 means unregistered.
ORG: public(constant(uint8)) = roles.ORG
PRACTITIONER: public(constant(uint8)) = roles.PRACTITIONER
PATIENT: public(constant(uint8)) = roles.PATIENT
DEVICE: public(constant(uint8)) = roles.DEVICE
INSURER: public(constant(uint8)) = roles.INSURER
PHARMACY: public(constant(uint8)) = roles.PHARMACY
LAB: public(constant(uint8)) = roles.LAB
RESEARCHER: public(constant(uint8)) = roles.RESEARCHER
REGULATOR: public(constant(uint8)) = roles.REGULATOR


@deploy
def __init__():
    """
    @dev Makes the deployer admin, registrar and issuer.
    """
    access_control.__init__()
    access_control._grant_role(actors.REGISTRAR_ROLE, msg.sender)
    access_control._grant_role(issuing.ISSUER_ROLE, msg.sender)
