"""What a patient signs with any wallet, for the node to submit and pay for: revoking a grant, restricting a
care team, turning break-glass off or on.

A wallet in a browser holds no gas, so the portal asks the node for the EIP-712 typed data
(`prepare_*`), the patient's wallet signs it, and the node submits it (`submit`). The
chain is the judge (the signer must manage the patient's consents, the nonce must be her
next); what it would refuse is refused here first, in words, before any gas is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from careledger.chain import ConsentRegistry, SignedAction, action_from_typed_data
from careledger.consent._service import _DAY, _SIGNATURE_BYTES, ConsentService, _mask, check_fresh, check_registry
from careledger.errors import AccessDenied, Conflict, ValidationError
from careledger.records import Category

_WHAT = {
    "Revocation": "revocation",
    "CareTeamRestriction": "care team restriction",
    "EmergencyAccessSetting": "emergency access setting",
}


class SignedActions:
    """Signed revocations, care team restrictions and emergency access settings, prepared and submitted for one
    node."""

    def __init__(
        self, consent: ConsentService, registry: Callable[..., ConsentRegistry], clock: Callable[[], float] = time.time
    ) -> None:
        """`registry(as_wallet=None)`: the facade, read-only or signing (paying) as one of this node's wallets."""
        self._consent = consent
        self._registry = registry
        self._clock = clock

    def prepare_revocation(self, grant_id: int, *, valid_for_days: float = 1) -> dict[str, Any]:
        """The typed data of revoking `grant_id`, for the patient (or a delegate) to sign."""
        grant = self._consent.get(grant_id)
        if grant.revoked:
            raise Conflict(f"consent {grant.hex_id} is already revoked")
        fields = {"grantee": grant.grantee, "grantId": grant_id}
        return self._prepare("Revocation", grant.patient, fields, valid_for_days)

    def prepare_restriction(
        self, patient: str, custodian: str, categories: Iterable[Category], *, valid_for_days: float = 1
    ) -> dict[str, Any]:
        """The typed data of keeping `custodian`'s care team from `categories` of `patient`'s records (none: lift
        it), for her (or a delegate for every category) to sign."""
        fields = {"custodian": custodian, "categories": _mask(categories)}
        return self._prepare("CareTeamRestriction", patient, fields, valid_for_days)

    def prepare_emergency_access(self, patient: str, allowed: bool, *, valid_for_days: float = 1) -> dict[str, Any]:
        """The typed data of turning break-glass on (`allowed`) or off for `patient`, for her (or a delegate for
        every category) to sign: a wallet that holds no gas turns it off, the node submitting it."""
        return self._prepare("EmergencyAccessSetting", patient, {"allowed": allowed}, valid_for_days)

    def submit(
        self, as_wallet: str, typed: Any, signature: bytes, *, kind: str | None = None, patient: str | None = None
    ) -> SignedAction:
        """Submit a signed action, the wallet `as_wallet` paying the gas; refused early if the chain would refuse,
        or if it is not of `kind` or not about `patient` (when given: the patient signed in where it came from)."""
        action = action_from_typed_data(typed)
        if kind is not None and action.kind != kind:
            raise ValidationError(f"expected a signed {kind}, not a {action.kind}")
        if patient is not None and action.patient != patient:
            raise AccessDenied("what is submitted here must be about the signed-in patient")
        by = self._registry(as_wallet=as_wallet)
        what = _WHAT[action.kind]
        check_registry(by, what, action.chain_id, action.contract)
        if len(signature) != _SIGNATURE_BYTES:
            raise ValidationError(f"a signature is {_SIGNATURE_BYTES} bytes (r, s, v), not {len(signature)}")
        if action.kind == "Revocation":
            grant = self._consent.get(action.fields["grantId"])
            if (grant.patient, grant.grantee) != (action.patient, action.fields["grantee"]):
                raise ValidationError("this revocation names another patient or grantee than the grant it revokes")
            if grant.revoked:
                raise Conflict(f"consent {grant.hex_id} is already revoked")
        check_fresh(by, what, action.patient, action.nonce, action.deadline, self._clock())
        by.submit_action(action, signature)
        self._consent.sync()
        return action

    def _prepare(self, kind: str, patient: str, fields: dict[str, Any], valid_for_days: float) -> dict[str, Any]:
        registry = self._registry()
        deadline = int(self._clock() + valid_for_days * _DAY)
        return registry.action_data(kind, patient, fields, nonce=registry.nonce(patient), deadline=deadline)
