"""A compliance report as JSON (for scripts) and as HTML (for auditors: one self-contained page that prints to
PDF from any browser)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from careledger.compliance._model import ComplianceReport

FORMAT_VERSION = 1

_templates = Environment(
    loader=PackageLoader("careledger.compliance", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def report_json(report: ComplianceReport) -> dict[str, Any]:
    """The report as plain JSON: times in ISO 8601 (UTC), sections as objects, lists in the order shown."""
    plain = _plain(report)
    assert isinstance(plain, dict)
    return {"report": "careledger-compliance", "version": FORMAT_VERSION, **plain}


def html_chunks(report: ComplianceReport) -> Iterator[str]:
    """The report as one HTML page, a piece at a time (a busy month's accounting is long: it is written as it is
    made, never held whole)."""
    template = _templates.get_template("report.html")
    return template.generate(report=report, when=_when, seconds=_seconds)


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _when(moment: datetime) -> str:
    """A time as the report shows it: UTC, to the second."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _seconds(value: float | None) -> str:
    """A lag as people read it."""
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"
