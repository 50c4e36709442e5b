"""Device identities and their bindings to patients.

A device is an actor like any other: its own secp256k1 key (a keystore here, exportable to
the device), the DEVICE role in the IdentityRegistry, and a FHIR `Device` record (the
node's own resource). It is bound to a patient by her consent, on chain: a grant to the
device's address for `vitals` and TREAT, which she can revoke from any wallet. The node
takes a device's readings only while that grant lives, so unbinding (or her revoking)
stops them at once, and the guarded repository checks the same grant when it stores them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address
from sqlalchemy import select, update

from careledger.access import Accessor, RecordAccess
from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.consent import ConsentService, Grant, Purpose
from careledger.crypto import PrivateKey, PublicKey, Suite
from careledger.errors import Conflict, NotFound, ValidationError
from careledger.fhir import URI
from careledger.identity import IdentityService, WalletStore, did_pkh
from careledger.records import Category
from careledger.store import Database, Device

BINDING_CATEGORIES = (Category.VITALS,)
BINDING_PURPOSE = Purpose.TREAT


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A registered device, as `device list` shows it."""

    name: str
    address: str
    kind: str
    device_record: str
    patient: str | None
    patient_record: str | None
    grant_id: str | None
    last_sequence: int


class DeviceDirectory:
    """The devices registered here and their bindings, from the database alone: listing them needs no chain."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, device: str) -> DeviceInfo:
        """A device by name or address; `NotFound` if this node did not register it."""
        found = self.find(device)
        if found is None:
            raise NotFound(f"no device {device} is registered on this node: `careledger device register` first")
        return found

    def find(self, device: str) -> DeviceInfo | None:
        """A device by name or address, if this node registered it."""
        with self.db.session() as session:
            row = session.scalars(select(Device).where((Device.name == device) | (Device.address == device))).first()
            return None if row is None else _info(row)

    def all(self) -> list[DeviceInfo]:
        """Every device registered here, by name."""
        with self.db.session() as session:
            return [_info(row) for row in session.scalars(select(Device).order_by(Device.name))]

    def set_binding(self, address: str, patient: str | None, patient_record: str | None, grant_id: str | None) -> None:
        """Record (or, with Nones, clear) whom the device's readings belong to; the intake reads it per batch."""
        with self.db.session() as session:
            session.execute(
                update(Device)
                .where(Device.address == address)
                .values(patient=patient, patient_record=patient_record, grant_id=grant_id)
            )


class DeviceService:
    """Registers devices and binds them to patients; the intake asks it whether a binding consent is live."""

    def __init__(
        self,
        directory: DeviceDirectory,
        wallets: WalletStore,
        identity: IdentityService,
        consent: ConsentService,
        access: RecordAccess,
        *,
        custodian: str,
        chain_id: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self._wallets = wallets
        self._identity = identity
        self._consent = consent
        self._access = access
        self._custodian = custodian
        self._chain_id = chain_id
        self._clock = clock

    def register(
        self, name: str, passphrase: str | None = None, *, address: str | None = None, kind: str = "wearable"
    ) -> DeviceInfo:
        """A new device with the DEVICE role on chain and a FHIR Device record: with a wallet made here
        (under `passphrase`), or, given the `address` of a key the device keeps itself, registered by the node.

        A device is sent no data, so one that keeps its own key is registered with an encryption
        key nobody holds (made here, its private half never kept).
        """
        if (passphrase is None) == (address is None):
            raise ValidationError("a device gets a wallet here (a passphrase) or brings its own key (an address)")
        if self.directory.find(name) is not None:
            raise Conflict(f"a device named {name} is registered already")
        if address is None:
            assert passphrase is not None
            address = self._wallets.create(name, Role.DEVICE, passphrase).address
            self._identity.register(name)
        else:
            if not is_address(address):
                raise ValidationError(f"{address!r} is not an Ethereum address")
            if self._wallets.find(name) is not None:
                raise Conflict(f"{name} names a wallet of this node; choose another name for the device")
            address = str(to_checksum_address(address))
            self._identity.register_for(NODE_WALLET, address, Role.DEVICE, nobodys_key())
        record_id = f"device-{address[2:].lower()}"
        door = self._access.for_caller(Accessor(self._custodian, BINDING_PURPOSE))
        door.write(self._device_resource(record_id, address, name, kind))
        with self.directory.db.session() as session:
            session.add(
                Device(
                    address=address,
                    name=name,
                    kind=kind,
                    device_record=record_id,
                    last_sequence=0,
                    registered_at=self._clock(),
                )
            )
        return self.directory.get(name)

    def _device_resource(self, record_id: str, address: str, name: str, kind: str) -> dict[str, object]:
        return {
            "resourceType": "Device",
            "id": record_id,
            "identifier": [{"system": URI, "value": did_pkh(self._chain_id, address)}],
            "status": "active",
            "deviceName": [{"name": name, "type": "user-friendly-name"}],
            "type": {"text": kind},
        }

    def bind(self, device: str, grant: Grant) -> DeviceInfo:
        """Bind `device` to the patient who granted it `grant` (vitals, TREAT): her readings from now on."""
        info = self.directory.get(device)
        if grant.grantee != info.address:
            raise ValidationError(f"consent {grant.hex_id} is granted to {grant.grantee}, not to {info.name}")
        if not grant.live_at(self._clock()) or not all(grant.covers(c, BINDING_PURPOSE) for c in BINDING_CATEGORIES):
            raise ValidationError(
                f"consent {grant.hex_id} must be live and name vitals for TREAT to bind a device: grant a new one"
            )
        self.directory.set_binding(info.address, grant.patient, self._patient_record(grant.patient), grant.hex_id)
        return self.directory.get(device)

    def unbind(self, device: str) -> tuple[DeviceInfo, str | None]:
        """Forget the device's patient now (its readings are refused from here on); the binding's consent id,
        for the caller to revoke on chain."""
        info = self.directory.get(device)
        self.directory.set_binding(info.address, None, None, None)
        return self.directory.get(device), info.grant_id

    def _patient_record(self, patient: str) -> str:
        door = self._access.for_caller(Accessor(self._custodian, BINDING_PURPOSE))
        patients = door.listing(patient_address=patient, resource_type="Patient")
        if not patients:
            raise NotFound(f"{patient} has no Patient record on this node: a device's readings need one to belong to")
        return patients[0].record_id

    def consent_live(self, patient: str, device: str) -> bool:
        """Whether the patient's binding consent to the device is in force (as the node's consent index knows)."""
        return all(self._consent.check(patient, device, c, BINDING_PURPOSE) is not None for c in BINDING_CATEGORIES)


def _info(row: Device) -> DeviceInfo:
    return DeviceInfo(
        name=row.name,
        address=row.address,
        kind=row.kind,
        device_record=row.device_record,
        patient=row.patient,
        patient_record=row.patient_record,
        grant_id=row.grant_id,
        last_sequence=row.last_sequence,
    )


def nobodys_key() -> PublicKey:
    """An X25519 public key whose private half is thrown away: what an actor that is sent no data registers."""
    return PrivateKey.generate(Suite.X25519).public_key
