"""How identities are shown: one JSON shape, rendered as a table for people."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.table import Table

from careledger.cli._output import console
from careledger.identity import ActorProfile, Credential, credential_type_name

# A wallet's name on this node for an address, if the node holds it.
NameOf = Callable[[str], str | None]


def credential_json(credential: Credential, now: int, name_of: NameOf) -> dict[str, Any]:
    """A credential as JSON, its status (valid, expired, revoked) as of the chain's time `now`; its type and
    issuer named where this node knows them (else None)."""
    status = "revoked" if credential.revoked else "expired" if credential.expires_at <= now else "valid"
    return {
        "id": credential.credential_id,
        "type": credential_type_name(credential.credential_type),
        "type_id": "0x" + credential.credential_type.hex(),
        "issuer": credential.issuer,
        "issuer_name": name_of(credential.issuer),
        "expires_at": credential.expires_at,
        "revocable": credential.revocable,
        "status": status,
    }


def actor_view(profile: ActorProfile, name_of: NameOf) -> dict[str, Any]:
    """An actor's on-chain registration and its credentials, as JSON."""
    record = profile.actor
    return {
        "address": record.address,
        "role": record.role.label,
        "active": record.active,
        "suite": record.encryption_key.suite.label,
        "encryption_key": "0x" + record.encryption_key.to_bytes().hex(),
        "key_version": record.key_version,
        "endpoint": record.endpoint,
        "registered_at": record.registered_at,
        "credentials": [credential_json(c, profile.now, name_of) for c in profile.credentials],
    }


def render_view(body: dict[str, Any]) -> None:
    """Key-value rows; nested registrations and credentials indented beneath."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    _rows(table, body, "")
    console.print(table)


def _rows(table: Table, body: dict[str, Any], indent: str) -> None:
    for key, value in body.items():
        if isinstance(value, dict):
            table.add_row(indent + key, "")
            _rows(table, value, indent + "  ")
        elif isinstance(value, list):
            table.add_row(indent + key, "none" if not value else "")
            for item in value:
                if isinstance(item, dict):
                    _rows(table, item, indent + "  ")
                else:
                    table.add_row("", str(item))
        elif value is None:
            table.add_row(indent + key, "unknown" if key.endswith(("_name", "type")) else "not registered")
        elif key in ("expires_at", "registered_at"):
            table.add_row(indent + key, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value)))
        elif isinstance(value, str) and value.startswith("0x") and len(value) > 70:
            # Post-quantum keys are 2.4 KB of hex: people get the ends and the size.
            table.add_row(indent + key, f"{value[:18]}…{value[-8:]} ({(len(value) - 2) // 2} bytes)")
        else:
            table.add_row(indent + key, str(value))
