"""The patient's MedicationDispense of one serialised pack, as a dispense writes it and a recall notice reads it.

Where FHIR R4 puts the pack's identifiers (all valid R4, no profile needed):
- the medicine: `medicationCodeableConcept.coding` {system `https://www.gs1.org/gtin`, code: the GTIN};
- the pack: `identifier` {system `urn:ietf:rfc:3986`, value: its GS1 Digital Link URI (GTIN and serial)}, the
  dispense's business identifier, since a pack is dispensed once;
- lot and expiry: R4's MedicationDispense has no element for them (they are `Medication.batch`'s, which a
  CodeableConcept medication has not), so two extensions of ours: `…/pack-lot` (valueString) and `…/pack-expiry`
  (valueDate).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from careledger.access import wallet_reference
from careledger.fhir import fhir_instant
from careledger.records import Resource
from careledger.supplychain._gs1 import Pack

GTIN_SYSTEM = "https://www.gs1.org/gtin"
URI_SYSTEM = "urn:ietf:rfc:3986"
LOT_EXTENSION = "https://careledger.org/fhir/StructureDefinition/pack-lot"
EXPIRY_EXTENSION = "https://careledger.org/fhir/StructureDefinition/pack-expiry"


def medication_dispense(
    pack: Pack, *, patient_id: str, performer: str, organization: bool, chain_id: int, handed_over: datetime
) -> Resource:
    """A completed MedicationDispense of one pack to Patient `patient_id`, handed over by `performer` (a
    pharmacist's wallet, or the node's own: `organization`)."""
    kind = "Organization" if organization else "Practitioner"
    extensions: list[dict[str, Any]] = []
    if pack.lot is not None:
        extensions.append({"url": LOT_EXTENSION, "valueString": pack.lot})
    if pack.expiry is not None:
        extensions.append({"url": EXPIRY_EXTENSION, "valueDate": pack.expiry.isoformat()})
    dispense: Resource = {
        "resourceType": "MedicationDispense",
        "id": str(uuid.uuid4()),
        "identifier": [{"system": URI_SYSTEM, "value": pack.epc}],
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": GTIN_SYSTEM, "code": pack.gtin}],
            "text": f"GTIN {pack.gtin}",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "performer": [{"actor": wallet_reference(kind, performer, chain_id)}],
        "quantity": {"value": 1, "unit": "pack"},
        "whenHandedOver": fhir_instant(handed_over),
    }
    if extensions:
        dispense["extension"] = extensions
    return dispense


@dataclass(frozen=True, slots=True)
class DispenseRecord:
    """What a MedicationDispense this node wrote says: its id, the patient's id, the pack's EPC, GTIN and lot, and
    when it was handed over."""

    record_id: str
    patient_id: str
    epc: str | None
    gtin: str
    lot: str | None
    handed_over: str | None


def read_dispense(dispense: Resource) -> DispenseRecord:
    """A MedicationDispense written by `medication_dispense`, read back."""
    codings = dispense.get("medicationCodeableConcept", {}).get("coding", [])
    gtin = next((str(c.get("code")) for c in codings if c.get("system") == GTIN_SYSTEM), "unknown")
    lot = next((str(e["valueString"]) for e in dispense.get("extension", []) if e.get("url") == LOT_EXTENSION), None)
    epc = next((str(i["value"]) for i in dispense.get("identifier", []) if i.get("system") == URI_SYSTEM), None)
    patient = str(dispense.get("subject", {}).get("reference", "")).removeprefix("Patient/")
    handed = dispense.get("whenHandedOver")
    return DispenseRecord(str(dispense["id"]), patient, epc, gtin, lot, None if handed is None else str(handed))
