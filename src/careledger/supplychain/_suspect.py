"""Suspect product: a pharmacy or wholesaler asks a pack's manufacturer whether it made it (DSCSA's verification
request), and believes only an answer signed by the lot's manufacturer as the chain names it.

```
asker ── VerificationRequest(asker, manufacturer, packKey, pack{gtin, serial, lot, expiry}, nonce, deadline) ──►
        the manufacturer's node (its endpoint from the IdentityRegistry), POST /epcis/verification
manufacturer ── its own commissioning events: gtin, serial, lot and expiry all match? ──►
        VerificationAnswer(packKey, lotKey, expiry, verified, reason, at, request) signed by its node wallet
asker ── signer == the pack's manufacturer on chain, about this pack and this request? ──► believed (else refused)
```

Both are EIP-712 structs in the supply chain's domain (verifying contract: the SupplyChain contract), so a request
or an answer is valid on one network only; a request is single-use (its nonce is spent as the exchange's are) and
lives `LIFETIME` seconds.

Who may ask (DSCSA's trading partners): an organisation's node, registered and active with an organisation's role
(not a patient's, a practitioner's, a device's or a researcher's), that the chain shows holding the pack or
receiving it in a shipment; or a regulator, about any pack. The answer's lot key and expiry add nothing the chain
does not already tell anyone (`SupplyChain.status`), so this is about trading partners' semantics, not secrecy:
a manufacturer answers those it trades with, not whoever asks. Every request is audited under who signed it, as
recovered from its signature, never under who it claims to be (`ANONYMOUS` when too malformed to say), so a
stranger cannot put entries in another's name. Asking, the manufacturer's node's refusals and silences come back as
this node's own words (`IntegrityError`, `NodeUnreachable`), audited, never as the asker's own 401 or 403.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from careledger.audit import ANONYMOUS, Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry, Role, SupplyChain, lot_key, pack_key
from careledger.crypto import (
    Address,
    Bool,
    Bytes32,
    HashedJson,
    Nonce,
    Signed,
    String,
    Struct,
    Uint32,
    Uint64,
    sign_typed_data,
)
from careledger.errors import (
    AccessDenied,
    CareLedgerError,
    IntegrityError,
    InvalidSignature,
    NodeUnreachable,
    NotFound,
    ValidationError,
    http_status,
)
from careledger.supplychain._cbv import BizStep, bare
from careledger.supplychain._epcis import SIGNER
from careledger.supplychain._gs1 import Pack
from careledger.supplychain._notices import node_endpoint

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DOMAIN = ("CareLedger SupplyChain", "1")
LIFETIME = 300  # seconds a request stays valid
FRESH = 600  # seconds an answer's `at` may be from the asker's clock, either way
NO_EXPIRY = 0  # an answer's expiry when the manufacturer knows none (it commissioned no such pack)
# The roles of organisations' nodes, who may ask (module docstring); not a patient, practitioner, device, researcher.
ORGANISATIONS = frozenset({Role.ORG, Role.INSURER, Role.PHARMACY, Role.LAB, Role.REGULATOR})
SHOWN = 200  # characters of a manufacturer node's refusal repeated in ours


def expiry_number(day: date | None) -> int:
    """A date as the chain and the answer hold it: YYYYMMDD (0: none)."""
    return NO_EXPIRY if day is None else day.year * 10_000 + day.month * 100 + day.day


def _pack_of(data: dict[str, Any]) -> Pack:
    """The pack a request names (`ValidationError` naming the field if it is malformed)."""
    if set(data) != {"gtin", "serial", "lot", "expiry"}:
        raise ValidationError("a verification request's pack is an object of gtin, serial, lot and expiry")
    expiry = data["expiry"]
    try:
        day = None if expiry is None else date.fromisoformat(str(expiry))
    except ValueError:
        raise ValidationError(f"expiry: {str(expiry)[:20]!r} is not a date (YYYY-MM-DD)") from None
    lot = data["lot"]
    if not isinstance(data["gtin"], str) or not isinstance(data["serial"], str) or not isinstance(lot, str | None):
        raise ValidationError("a verification request's gtin, serial and lot are strings")
    return Pack(data["gtin"], data["serial"], lot, day)


@dataclass(frozen=True, slots=True)
class VerificationRequest(Struct):
    """What an asker signs to have a pack's manufacturer verify it: the pack as its barcode says (no patient)."""

    PRIMARY_TYPE: ClassVar[str] = "VerificationRequest"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a verification request"

    asker: Address
    manufacturer: Address
    pack_key: Bytes32
    pack: HashedJson
    nonce: Nonce
    deadline: Uint64

    def __post_init__(self) -> None:
        Struct.__post_init__(self)
        found = _pack_of(self.pack)
        if pack_key(found.gtin, found.serial) != self.pack_key:
            raise ValidationError("a verification request's packKey is not its pack's (GTIN and serial)")

    @classmethod
    def new(cls, asker: str, manufacturer: str, pack: Pack) -> VerificationRequest:
        """A fresh request about `pack`: its nonce random, its deadline `LIFETIME` seconds away."""
        expiry = pack.expiry.isoformat() if pack.expiry else None
        body = {"gtin": pack.gtin, "serial": pack.serial, "lot": pack.lot, "expiry": expiry}
        nonce = int.from_bytes(os.urandom(32), "big")
        key = pack_key(pack.gtin, pack.serial)
        return cls(asker, manufacturer, key, body, nonce, int(time.time()) + LIFETIME)

    @property
    def scanned(self) -> Pack:
        """The pack the request names."""
        return _pack_of(self.pack)

    @property
    def request_id(self) -> bytes:
        """How the answer names the request: its nonce as 32 bytes."""
        return self.nonce.to_bytes(32, "big")

    def sign(self, account: LocalAccount, chain_id: int, contract: str) -> SignedVerificationRequest:
        """The request signed by `account`, the asking node's wallet."""
        return SignedVerificationRequest(self, sign_typed_data(account, self.typed_data(chain_id, contract)))


