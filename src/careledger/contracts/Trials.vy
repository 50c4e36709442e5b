# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Trials
@custom:contract-name Trials
@license GNU Affero General Public License v3.0 or later
@notice Clinical trials (DESIGN.md section 14): a registry of trials and
        their protocol versions approved by an ethics board, sites,
        versioned eConsent, randomisation anyone can check, and milestone
        payments from the sponsor's CareToken escrow.

        A sponsor (RESEARCHER) registers a trial and escrows its budget;
        an ethics board approves each protocol version
        (modules/trial_registry.vy). The sponsor commits its seed's hash
        before anyone is enrolled; sites enrol participants, each named
        by a salted commitment, under the current consent version; the
        sponsor records each allocation as a commitment and reveals the
        seed at unblinding (modules/trial_enrolment.vy). Each visit whose
        case report form the site anchored in the RecordAnchor pays its
        site a fee and the participant a stipend, held for her until she
        has a payee (modules/trial_payments.vy). Every step is an event
        with the trial and participant indexed.

        A participant id is first seen in the mempool with its `enrol`;
        another site of the trial could enrol the same id first and
        become "her site". It gains nothing by it: a visit pays only for
        a leaf of a batch of records its payer anchored itself, so the
        honest site's CRFs never pay the squatter, and what it could
        draw with leaves of its own it could draw as well with ids it
        made up, which only the sponsor's monitoring catches (it may
        `remove_site`). The honest site, refused `already enrolled`,
        enrols her again under a fresh salt: ids are not bound to sites,
        which would re-key every record for no gain.

        No protected health information is stored: addresses, salted
        commitments, hashes, small integers and amounts.
"""


from .modules import trial_registry as registry
initializes: registry

from .modules import trial_enrolment as enrolment
initializes: enrolment[registry := registry]

from .modules import trial_payments as payments
initializes: payments[registry := registry, enrolment := enrolment]


exports: (registry.__interface__, enrolment.__interface__, payments.__interface__)


@deploy
def __init__(identity: address, token: address, anchor: address):
    """
    @dev Bind the trials to the registry of actors, the escrow's token and
         the anchor of records.
    @param identity The IdentityRegistry.
    @param token The escrow's token (CareToken).
    @param anchor The RecordAnchor that proves CRFs anchored.
    """
    registry.__init__(identity, token)
    payments.__init__(anchor)
