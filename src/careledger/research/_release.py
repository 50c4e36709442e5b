"""A de-identified release of a study's patients: Safe Harbor per record, then k-anonymity over the population.

After every record is de-identified (`_deidentify`), what could still single someone out
is suppressed, and the report says what:

1. **Small classes.** Patients are grouped by their quasi-identifiers (age band, sex,
   three-digit ZIP). In a class smaller than `k`, the ZIP digits are removed first; a
   patient whose class is still smaller than `k` is left out of the release entirely.
2. **Rare codes.** A Condition whose code fewer than `k` of the released patients have is
   dropped (a rare diagnosis names its patient as well as a name does).

Nothing here reads or writes storage: records in, a release out.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from careledger.records import Resource
from careledger.research._deidentify import Deidentifier, QuasiIdentifiers

DEFAULT_K = 5
_PATIENT_LINKS = ("subject", "patient")
_Released = tuple[str, Resource]  # the custodian's reference of a record, and its de-identified form


@dataclass
class ReleaseReport:
    """What a release holds and what it left out, in counts and codes (never an identifier)."""

    k: int
    patients: int = 0
    records: int = 0
    dropped_types: Counter[str] = field(default_factory=Counter)  # resources of types never released
    unlinked: int = 0  # records that name no patient of the release
    rare_codes: list[str] = field(default_factory=list)  # "system|code" of Conditions suppressed as rare
    rare_records: int = 0
    zip_generalized: int = 0  # patients whose three ZIP digits were removed
    patients_suppressed: int = 0  # patients left out: their class stayed smaller than k
    records_suppressed: int = 0

    def as_json(self) -> dict[str, object]:
        """The report as JSON, for the researcher and the patients' accounting."""
        return {
            "k": self.k,
            "patients": self.patients,
            "records": self.records,
            "dropped_types": dict(sorted(self.dropped_types.items())),
            "unlinked_records": self.unlinked,
            "rare_codes_suppressed": sorted(self.rare_codes),
            "rare_records_suppressed": self.rare_records,
            "zip_generalized": self.zip_generalized,
            "patients_suppressed": self.patients_suppressed,
            "records_suppressed": self.records_suppressed,
        }


@dataclass(frozen=True, slots=True)
class Release:
    """The de-identified records (each patient's Patient first), the report of what was left out, the ids of the
    Patient records released, and for each of those patients the references of her records the dataset holds,
    her Patient first (the custodian's own ids, never in the dataset: they say whom the study rewards, and what
    of hers her accounting lists as released)."""

    records: tuple[Resource, ...]
    report: ReleaseReport
    patient_ids: tuple[str, ...] = ()
    sources: tuple[tuple[str, ...], ...] = ()

    def lines(self) -> list[bytes]:
        """The release as NDJSON lines, one resource each (the leaves of its Merkle root)."""
        return [json.dumps(r, separators=(",", ":"), sort_keys=True).encode() + b"\n" for r in self.records]

    def ndjson(self) -> bytes:
        """The release as NDJSON, one resource a line."""
        return b"".join(self.lines())


def release(resources: Iterable[Resource], study_key: bytes, *, today: date, k: int = DEFAULT_K) -> Release:
    """De-identify `resources` (Patients and their records, in any order) for one study and make it k-anonymous."""
    if k < 2:
        raise ValueError("k-anonymity needs k >= 2")
    deid = Deidentifier(study_key, today=today)
    report = ReleaseReport(k)
    patients: dict[str, tuple[Resource, QuasiIdentifiers]] = {}
    own: dict[str, str] = {}  # a Patient's id: her reference on this node
    pending: list[tuple[str, Resource]] = []
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            patients[str(resource.get("id"))] = deid.patient(resource)
            own[str(resource.get("id"))] = _source(resource)
        else:
            pending.append((_patient_of(resource), resource))
    records: dict[str, list[_Released]] = defaultdict(list)
    for patient_id, resource in pending:
        if patient_id not in patients:
            report.unlinked += 1
            continue
        released = deid.record(resource, patient_id)
        if released is None:
            report.dropped_types[str(resource.get("resourceType"))] += 1
        else:
            records[patient_id].append((_source(resource), released))
    kept = _suppress_small_classes(patients, records, report)
    _suppress_rare_codes({patient_id: records[patient_id] for patient_id in kept}, records, report)
    out: list[Resource] = []
    for patient_id in kept:
        out.append(patients[patient_id][0])
        out.extend(record for _, record in records[patient_id])
    report.patients = len(kept)
    report.records = len(out)
    sources = tuple((own[p], *(source for source, _ in records[p])) for p in kept)
    return Release(tuple(out), report, tuple(kept), sources)


def _source(resource: Resource) -> str:
    """A record's reference on this node, with its version when it has one (as the audit names versions)."""
    reference = f"{resource.get('resourceType')}/{resource.get('id')}"
    version = resource.get("meta", {}).get("versionId")
    return f"{reference}/_history/{version}" if version else reference


def _patient_of(resource: Resource) -> str:
    for name in _PATIENT_LINKS:
        reference = resource.get(name)
        if isinstance(reference, dict) and str(reference.get("reference", "")).startswith("Patient/"):
            return str(reference["reference"]).removeprefix("Patient/")
    return ""


def _condition_codes(record: Resource) -> set[str]:
    if record.get("resourceType") != "Condition":
        return set()
    return {f"{c.get('system', '')}|{c['code']}" for c in record.get("code", {}).get("coding", [])}


def _suppress_rare_codes(
    released: dict[str, list[_Released]], records: dict[str, list[_Released]], report: ReleaseReport
) -> None:
    """Drop the Conditions whose code fewer than k of the `released` patients have."""
    holders: Counter[str] = Counter()
    for patient_records in released.values():
        holders.update({code for _, r in patient_records for code in _condition_codes(r)})
    rare = {code for code, count in holders.items() if count < report.k}
    report.rare_codes = sorted(rare)
    for patient_id, patient_records in released.items():
        kept = [(source, r) for source, r in patient_records if not _condition_codes(r) & rare]
        report.rare_records += len(patient_records) - len(kept)
        records[patient_id] = kept


def _suppress_small_classes(
    patients: dict[str, tuple[Resource, QuasiIdentifiers]], records: dict[str, list[_Released]], report: ReleaseReport
) -> list[str]:
    """The patients kept, in order; ZIPs removed where their class is small, patients removed where it stays so."""
    classes = Counter(q for _, q in patients.values())
    for patient_id, (released, quasi) in list(patients.items()):
        if classes[quasi] < report.k and quasi.zip3 is not None:
            for address in released.get("address", []):
                address.pop("postalCode", None)
            patients[patient_id] = (released, QuasiIdentifiers(quasi.age_band, quasi.sex, None))
            report.zip_generalized += 1
    classes = Counter(q for _, q in patients.values())
    kept = []
    for patient_id, (_released, quasi) in patients.items():
        if classes[quasi] < report.k:
            report.patients_suppressed += 1
            report.records_suppressed += 1 + len(records.get(patient_id, []))
        else:
            kept.append(patient_id)
    return kept
