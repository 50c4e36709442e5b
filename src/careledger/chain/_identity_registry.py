"""Facade of IdentityRegistry.vy: actors, their encryption keys, and credentials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_utils import keccak, to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.crypto import PublicKey, Suite
from careledger.errors import NotFound, ValidationError


class Role(IntEnum):
    """Actor roles (the role constants of IdentityRegistry.vy)."""

    ORG = 1
    PRACTITIONER = 2
    PATIENT = 3
    DEVICE = 4
    INSURER = 5
    PHARMACY = 6
    LAB = 7
    RESEARCHER = 8
    REGULATOR = 9

    @classmethod
    def parse(cls, name: str) -> Role:
        """A role from its name (`practitioner`); `ValidationError` naming the known ones."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(r.label for r in cls)
            raise ValidationError(f"unknown role {name!r} (choose {choices})") from None

    @property
    def label(self) -> str:
        """The role's name as people write it."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class ActorRecord:
    """An actor as the registry holds it."""

    address: str
    role: Role
    encryption_key: PublicKey
    key_version: int
    endpoint: str
    metadata_hash: bytes
    active: bool
    registered_at: int


@dataclass(frozen=True, slots=True)
class Credential:
    """One attested credential; `credential_type` is the keccak of its name."""

    credential_id: int
    subject: str
    credential_type: bytes
    issuer: str
    expires_at: int
    revocable: bool
    revoked: bool


def credential_type_id(name: str) -> bytes:
    """The on-chain id of a credential type: keccak256 of its name (`medical-licence`)."""
    if not name.strip():
        raise ValidationError("a credential type needs a name")
    return keccak(name.strip().lower().encode())


class IdentityRegistry(ContractFacade):
    """Who is who: registration, keys, deactivation, credentials."""

    contract_name = "IdentityRegistry"

    def register(self, role: Role, key: PublicKey, endpoint: str = "", metadata_hash: bytes = bytes(32)) -> None:
        """Register the signer itself."""
        self._transact(self._request("register", int(role), key.raw, int(key.suite), endpoint, metadata_hash))

    def register_actor(
        self, actor: str, role: Role, key: PublicKey, endpoint: str = "", metadata_hash: bytes = bytes(32)
    ) -> None:
        """Register `actor` on its behalf; the signer needs REGISTRAR_ROLE."""
        address = to_checksum_address(actor)
        self._transact(
            self._request("register_actor", address, int(role), key.raw, int(key.suite), endpoint, metadata_hash)
        )

    def register_custodial(self, patients: Sequence[tuple[str, PublicKey]]) -> None:
        """Register patients whose keys the signer (their custodian node, with REGISTRAR_ROLE) holds.

        Sent as one pipeline of transactions: many at once cost about one round trip.
        """
        requests = [
            self._request("register_custodial", to_checksum_address(actor), key.raw, int(key.suite), bytes(32))
            for actor, key in patients
        ]
        if requests:
            self._send_many(requests)

    def custodian_of(self, actor: str) -> str | None:
        """The node that holds `actor`'s key, if she is a custodial patient."""
        return _address_or_none(self._call("custodian_of", to_checksum_address(actor)))

    def registrar_of(self, actor: str) -> str | None:
        """Who registered `actor` on its behalf (a patient's custodian node); None if it registered itself or is
        unknown. Kept by the contract: one call, no scan of its events."""
        return _address_or_none(self._call("registrar_of", to_checksum_address(actor)))

    def claim_custodial(self, actor: str, owner: str, key: PublicKey) -> None:
        """Hand custodial `actor` to the wallet `owner` with encryption key `key`; the signer is its custodian."""
        request = self._request(
            "claim_custodial", to_checksum_address(actor), to_checksum_address(owner), key.raw, int(key.suite)
        )
        self._transact(request)

    def claimed_by(self, actor: str) -> str | None:
        """The wallet that claimed custodial `actor` and acts for it now, if any."""
        return _address_or_none(self._call("claimed_by", to_checksum_address(actor)))

    def identity_of(self, wallet: str) -> str | None:
        """The claimed identity `wallet` acts for, if any."""
        return _address_or_none(self._call("identity_of", to_checksum_address(wallet)))

    def rotate_owner(self, actor: str, new_owner: str) -> None:
        """Hand claimed `actor` to another wallet; the signer is the wallet that holds it now."""
        self._transact(self._request("rotate_owner", to_checksum_address(actor), to_checksum_address(new_owner)))

    def rotate_key_of(self, actor: str, key: PublicKey) -> None:
        """Replace claimed `actor`'s encryption key; the signer is its owner."""
        self._transact(self._request("rotate_key_of", to_checksum_address(actor), key.raw, int(key.suite)))

    def set_guardians(self, actor: str, guardians: Sequence[str], threshold: int) -> None:
        """Name `actor`'s guardians, `threshold` of whom may hand it to a new wallet; the signer is its owner."""
        addresses = [to_checksum_address(g) for g in guardians]
        self._transact(self._request("set_guardians", to_checksum_address(actor), addresses, threshold))

    def guardians_of(self, actor: str) -> tuple[list[str], int]:
        """`actor`'s guardians and how many of them must agree."""
        checksum = to_checksum_address(actor)
        return [str(g) for g in self._call("guardians_of", checksum)], int(self._call("recovery_threshold", checksum))

    def approve_recovery(self, actor: str, new_owner: str) -> int:
        """One guardian's (the signer's) approval; how many approvals there are now."""
        request = self._request("approve_recovery", to_checksum_address(actor), to_checksum_address(new_owner))
        (event,) = self.events_in(self._transact(request), "RecoveryApproved")
        return int(event.args["approvals"])

    def rotate_key(self, key: PublicKey) -> None:
        """Replace the signer's own encryption key."""
        self._transact(self._request("rotate_key", key.raw, int(key.suite)))

    def update(self, endpoint: str, metadata_hash: bytes = bytes(32)) -> None:
        """Change the signer's endpoint and metadata hash."""
        self._transact(self._request("update", endpoint, metadata_hash))

    def deactivate(self, actor: str) -> None:
        """Deactivate `actor` (itself, or a registrar)."""
        self._transact(self._request("deactivate", to_checksum_address(actor)))

    def actor(self, address: str) -> ActorRecord | None:
        """The registration of `address`, or None if it never registered."""
        checksum = to_checksum_address(address)
        role, key, suite, version, endpoint, metadata_hash, active, registered_at = self._call("actor", checksum)
        if role == 0:
            return None
        return ActorRecord(
            address=checksum,
            role=Role(role),
            encryption_key=PublicKey(Suite(suite), bytes(key)),
            key_version=int(version),
            endpoint=str(endpoint),
            metadata_hash=bytes(metadata_hash),
            active=bool(active),
            registered_at=int(registered_at),
        )

    def require_actor(self, address: str) -> ActorRecord:
        """The registration of `address`; `NotFound` if it never registered."""
        record = self.actor(address)
        if record is None:
            raise NotFound(f"{address} is not registered in the IdentityRegistry")
        return record

    def attest(self, subject: str, credential_type: str, expires_at: int, *, revocable: bool = True) -> Credential:
        """Attest a credential; the signer needs ISSUER_ROLE."""
        request = self._request(
            "attest", to_checksum_address(subject), credential_type_id(credential_type), expires_at, revocable
        )
        (event,) = self.events_in(self._transact(request), "CredentialAttested")
        return self.credential(int(event.args["credential_id"]))

    def revoke_credential(self, credential_id: int) -> None:
        """Revoke a revocable credential (its issuer, or an admin)."""
        self._transact(self._request("revoke_credential", credential_id))

    def credential(self, credential_id: int) -> Credential:
        """A credential by its id; `NotFound` if there is none."""
        subject, type_id, issuer, expires_at, revocable, revoked = self._call("credentials", credential_id)
        if int(subject, 16) == 0:
            raise NotFound(f"no credential {credential_id}")
        return Credential(
            credential_id, str(subject), bytes(type_id), str(issuer), int(expires_at), bool(revocable), bool(revoked)
        )

    def credentials_of(self, subject: str) -> list[Credential]:
        """Every credential ever attested to `subject`, oldest first."""
        logs = self.contract.events.CredentialAttested().get_logs(
            argument_filters={"subject": to_checksum_address(subject)}, from_block=0
        )
        return [self.credential(int(log["args"]["credential_id"])) for log in logs]

    def latest_credential(self, subject: str, credential_type: str) -> Credential | None:
        """The newest credential of this type attested to `subject` (the one `has_valid_credential` judges): who
        issued it tells whose word the chain's verdict stands on. None if none was ever attested."""
        credential_id = int(
            self._call("latest_credential", to_checksum_address(subject), credential_type_id(credential_type))
        )
        return self.credential(credential_id) if credential_id else None

    def valid_credential_from(self, subject: str, credential_type: str, issuer: str) -> bool:
        """Whether `subject`'s newest credential of this type is one `issuer` attested and the chain holds valid
        (`has_valid_credential`): what makes her an officer of `issuer`'s node, which another issuer's word does not."""
        newest = self.latest_credential(subject, credential_type)
        if newest is None or newest.issuer.lower() != issuer.lower():
            return False
        return self.has_valid_credential(subject, credential_type)

    def key_rotations(self, first_block: int, last_block: int) -> list[tuple[str, int, int]]:
        """(actor, key version, block) of each encryption key set in blocks `first_block` to `last_block`: a
        rotation, a custodial identity's claim, a recovery's new key."""
        logs = self.contract.events.KeyRotated().get_logs(from_block=first_block, to_block=last_block)
        return [(str(log["args"]["actor"]), int(log["args"]["key_version"]), int(log["blockNumber"])) for log in logs]

    def actors(self) -> list[ActorRecord]:
        """Every active actor, in the order they registered."""
        logs = self.contract.events.ActorRegistered().get_logs(from_block=0)
        actors = (self.actor(str(log["args"]["actor"])) for log in logs)
        return [a for a in actors if a is not None and a.active]

    def nodes(self) -> list[ActorRecord]:
        """Every active actor with a node endpoint: the custodians a patient's agent may ask.

        Only actors whose events gave them an endpoint (at registration, or by `update` since)
        are read, not every patient and device of the network, one call each.
        """
        endpoints: dict[str, str] = {}  # in the order actors registered: an update comes after its registration
        for kind in (self.contract.events.ActorRegistered, self.contract.events.ActorUpdated):
            for log in kind().get_logs(from_block=0):
                endpoints[str(log["args"]["actor"])] = str(log["args"]["endpoint"])
        actors = (self.actor(address) for address, endpoint in endpoints.items() if endpoint)
        return [a for a in actors if a is not None and a.active and a.endpoint]

    def has_valid_credential(self, subject: str, credential_type: str) -> bool:
        """Whether `subject`'s newest credential of this type is valid now."""
        return bool(
            self._call("has_valid_credential", to_checksum_address(subject), credential_type_id(credential_type))
        )

    def is_role_holder(self, role: str, address: str) -> bool:
        """Whether `address` holds the contract role `REGISTRAR_ROLE` or `ISSUER_ROLE`."""
        return bool(self._call("hasRole", self._call(role), to_checksum_address(address)))

    def grant_role(self, role: str, address: str) -> None:
        """Give `address` the contract role `REGISTRAR_ROLE` or `ISSUER_ROLE`; the signer administers the registry."""
        self._transact(self._request("grantRole", self._call(role), to_checksum_address(address)))


def _address_or_none(value: object) -> str | None:
    address = str(value)
    return None if int(address, 16) == 0 else address
