"""Facade of ConsentRegistry.vy: grants, signed consents, delegation, break-glass.

The chain layer speaks the contract's bitmasks; `careledger.consent` maps them to record
categories and HL7 purposes of use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from eth_utils import to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.chain._signer import TxRequest
from careledger.crypto import Address, Bool, Struct, Uint8, Uint16, Uint64, Uint256
from careledger.errors import NotFound, ValidationError

# The contract's EIP-712 domain (`eip712.__init__` in ConsentRegistry.vy).
DOMAIN_NAME = "CareLedger ConsentRegistry"
DOMAIN_VERSION = "1"


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """What a patient consents to: who, which categories, which purposes, when."""

    patient: str
    grantee: str
    categories: int
    purposes: int
    not_before: int
    expiry: int

    def abi_args(self) -> tuple[Any, ...]:
        """The terms as the contract's functions take them, in order."""
        return (
            to_checksum_address(self.patient),
            to_checksum_address(self.grantee),
            self.categories,
            self.purposes,
            self.not_before,
            self.expiry,
        )


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """One grant as the chain holds it."""

    grant_id: int
    terms: ConsentTerms
    revoked: bool


@dataclass(frozen=True, slots=True)
class _Signable(Struct):
    """What a patient signs for ConsentRegistry (its EIP-712 domain), for anyone to submit."""

    DOMAIN: ClassVar[tuple[str, str]] = (DOMAIN_NAME, DOMAIN_VERSION)


@dataclass(frozen=True, slots=True)
class _Consent(_Signable):
    PRIMARY_TYPE: ClassVar[str] = "Consent"
    NOUN: ClassVar[str] = "a consent"

    patient: Address
    grantee: Address
    categories: Uint16
    purposes: Uint8
    not_before: Uint64
    expiry: Uint64
    nonce: Uint256
    deadline: Uint256


@dataclass(frozen=True, slots=True)
class _Revocation(_Signable):
    PRIMARY_TYPE: ClassVar[str] = "Revocation"
    NOUN: ClassVar[str] = "a revocation"

    patient: Address
    grantee: Address
    grant_id: Uint256
    nonce: Uint256
    deadline: Uint256


@dataclass(frozen=True, slots=True)
class _CareTeamRestriction(_Signable):
    PRIMARY_TYPE: ClassVar[str] = "CareTeamRestriction"
    NOUN: ClassVar[str] = "a care team restriction"

    patient: Address
    custodian: Address
    categories: Uint16
    nonce: Uint256
    deadline: Uint256


@dataclass(frozen=True, slots=True)
class _EmergencyAccessSetting(_Signable):
    PRIMARY_TYPE: ClassVar[str] = "EmergencyAccessSetting"
    NOUN: ClassVar[str] = "an emergency access setting"

    patient: Address
    allowed: Bool
    nonce: Uint256
    deadline: Uint256


def consent_typed_data(
    terms: ConsentTerms, *, nonce: int, deadline: int, chain_id: int, contract: str
) -> dict[str, Any]:
    """The EIP-712 typed data a patient signs to consent off chain (`grant_by_signature`)."""
    t = terms
    consent = _Consent(t.patient, t.grantee, t.categories, t.purposes, t.not_before, t.expiry, nonce, deadline)
    return consent.typed_data(chain_id, contract)


@dataclass(frozen=True, slots=True)
class ConsentMessage:
    """What a consent's typed data says: the terms, the nonce and deadline, and the contract it is for."""

    terms: ConsentTerms
    nonce: int
    deadline: int
    chain_id: int
    contract: str


def consent_from_typed_data(typed: Any) -> ConsentMessage:
    """The inverse of `consent_typed_data`, for typed data that came from outside (a file a wallet signed);
    `ValidationError` unless it is a ConsentRegistry consent, field for field."""
    c = _Consent.from_typed_data(typed)
    chain_id, contract = _Consent.domain_of(typed)
    terms = ConsentTerms(c.patient, c.grantee, c.categories, c.purposes, c.not_before, c.expiry)
    return ConsentMessage(terms, c.nonce, c.deadline, chain_id, contract)


