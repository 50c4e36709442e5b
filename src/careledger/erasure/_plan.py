"""What an erasure will do, said before she confirms: what goes, what stays and why, which nodes are asked.

```
her records here (not erased yet) ─ scope ─► each: a legal hold? its category's retention rule? ─► kept (rule)
                                                                                            └─► erasable
her audit entries ─► share (to another node) ─► the nodes that fetched copies: asked to erase them
                  ├► export (bulk $export)   ─► whoever exported them: their export jobs here, removed
                  └► study-delivery          ─► released, de-identified, to a study: cannot be recalled
```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from careledger.audit import Entry
from careledger.erasure._rules import Hold, Retention, kept_by
from careledger.records import ErasableRecord

SHARE = "share"  # the custodian sent records to another node (`careledger.exchange`)
RECEIVE = "receive"  # this node stored records another node sent
STUDY_DELIVERY = "study-delivery"  # a de-identified release to a study (`careledger.research`)
EXPORT = "export"  # a bulk `$export` (its files kept an hour, sealed) or her own export
_REFERENCE = re.compile(r"(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/\d+)?")
_STUDY = re.compile(r"ResearchStudy/(?P<study>\d+)")

ALWAYS = (
    "The chain keeps each version's commitment; its salt is destroyed with the record, so it links to nothing.",
    "The audit log keeps that her records were read, shared and erased (never their content), as the law asks.",
    "Records other parties wrote themselves (another node's own notes, an insurer's claims) are theirs: ask them.",
)


@dataclass(frozen=True, slots=True)
class Kept:
    """A record of hers the erasure leaves, and the rule that keeps it."""

    record_id: str
    resource_type: str
    rule: str


@dataclass(frozen=True, slots=True)
class Plan:
    """An erasure before it is carried out: what it erases and what it cannot, in words she can act on."""

    patient: str
    everything: bool
    erasable: tuple[ErasableRecord, ...]
    kept: tuple[Kept, ...]
    unknown: tuple[str, ...]  # ids asked for that name no record of hers here (or one erased already)
    peers: tuple[str, ...]  # the nodes that fetched copies of what it erases: each is asked to erase them
    notes: tuple[str, ...]  # what cannot be erased, said plainly
    exporters: tuple[str, ...] = ()  # who exported what it erases: their bulk export jobs here go with it

    @property
    def versions(self) -> int:
        """How many versions it erases."""
        return sum(record.versions for record in self.erasable)

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON (the CLI's `--json`, and the API's preview)."""
        return {
            "patient": self.patient,
            "all": self.everything,
            "erase": [
                {
                    "id": r.record_id,
                    "resourceType": r.resource_type,
                    "category": r.category.value,
                    "versions": r.versions,
                }
                for r in self.erasable
            ],
            "keep": [{"id": k.record_id, "resourceType": k.resource_type, "rule": k.rule} for k in self.kept],
            "unknown": list(self.unknown),
            "peers": list(self.peers),
            "notes": list(self.notes),
        }


def plan(
    patient: str,
    asked: Sequence[str] | None,
    found: Sequence[ErasableRecord],
    holds: Sequence[Hold],
    retention: Retention,
    entries: Iterable[Entry],
    *,
    now: datetime,
    custodian: str,
) -> Plan:
    """The plan of erasing `asked` (None: all) of `found`, her records here, under `holds` and `retention`;
    `entries`, her audit entries here, tell which nodes fetched them and what studies received."""
    erasable, kept = [], []
    for record in found:
        rule = kept_by(record, holds, retention, now)
        if rule is None:
            erasable.append(record)
        else:
            kept.append(Kept(record.record_id, record.resource_type, rule))
    ids = {record.record_id for record in erasable}
    unknown = () if asked is None else tuple(sorted(set(asked) - {record.record_id for record in found}))
    peers: set[str] = set()
    exporters: set[str] = set()
    studies: set[str] = set()
    fetched_herself = False
    for entry in entries:
        access = entry.access
        if not access.allowed or not ids & {record_id for _, record_id in references(access.entities)}:
            continue
        if access.interaction == SHARE:
            if access.agent == patient:
                fetched_herself = True
            elif access.agent != custodian:
                peers.add(access.agent)
        elif access.interaction == EXPORT:
            exporters.add(access.agent)
        elif access.interaction == STUDY_DELIVERY:
            studies.update(m["study"] for e in access.entities if (m := _STUDY.fullmatch(e)))
    notes = list(ALWAYS)
    if studies:
        listed = ", ".join(f"study {study}" for study in sorted(studies, key=int))
        notes.insert(0, f"What was released, de-identified, to {listed} cannot be recalled: it no longer names her.")
    if fetched_herself:
        notes.insert(0, "Copies she fetched herself, with her own agent, are hers to delete there.")
    if peers:
        notes.insert(0, f"{len(peers)} other node(s) fetched copies: each is sent her request, and its answer kept.")
    return Plan(
        patient,
        asked is None,
        tuple(erasable),
        tuple(kept),
        unknown,
        tuple(sorted(peers)),
        tuple(notes),
        tuple(sorted(exporters)),
    )


def references(entities: Iterable[str]) -> list[tuple[str, str]]:
    """The (type, id) of each record an audit entry names (`Observation/o-1/_history/2`), in order."""
    return [(m["type"], m["id"]) for entity in entities if (m := _REFERENCE.fullmatch(entity))]
