"""The rows a write adds: a version's values with its salted commitment, its search tokens, and who owns it.

Pure functions over a session the record service holds open; the service decides the
order (blob first, then rows) and the transaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from careledger.crypto import RecordContext, SealedKey
from careledger.errors import UnheldPatient, ValidationError
from careledger.fhir import URI, in_patient_compartment, search_parameters
from careledger.records._blind_index import BlindIndex
from careledger.records._categories import Category
from careledger.records._commitment import commitment
from careledger.records._fhir import (
    PatientsNamed,
    Resource,
    foreign_accounts,
    local_reference,
    patients_named,
    wallet_identifier,
)
from careledger.records._stored import COLUMNS, STORED_COLUMNS, StoredRecord
from careledger.records._tokens import blind_terms, tokens
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS, AnchorBatch

# What a resource is about besides the Patients its compartment names: the records a Provenance is the history of,
# the Appointment an AppointmentResponse answers. FHIR's compartment files a Provenance under a patient only when a
# target is her Patient resource itself, and a practitioner's answer (its actor is the practitioner) under none.
_ABOUT_RECORDS = {"Provenance": "target", "AppointmentResponse": "appointment"}


def records_about(resource: Resource) -> list[tuple[str, str]]:
    """The records of this node's (type, id) a resource is about, whose owner is its owner too: a Provenance's
    targets written as local references (who did what to her records is hers, not the node's to show every
    signed-in actor). A target on another server (an absolute URL) is none of this node's records."""
    code = _ABOUT_RECORDS.get(str(resource["resourceType"]))
    if code is None:
        return []
    param = search_parameters(str(resource["resourceType"]))[code]
    return [local for found in param.values(resource) if (local := local_reference(found.value)) is not None]


def owner_of(
    data: Resource, current: StoredRecord | None, given: str | None, known: dict[str, StoredRecord], custodian: str
) -> tuple[str | None, str]:
    """The FHIR Patient id and the patient's address a resource belongs to (about no patient: the node's).

    An instance is in the compartment of the Patients its type's compartment parameters name, every
    reference of a list-valued element read: one Patient of this node's makes it hers, none the node's
    own (a Schedule, a Slot, an Appointment of practitioners alone), several a `ValidationError`.
    `given`, the owner a record fetched from another node (or written in a patient's context) was
    bound to, stands where the resource names nobody this node holds.
    """
    if data["resourceType"] == "Patient":
        return _patients_own(data, current, given)
    if not in_patient_compartment(data["resourceType"]):
        return None, custodian
    named = patients_named(data)
    if len(named.ids) > 1:
        listed = ", ".join(f"Patient/{patient_id} ({param})" for patient_id, param in named.ids.items())
        raise ValidationError(
            f"{data['resourceType']} names {len(named.ids)} different patients: {listed}; a record is one"
            " patient's, so write one for each"
        )
    # Naming her by identifier or display alone, with no Patient of hers here besides, would make her record
    # the node's own, readable by every signed-in actor: refused, as a Patient it cannot file it under is.
    unfiled = named.elsewhere or (named.unsaid if not named.ids else [])
    if unfiled and given is None:
        raise ValidationError(
            f"{data['resourceType']} names a Patient this node cannot file it under: {unfiled[0]};"
            " refer to a Patient it holds as Patient/<id> (or, for anyone else, give the reference's type)"
        )
    about = _owner_of_records(data, named, known, custodian)
    if about is not None:
        if given is not None and given != about[1]:
            raise ValidationError(f"{data['resourceType']} is about the records of another patient than its own")
        return about
    patient_id = next(iter(named.ids), None)
    if patient_id is None:
        return None, custodian if given is None else given
    patient = known.get(patient_id)
    if patient is None and given is not None:
        # A record fetched from another node: its owner is bound into its commitment, and
        # the Patient resource itself stays with the custodian unless it was shared too.
        return patient_id, given
    if patient is None or patient.resource_type != "Patient":
        raise UnheldPatient(str(data["resourceType"]), patient_id)  # the door judges it as the writer's read
    if given is not None and given != patient.patient_address:
        raise ValidationError(f"Patient/{patient_id} belongs to {patient.patient_address}, not {given}")
    return patient_id, patient.patient_address


def _owner_of_records(
    data: Resource, named: PatientsNamed, known: dict[str, StoredRecord], custodian: str
) -> tuple[str | None, str] | None:
    """The patient (id, address) whose records `data` is about (`records_about`: a Provenance's targets), if they
    are this node's records of one patient; None if they are the node's own. A target this node does not hold is
    a `ValidationError` (filed as the node's own, its Provenance would be readable by every signed-in actor), and
    so are records of two patients, or of another than the Patient it names: a record is one patient's. No
    message names an owner: the guarded repository told the writer of no target she may not read
    (`access._about`), and what she may read she need not be told."""
    owners: dict[str, str | None] = {}
    for kind, record_id in records_about(data):
        stored = known.get(record_id)
        if stored is None or stored.resource_type != kind:
            raise ValidationError(f"{data['resourceType']} is about {kind}/{record_id}, which this node does not hold")
        if stored.patient_address != custodian:
            owners.setdefault(stored.patient_address, stored.patient_id)
    if not owners:
        return None
    for named_id in named.ids:
        patient = known.get(named_id)
        owners.setdefault(patient.patient_address if patient is not None else f"Patient/{named_id}", named_id)
    if len(owners) > 1:
        raise ValidationError(
            f"{data['resourceType']} is about the records of {len(owners)} different patients; a record is one"
            " patient's, so write one for each"
        )
    address, owner = next(iter(owners.items()))
    return owner, address


