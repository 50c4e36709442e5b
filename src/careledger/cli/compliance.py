"""`careledger compliance ...`: the node's compliance report for a period, for auditors."""

from __future__ import annotations

import json as json_module
import os
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._context import open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress_bar
from careledger.compliance import REVIEW_DAYS, ComplianceReport, html_chunks, period_of, report_json
from careledger.errors import ValidationError

app = typer.Typer(help="Compliance: the report an auditor asks for, from the audit log.", no_args_is_help=True)


class Format(StrEnum):
    """What the report file is written as."""

    HTML = "html"
    JSON = "json"


@app.command()
def report(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First day (2026-06-01) or an ISO time; UTC unless it says.")],
    end: Annotated[str, typer.Option("--to", help="Last day, counted whole (2026-06-30), or an ISO time (excluded).")],
    form: Annotated[Format, typer.Option("--format", help="The file's format.")] = Format.HTML,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it [default: compliance-FROM-TO.html|json here].")
    ] = None,
    review_days: Annotated[
        int, typer.Option("--review-days", min=1, help="A break-glass use unreviewed this long is a finding.")
    ] = REVIEW_DAYS,
    json: JsonFlag = False,
) -> None:
    """Write the compliance report of a period: accounting of disclosures (HIPAA §164.528), records of processing
    (GDPR Art. 30), break-glass and reviews, consents, erasures, key events, anchoring lag and findings.

    --json prints the report as JSON on stdout (and writes --out only if given). The HTML prints to PDF from
    any browser.
    """
    period = period_of(start, end)
    last_day = period.until - timedelta(microseconds=1)
    target = out or Path(f"compliance-{period.since:%Y-%m-%d}-{last_day:%Y-%m-%d}.{form.value}")
    writes = out is not None or not json
    if writes and not (target.parent.is_dir() and os.access(target.parent, os.W_OK)):
        raise ValidationError(f"cannot write the report in {target.parent}: not a folder this user may write in")
    with open_node(ctx) as node, progress_bar("reading the audit log", quiet=json, counting="items") as show:
        found = node.compliance.report(period, review_days=review_days, progress=lambda d, t: show(d, t, ""))
    if json:
        print_json(report_json(found))
    if not writes:
        return
    _write(target, _text(found, form))
    if not json:
        console.print(
            f"wrote {target}: {found.summary.entries} audit entries, {len(found.accounting)} patients' accountings, "
            f"{len(found.findings)} findings",
            markup=False,
        )


def _text(found: ComplianceReport, form: Format) -> Iterable[str]:
    """The report in `form`, a piece at a time."""
    if form is Format.JSON:
        return [json_module.dumps(report_json(found), indent=1), "\n"]
    return html_chunks(found)


def _write(target: Path, pieces: Iterable[str]) -> None:
    """Write the report beside `target`, readable by this user alone (it names patients), then move it into
    place: nobody sees half a report."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as file:
            file.writelines(pieces)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ValidationError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