# What a patient may sign besides a consent, for anyone to submit: its EIP-712 struct, and the function that takes it.
ACTIONS: dict[str, type[_Signable]] = {
    "Revocation": _Revocation,
    "CareTeamRestriction": _CareTeamRestriction,
    "EmergencyAccessSetting": _EmergencyAccessSetting,
}
_SUBMITTED_BY = {
    "Revocation": "revoke_by_signature",
    "CareTeamRestriction": "restrict_care_team_by_signature",
    "EmergencyAccessSetting": "set_emergency_access_by_signature",
}
_AROUND = ("patient", "nonce", "deadline")  # every action's fields that are not its own


@dataclass(frozen=True, slots=True)
class SignedAction:
    """A revocation, care team restriction or emergency access setting as its typed data says: the patient, the
    action's own fields (grantee and grantId; custodian and categories; allowed), the nonce and deadline, and the
    contract it is for."""

    kind: str
    patient: str
    fields: dict[str, Any]
    nonce: int
    deadline: int
    chain_id: int
    contract: str


def action_typed_data(
    kind: str, patient: str, fields: dict[str, Any], *, nonce: int, deadline: int, chain_id: int, contract: str
) -> dict[str, Any]:
    """The EIP-712 typed data of a `kind` action (one of `ACTIONS`) a patient signs for anyone to submit."""
    action = ACTIONS[kind].from_message({"patient": patient, **fields, "nonce": nonce, "deadline": deadline})
    return action.typed_data(chain_id, contract)


def action_from_typed_data(typed: Any) -> SignedAction:
    """The inverse of `action_typed_data`; `ValidationError` unless it is a ConsentRegistry action, field for field."""
    kind = typed.get("primaryType") if isinstance(typed, dict) else None
    if not isinstance(kind, str) or kind not in ACTIONS:
        raise ValidationError(f"not a signed action: EIP-712 typed data of {' or '.join(ACTIONS)}")
    message = ACTIONS[kind].from_typed_data(typed).message()
    chain_id, contract = ACTIONS[kind].domain_of(typed)
    fields = {name: value for name, value in message.items() if name not in _AROUND}
    return SignedAction(kind, message["patient"], fields, message["nonce"], message["deadline"], chain_id, contract)