def _patients_own(data: Resource, current: StoredRecord | None, given: str | None) -> tuple[str, str]:
    """A Patient is its own: the wallet it was given, it had, or it names."""
    address = given or (current.patient_address if current else None) or wallet_identifier(data)
    if address is None:
        raise ValidationError(
            f"a Patient needs the patient's wallet: an identifier did:pkh:eip155:<chain id>:<address> (system {URI})"
        )
    foreign = foreign_accounts(data, address)
    if foreign:
        raise ValidationError(
            f"Patient/{data['id']} belongs to {address}: the only did:pkh it may carry is that wallet's,"
            f" not {foreign[0][:120]!r}"
        )
    return str(data["id"]), address


def one_of(column: ColumnElement[str], values: set[str]) -> ColumnElement[bool]:
    """`column IN values`, or `column = value` for one: an expanding IN is rendered anew on every
    execution (~0.1 ms in SQLAlchemy), a plain comparison is compiled once and cached."""
    if len(values) == 1:
        return column == next(iter(values))
    return column.in_(values)


def current_versions(
    session: Session | Connection, record_ids: set[str], read: Callable[[Mapping[Any, Any]], StoredRecord]
) -> dict[str, StoredRecord]:
    """The current version of each of these records that exists."""
    rows = session.execute(
        select(*STORED_COLUMNS).where(one_of(COLUMNS.record_id, record_ids), COLUMNS.is_current)
    ).mappings()
    return {row["record_id"]: read(row) for row in rows}


def version_row(
    resource_type: str,
    patient_id: str | None,
    context: RecordContext,
    now: datetime,
    *,
    cid: str | None,
    sealed_keys: Sequence[SealedKey] | None,
    author: str | None,
    index: BlindIndex,
) -> dict[str, Any]:
    """The values of one new version row, its salted commitment included."""
    salt = os.urandom(32)
    return {
        "record_id": context.record_id,
        "version": context.version,
        "resource_type": resource_type,
        "patient_id": patient_id,
        "patient_address": context.patient,
        "category": index.category_tag(context.record_id, context.version, Category(context.category)),
        "cid": cid,
        "sealed_keys": None if sealed_keys is None else json.dumps([key.to_bytes().hex() for key in sealed_keys]),
        "salt": salt,
        "commitment": commitment(
            salt=salt, cid=cid or "", patient=context.patient, resource_type=resource_type, version=context.version
        ),
        "last_updated": now,
        "deleted": sealed_keys is None,
        "is_current": True,
        "batch_id": None,
        "leaf_index": None,
        "proof": None,
        "author": author,
    }


def persist(
    session: Session,
    rows: Sequence[dict[str, Any]],
    current_data: dict[str, Resource],
    replaced: set[str],
    index: BlindIndex,
) -> None:
    """New versions (the last of each record current), and the search tokens of the current data.

    `replaced` are the records that had a current version when the writer looked: theirs is
    retired and their tokens dropped. A record created meanwhile by another writer makes
    the insert collide on (record_id, version), so skipping this for new records loses nothing.
    """
    if not rows:
        return
    last_version = {row["record_id"]: row["version"] for row in rows}
    for row in rows:
        row["is_current"] = row["version"] == last_version[row["record_id"]]
    if replaced:
        session.execute(
            update(RECORD_VERSIONS)
            .where(one_of(COLUMNS.record_id, replaced), COLUMNS.is_current)
            .values(is_current=False)
        )
        session.execute(delete(RECORD_TOKENS).where(one_of(RECORD_TOKENS.c.record_id, replaced)))
    session.execute(insert(RECORD_VERSIONS), rows)
    current = [row for row in rows if row["is_current"] and not row["deleted"]]
    terms = [
        term
        for row in current
        for term in token_rows(
            row["record_id"], row["resource_type"], row["patient_id"], current_data[row["record_id"]], index
        )
    ]
    if terms:
        session.execute(insert(RECORD_TOKENS), terms)


def token_rows(
    record_id: str, resource_type: str, patient_id: str | None, data: Resource, index: BlindIndex
) -> Iterator[dict[str, Any]]:
    """The `record_tokens` rows of one current version: its search tokens, as blind-index hashes."""
    for term in blind_terms(tokens(data), index):
        yield {"record_id": record_id, "resource_type": resource_type, "patient_id": patient_id, **term}


def proofs(connection: Connection, record_ids: set[str]) -> dict[tuple[str, int], Any]:
    """The anchored versions of these records: (record id, version) -> salt, commitment, proof and root."""
    rows = connection.execute(
        select(COLUMNS.record_id, COLUMNS.version, COLUMNS.salt, COLUMNS.commitment, COLUMNS.proof, AnchorBatch.root)
        .join(AnchorBatch, AnchorBatch.id == COLUMNS.batch_id)
        .where(one_of(COLUMNS.record_id, record_ids))
    ).all()
    return {(row.record_id, row.version): row for row in rows}