@dataclass(frozen=True, slots=True)
class SignedVerificationRequest(Signed[VerificationRequest]):
    """A verification request and the asking node's signature: the body of `POST /epcis/verification`."""

    REQUEST: ClassVar[type[Struct]] = VerificationRequest


@dataclass(frozen=True, slots=True)
class VerificationAnswer(Struct):
    """The manufacturer's answer: whether it commissioned this pack with this lot and expiry (`verified`), the lot
    and expiry it commissioned it with (zeros: none), why in words, when (unix seconds), and to which request."""

    PRIMARY_TYPE: ClassVar[str] = "VerificationAnswer"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a verification answer"

    pack_key: Bytes32
    lot_key: Bytes32
    expiry: Uint32
    verified: Bool
    reason: String
    at: Uint64
    request: Bytes32

    def sign(self, account: LocalAccount, chain_id: int, contract: str) -> SignedVerificationAnswer:
        """The answer signed by `account`, the manufacturer node's wallet."""
        return SignedVerificationAnswer(self, sign_typed_data(account, self.typed_data(chain_id, contract)))


@dataclass(frozen=True, slots=True)
class SignedVerificationAnswer(Signed[VerificationAnswer]):
    """An answer and the manufacturer node's signature, as the asker receives and keeps it."""

    REQUEST: ClassVar[type[Struct]] = VerificationAnswer


@dataclass(frozen=True, slots=True)
class Commissioned:
    """What a manufacturer's own commissioning event says of a pack: its lot and expiry."""

    lot: str | None
    expiry: date | None


def commissioned_in(events: Sequence[dict[str, Any]], manufacturer: str) -> Commissioned | None:
    """What the first of `events` (EPCIS commissioning events naming a pack) that `manufacturer` signed says of
    the pack's lot and expiry (its ILMD); None if it signed none."""
    for event in events:
        if event.get(SIGNER) != manufacturer or bare(str(event.get("bizStep", ""))) != BizStep.COMMISSIONING:
            continue
        ilmd = event.get("ilmd") or {}
        expiry = ilmd.get("cbvmda:itemExpirationDate")
        try:
            day = None if expiry is None else date.fromisoformat(str(expiry))
        except ValueError:
            day = None
        lot = ilmd.get("cbvmda:lotNumber")
        return Commissioned(None if lot is None else str(lot), day)
    return None


