# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Consent Registry
@custom:contract-name ConsentRegistry
@license GNU Affero General Public License v3.0 or later
@notice Patients' consents to share their records: a grant lets one
        grantee see some categories of the patient's records for
        some purposes (HL7 PurposeOfUse) between two times, until
        revoked (modules/consent_grants.vy). The patient grants
        directly, or signs an EIP-712 consent that anyone submits, so
        a patient needs no gas (so too her revocations, care team
        restrictions and break-glass switch). A patient may delegate consent
        management for some categories to a guardian or proxy, until
        an expiry; practitioners with a valid licence in the
        IdentityRegistry may record an emergency (break-glass) access,
        unless the patient turned it off (modules/consent_managers.vy).
        Only addresses, bitmasks, times and hashes are stored: no
        protected health information.
"""


from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

from .modules import consent_managers as managers
initializes: managers

from .modules import consent_grants as grants
initializes: grants[eip712 := eip712, managers := managers]


exports: (
    eip712.eip712Domain,
    managers.__interface__,
    grants.__interface__,
)


@deploy
def __init__(identity: address):
    """
    @dev Signed consents name this contract in their EIP-712 domain.
    @param identity The IdentityRegistry that says who acts for whom and
           who is a licensed practitioner.
    """
    eip712.__init__("CareLedger ConsentRegistry", "1")
    managers.__init__(identity)
