"""What `careledger drug ...` reads from its operator: scans as a scanner sends them, serials, files of either.

Everything is checked here, before a node is opened: a scan that is not a GS1 code exits 2 with the field it
fails on first (`gtin: check digit should be 2, not 9`) and which scan it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from careledger.errors import ValidationError
from careledger.supplychain import Container, Identifier, Pack, parse_scan

# Serials made by --count at once: the batch is 1,000; a hundred times that is a mistake, not a batch.
MAX_COUNT = 100_000


def serials_given(given: list[str] | None, count: int | None, first: int, file: Path | None) -> list[str]:
    """The serials to commission: from exactly one of --serial, --count or --serials-file."""
    if sum(bool(source) for source in (given, count, file)) != 1:
        raise ValidationError("serial: name them with --serial S …, --count N or --serials-file FILE (one of them)")
    if count is not None:
        if count > MAX_COUNT:
            raise ValidationError(f"count: at most {MAX_COUNT} serials a command, not {count}")
        return [str(first + n) for n in range(count)]
    serials = [line.strip() for line in lines_of(file) if line.strip()] if file is not None else list(given or [])
    if not serials:
        raise ValidationError(f"serial: {file} holds no serials")
    seen: set[str] = set()
    for serial in serials:
        if serial in seen:
            raise ValidationError(f"serial: {serial[:20]!r} is given twice")
        seen.add(serial)
    return serials


def lines_of(file: Path) -> list[str]:
    """The lines of a file (`-`: stdin), split at newlines only: `str.splitlines` would also split at the GS
    separator inside an element string."""
    return [line.removesuffix("\r") for line in _text_of(file).split("\n")]


def read_json(file: Path) -> object:
    """A JSON file's content (`-`: stdin); `ValidationError` naming it if it is not JSON."""
    try:
        return json.loads(_text_of(file))
    except ValueError as exc:
        raise ValidationError(f"{file}: not JSON ({exc})") from None


def _text_of(file: Path) -> str:
    """A file's text (`-`: stdin); `ValidationError` naming it if it cannot be read."""
    try:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{file}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None


def write_new(file: Path, content: object) -> None:
    """JSON into a new file; `ValidationError` naming it if it cannot be written."""
    try:
        with file.open("x", encoding="utf-8") as out:
            out.write(json.dumps(content, indent=2) + "\n")
    except OSError as exc:
        raise ValidationError(f"{file}: cannot be written ({exc.strerror})") from None


def identifiers(scans: list[str] | None, file: Path | None) -> list[Identifier]:
    """The items named by SCAN arguments and --from-file's lines (at least one)."""
    texts = list(scans or []) + ([line for line in lines_of(file) if line.strip()] if file is not None else [])
    if not texts:
        raise ValidationError("scan: name at least one pack or SSCC (SCAN … or --from-file FILE)")
    return [identifier(text, number if len(texts) > 1 else None) for number, text in enumerate(texts, 1)]


def identifier(text: str, number: int | None = None) -> Identifier:
    """A scan parsed; its `ValidationError`, which starts with the field, also says which scan it was."""
    try:
        return parse_scan(text.strip())
    except ValidationError as exc:
        which = f"scan {number}" if number else "scan"
        raise ValidationError(f"{exc} ({which} {printable(text)!r})") from None


def pack_scanned(text: str) -> Pack:
    """A scan that must name one pack (an SGTIN), not a case."""
    found = identifier(text)
    if not isinstance(found, Pack):
        raise ValidationError(f"scan: {printable(text)!r} is a case's or pallet's SSCC, not a pack")
    return found


def container_scanned(text: str) -> Container:
    """A scan that must name a case or pallet (an SSCC)."""
    found = identifier(text)
    if not isinstance(found, Container):
        raise ValidationError(f"sscc: {printable(text)!r} is a pack (GTIN {found.gtin}), not a case or pallet")
    return found


def printable(text: str) -> str:
    """A scan as it can be shown: the GS separator as <GS>, at most 60 characters."""
    shown = text.replace("\x1d", "<GS>")
    return shown if len(shown) <= 60 else shown[:57] + "..."