def answer_for(request: VerificationRequest, commissioned: Commissioned | None, now: int) -> VerificationAnswer:
    """The manufacturer's answer to `request`, from its own commissioning event of the pack (None: it has none)."""
    pack = request.scanned
    if commissioned is None:
        verified, reason = False, f"not commissioned by this manufacturer: no serial {pack.serial} of GTIN {pack.gtin}"
        lot, expiry = b"\x00" * 32, NO_EXPIRY
    else:
        lot = lot_key(pack.gtin, commissioned.lot) if commissioned.lot is not None else b"\x00" * 32
        expiry = expiry_number(commissioned.expiry)
        problems = []
        if pack.lot is not None and pack.lot != commissioned.lot:
            problems.append(f"the lot is {commissioned.lot}, not {pack.lot}")
        if pack.expiry is not None and pack.expiry != commissioned.expiry:
            shown = commissioned.expiry.isoformat() if commissioned.expiry else "none"
            problems.append(f"the expiry is {shown}, not {pack.expiry.isoformat()}")
        verified = not problems
        reason = "commissioned by this manufacturer as scanned" if verified else "; ".join(problems)
    return VerificationAnswer(request.pack_key, lot, expiry, verified, reason, now, request.request_id)


def believed(
    signed: SignedVerificationAnswer,
    request: VerificationRequest,
    *,
    manufacturer: str,
    chain_id: int,
    contract: str,
    now: Callable[[], float] = time.time,
) -> VerificationAnswer:
    """The answer if the pack's manufacturer (as the chain names it) signed it, about this pack and this request,
    lately; `IntegrityError` (a forged or replayed answer) otherwise."""
    signer = signed.signer(chain_id, contract)
    if signer != manufacturer:
        raise IntegrityError(f"the answer is signed by {signer}, not by the pack's manufacturer {manufacturer}")
    answer = signed.request
    if answer.pack_key != request.pack_key or answer.request != request.request_id:
        raise IntegrityError("the answer is about another pack or another request")
    if abs(answer.at - now()) > FRESH:
        raise IntegrityError("the answer's time is not now: an old answer is not believed")
    return answer


# Posts a signed request to a node's endpoint, the node's answer back (`careledger.client` over HTTP).
Post = Callable[[str, dict[str, Any]], Any]
TIMEOUT = 30.0  # seconds a manufacturer's node has to answer


def _post(endpoint: str, body: dict[str, Any]) -> Any:
    from careledger.client import FhirClient  # httpx: imported when a request is sent

    with FhirClient(endpoint, timeout=TIMEOUT) as client:
        return client.verification(body)


