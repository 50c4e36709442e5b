"""`careledger insight score PATIENT`: a patient's scores from their published equations, with what went into each.

The same as the API's `$assess` (`services.insight`), for the node's operator: the record is read through the door
of the node (or of `--as`), and `--write` stores the computed scores as RiskAssessments (eGFR as an Observation)
through that same door.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.access import Accessor
from careledger.cli._context import acts_as, as_node, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.consent import Purpose
from careledger.errors import ValidationError
from careledger.insight import Assessment, Result, Score

ScoreOption = Annotated[
    list[str] | None, typer.Option("--score", help="A score's id, e.g. pce-ascvd-10y (repeat) [default: every score].")
]


def score(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(metavar="PATIENT", help="The Patient's id, or Patient/<id>.")],
    scores: ScoreOption = None,
    write: Annotated[bool, typer.Option("--write", help="Store the computed scores in her record.")] = False,
    as_who: Annotated[
        str | None, typer.Option("--as", help="Act as this wallet (or address); consent applies [default: the node].")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Each score of PATIENT's record: its value, band and inputs; a score that cannot be computed says why."""
    kind, _, patient_id = patient.rpartition("/")
    if kind not in ("", "Patient") or not patient_id:
        raise ValidationError(f"PATIENT is a Patient's id or Patient/<id>, not {patient[:80]!r}")
    with open_node(ctx) as node:
        chosen = [s.id for s in node.insight.chosen(scores or None)]  # an unknown score is refused before any read
        if as_who is None:
            accessor = as_node(node)
        else:
            node.consent.sync()
            accessor = Accessor(acts_as(node, as_who), Purpose.TREAT)
        repository = node.access.for_caller(accessor)
        facts = node.insight.gather(repository, patient_id)
        results = node.insight.score(facts, chosen)
        stored = node.insight.write(repository, facts, results) if write else []
    references = iter(f"{version.resource_type}/{version.record_id}" for version, _ in stored)
    rows = [_row(s, r, next(references) if stored and isinstance(r, Assessment) else None) for s, r in results]
    if json:
        print_json(rows)
        return
    table = Table("score", "value", "band", "inputs", *(["stored"] if stored else []))
    for row in rows:
        inputs = "\n".join(f"{i['label']}: {i['value']}" for i in row["inputs"]) or "\n".join(row.get("missing", []))
        value = row["display"] if row["computed"] else "cannot compute"
        table.add_row(row["title"], value, row["band"], inputs, *([row["stored"] or ""] if stored else []))
    console.print(table)


def _row(score: Score, result: Result, stored: str | None) -> dict[str, Any]:
    """One score's line, for the table and for scripts."""
    row: dict[str, Any] = {"score": score.id, "title": score.title, "version": score.version}
    if not isinstance(result, Assessment):
        return {**row, "computed": False, "band": "", "missing": list(result.missing), "inputs": []}
    return {
        **row,
        "computed": True,
        "value": result.value,
        "display": result.display,
        "band": result.band,
        "alert": result.alert,
        "why": result.why,
        "inputs": [{"label": i.label, "value": i.value, "source": i.source} for i in result.inputs],
        "lowering": [{"change": low.change, "value": low.value} for low in result.lowering],
        "stored": stored,
    }
