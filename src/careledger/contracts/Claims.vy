# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims
@custom:contract-name Claims
@license GNU Affero General Public License v3.0 or later
@notice Health insurance plans, enrolment, prior authorization and
        claims that are adjudicated and paid the moment they are
        submitted, when the plan's terms are met.

        An insurer (INSURER in the IdentityRegistry) registers a plan
        (modules/claim_plans.vy); anyone may fund its escrow
        (modules/claim_escrow.vy). The insurer admits providers to the
        plan's network and enrols members (modules/claim_members.vy).
        A provider may ask for a prior authorization (modules/
        claim_preauth.vy), then submits a claim, which is adjudicated
        and paid at once or pended, and may be appealed (modules/
        claim_adjudication.vy); every claim's state is kept in
        modules/claim_ledger.vy. Denials carry X12 claim adjustment
        reason codes (CARC). Every step is an event.

        The deployer holds DEFAULT_ADMIN_ROLE (snekmate access_control)
        and may pause every state-changing function in an emergency;
        views stay open while paused.

        No protected health information is stored: addresses, codes,
        amounts, dates and hashes only.
"""


from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth.interfaces import IAccessControl
implements: IAccessControl

from snekmate.auth import access_control
initializes: access_control

from snekmate.utils import pausable
initializes: pausable

from .modules import claim_plans as plans
initializes: plans[pausable := pausable]

from .modules import claim_escrow as escrow
initializes: escrow[pausable := pausable, plans := plans]

from .modules import claim_members as members
initializes: members[pausable := pausable, plans := plans]

from .modules import claim_preauth as authorizations
initializes: authorizations[pausable := pausable, plans := plans, members := members]

from .modules import claim_ledger as ledger
initializes: ledger[plans := plans]

from .modules import claim_adjudication as adjudication
initializes: adjudication[pausable := pausable, plans := plans, escrow := escrow, members := members, authorizations := authorizations, ledger := ledger]


exports: (
    access_control.__interface__,
    pausable.paused,
    plans.__interface__,
    escrow.__interface__,
    members.__interface__,
    authorizations.__interface__,
    ledger.__interface__,
    adjudication.__interface__,
)


@deploy
def __init__(identity: address):
    """
    @dev The deployer becomes the admin, who may pause the contract.
    @param identity The IdentityRegistry that says who is an insurer,
           provider or patient.
    """
    access_control.__init__()
    pausable.__init__()
    plans.__init__(identity)


@external
def pause():
    """
    @notice Stop every state-changing function in an emergency (the admin only).
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    pausable._pause()


@external
def unpause():
    """
    @notice Resume after an emergency stop (the admin only).
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    pausable._unpause()