class Suspects:
    """Asking manufacturers to verify suspect packs, and answering such requests as a manufacturer."""

    def __init__(
        self,
        commissioned: Callable[[Pack], Commissioned | None],
        spend: Callable[[str, int, int], None],
        audit: AuditLog,
        supply_chain: Callable[[], SupplyChain],
        identity: Callable[[], IdentityRegistry],
        *,
        here: str,
        chain_id: int,
        account: Callable[[], LocalAccount],
        post: Post = _post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`commissioned(pack)`: what this node's own commissioning event of the pack says (None: it has none);
        `spend(signer, nonce, deadline)`: a request's nonce used once while fresh (`Unauthenticated` otherwise)."""
        self._commissioned = commissioned
        self._spend = spend
        self._audit = audit
        self._supply_chain = supply_chain
        self._identity = identity
        self._here = here
        self._chain_id = chain_id
        self._account = account
        self._post = post
        self._clock = clock

    def ask(self, pack: Pack, *, by: str) -> VerificationAnswer:
        """Ask the manufacturer that commissioned `pack` (as the chain says) to verify it; its answer, believed
        only if it signed it (`IntegrityError` otherwise). Audited."""
        facade = self._supply_chain()
        manufacturer = facade.status(pack_key(pack.gtin, pack.serial)).manufacturer
        if manufacturer is None:
            raise NotFound(
                f"no manufacturer commissioned serial {pack.serial} of GTIN {pack.gtin} on chain: none can verify it"
                " (treat it as counterfeit)"
            )
        endpoint = node_endpoint(self._identity(), manufacturer)
        if endpoint is None:
            raise NotFound(f"the manufacturer {manufacturer} has no node endpoint on chain to ask")
        request = VerificationRequest.new(self._here, manufacturer, pack)
        signed = request.sign(self._account(), self._chain_id, facade.address)
        try:
            body = self._post(endpoint, signed.to_json())
        except CareLedgerError as exc:
            raise self._unanswered(pack, manufacturer, exc, by) from None
        try:
            answer = believed(
                SignedVerificationAnswer.from_json(body),
                request,
                manufacturer=manufacturer,
                chain_id=self._chain_id,
                contract=facade.address,
                now=self._clock,
            )
        except (IntegrityError, ValidationError) as exc:
            self._record(by, Outcome.DENIED, f"{pack.epc}: the answer of {manufacturer} is refused: {exc}")
            raise IntegrityError(f"the answer to the verification request is refused: {exc}") from None
        said = "verified" if answer.verified else "not verified"
        self._record(by, Outcome.SUCCESS, f"{pack.epc}: {said} by {manufacturer}: {answer.reason}")
        return answer

    def _unanswered(self, pack: Pack, manufacturer: str, exc: CareLedgerError, by: str) -> CareLedgerError:
        """The error to raise, audited, when the manufacturer's node did not answer (`NodeUnreachable`: silent, or
        failing) or refused the request (`IntegrityError`): never its 401 or 403 as if it were this caller's own."""
        said = str(exc)[:SHOWN]
        if http_status(exc)[0] >= 500:  # silent (NodeUnreachable, 502), or failing
            error: CareLedgerError = NodeUnreachable(f"the manufacturer's node did not answer: {said}")
        else:
            error = IntegrityError(f"the manufacturer's node refused: {said}")
        self._record(by, Outcome.DENIED, f"{pack.epc}: {manufacturer}: {error}")
        return error

    def answer(self, body: object) -> dict[str, Any]:
        """A manufacturer's signed answer to another node's signed request (JSON in, JSON out): from its own
        commissioning events. `ValidationError` for a malformed request or one to another node, `Unauthenticated`
        for a forged, expired or replayed one, `AccessDenied` from an asker who may not ask (module docstring).
        Audited under who signed it."""
        contract = self._supply_chain().address
        try:
            signed = SignedVerificationRequest.from_json(body)
            signer = signed.signer(self._chain_id, contract)
        except (ValidationError, InvalidSignature) as exc:
            self._record(ANONYMOUS, Outcome.DENIED, f"a malformed verification request ({type(exc).__name__})")
            raise
        request: VerificationRequest = signed.request
        if signer != request.asker:
            self._record(signer, Outcome.DENIED, "a verification request not signed by its asker")
            raise InvalidSignature("the verification request is not signed by its asker")
        if request.manufacturer != self._here:
            self._record(signer, Outcome.DENIED, "a verification request addressed to another node")
            raise ValidationError(f"manufacturer: the request is addressed to {request.manufacturer}, not this node")
        pack = request.scanned
        refused = self._may_not_ask(signer, request.pack_key)
        if refused is not None:
            self._record(signer, Outcome.DENIED, f"{pack.epc}: {refused}")
            raise AccessDenied(f"{signer} {refused}: only trading partners and regulators may ask")
        self._spend(signer, request.nonce, request.deadline)
        answer = answer_for(request, self._commissioned(pack), int(self._clock()))
        self._record(signer, Outcome.SUCCESS, f"{pack.epc}: answered {answer.verified}: {answer.reason}")
        return answer.sign(self._account(), self._chain_id, contract).to_json()

    def _may_not_ask(self, asker: str, key: bytes) -> str | None:
        """Why `asker` may not ask about pack `key` (None: it may): an active organisation's node holding or
        receiving the pack as the chain says, or a regulator."""
        actor = self._identity().actor(asker)
        if actor is None or not actor.active:
            return "is no party registered on chain"
        if actor.role not in ORGANISATIONS:
            return f"is registered as a {actor.role.label}, not an organisation's node"
        facade = self._supply_chain()
        status = facade.status(key)
        if asker in (status.holder, status.receiver) or facade.is_regulator(asker):
            return None
        return "neither holds nor receives this pack, as the chain says"

    def _record(self, agent: str, outcome: Outcome, detail: str) -> None:
        self._audit.record(Access(Action.EXECUTE, "supply.verification", outcome, agent, detail=detail))