class ConsentRegistry(ContractFacade):
    """Grants, signed consents, delegation and break-glass on chain."""

    contract_name = "ConsentRegistry"

    def grant(self, terms: ConsentTerms) -> GrantRecord:
        """Grant as the signer (the patient, or a live delegate)."""
        return self._granted(self._transact(self._request("grant", *terms.abi_args())))

    def grant_by_signature(self, terms: ConsentTerms, deadline: int, signature: bytes) -> GrantRecord:
        """Submit a consent the patient (or a delegate) signed; the signer pays the gas."""
        request = self._request("grant_by_signature", *terms.abi_args(), deadline, signature)
        return self._granted(self._transact(request))

    def revoke(self, patient: str, grantee: str, grant_id: int) -> None:
        """Revoke a grant (the patient, or whoever manages her consents)."""
        self._transact(self._request("revoke", to_checksum_address(patient), to_checksum_address(grantee), grant_id))

    def delegate(self, delegate: str, categories: int, expiry: int) -> None:
        """Let `delegate` manage the signer's consents in `categories` until `expiry` (0 ends it)."""
        self._transact(self._request("delegate", to_checksum_address(delegate), categories, expiry))

    def restrict_care_team(self, patient: str, custodian: str, categories: int) -> None:
        """Keep `custodian`'s care team from `patient`'s `categories` (a bitmask; 0 lifts it)."""
        self._transact(
            self._request(
                "restrict_care_team", to_checksum_address(patient), to_checksum_address(custodian), categories
            )
        )

    def care_team_restrictions(self, patient: str, custodian: str) -> int:
        """The categories `patient` keeps from `custodian`'s care team."""
        return int(self._call("care_team_restrictions", to_checksum_address(patient), to_checksum_address(custodian)))

    def set_emergency_access(self, patient: str, allowed: bool) -> None:
        """Turn break-glass for `patient` on or off (the patient, or a delegate for every category)."""
        self._transact(self.set_emergency_access_request(patient, allowed))

    def set_emergency_access_request(self, patient: str, allowed: bool) -> TxRequest:
        """The transaction of `set_emergency_access`, for a wallet elsewhere to send (and pay for)."""
        return self._request("set_emergency_access", to_checksum_address(patient), allowed)

    def record_emergency_access(self, patient: str, reason_hash: bytes) -> int:
        """Record a break-glass access by the signer (a licensed practitioner); the block it is in."""
        receipt = self._transact(self._request("record_emergency_access", to_checksum_address(patient), reason_hash))
        return receipt.block

    def is_allowed(self, patient: str, grantee: str, categories: int, purposes: int) -> bool:
        """Whether one live grant lets `grantee` see `categories` of `patient`'s records for `purposes`."""
        return bool(
            self._call(
                "is_allowed",
                to_checksum_address(patient),
                to_checksum_address(grantee),
                categories,
                purposes,
            )
        )

    def grant_terms(self, grant_id: int) -> tuple[int, int, int, int, bool]:
        """(categories, purposes, not_before, expiry, revoked); `NotFound` if there is no such grant."""
        categories, purposes, not_before, expiry, revoked = self._call("grant_terms", grant_id)
        if categories == 0:
            raise NotFound(f"no consent grant {grant_id:#x}")
        return int(categories), int(purposes), int(not_before), int(expiry), bool(revoked)

    def delegation(self, patient: str, delegate: str) -> tuple[int, int]:
        """A delegation's categories and expiry (zero if none)."""
        categories, expiry = self._call("delegation", to_checksum_address(patient), to_checksum_address(delegate))
        return int(categories), int(expiry)

    def nonce(self, patient: str) -> int:
        """The nonce `patient`'s next signed consent must carry."""
        return int(self._call("nonces", to_checksum_address(patient)))

    def emergency_access_allowed(self, patient: str) -> bool:
        """Whether break-glass is on for `patient` (it is unless she turned it off)."""
        return not bool(self._call("emergency_access_disabled", to_checksum_address(patient)))

    def typed_data(self, terms: ConsentTerms, *, nonce: int, deadline: int) -> dict[str, Any]:
        """What the patient signs for `grant_by_signature` on this contract and chain."""
        return consent_typed_data(
            terms, nonce=nonce, deadline=deadline, chain_id=self.chain.chain_id, contract=self.address
        )

    def action_data(
        self, kind: str, patient: str, fields: dict[str, Any], *, nonce: int, deadline: int
    ) -> dict[str, Any]:
        """What the patient signs for a `kind` action (`revoke_by_signature`, …) on this contract and chain."""
        chain_id, contract = self.chain.chain_id, self.address
        return action_typed_data(
            kind, patient, fields, nonce=nonce, deadline=deadline, chain_id=chain_id, contract=contract
        )

    def submit_action(self, action: SignedAction, signature: bytes) -> None:
        """Submit an action the patient (or a delegate) signed; the signer of the transaction pays the gas."""
        values = list(action.fields.values())
        self._transact(self._request(_SUBMITTED_BY[action.kind], action.patient, *values, action.deadline, signature))

    def _granted(self, receipt: Any) -> GrantRecord:
        (event,) = self.events_in(receipt, "ConsentGranted")
        return grant_from_event(event.args)


def grant_from_event(args: dict[str, Any]) -> GrantRecord:
    """The grant a `ConsentGranted` event announces."""
    terms = ConsentTerms(
        patient=str(args["patient"]),
        grantee=str(args["grantee"]),
        categories=int(args["categories"]),
        purposes=int(args["purposes"]),
        not_before=int(args["not_before"]),
        expiry=int(args["expiry"]),
    )
    return GrantRecord(int(args["grant_id"]), terms, revoked=False)
