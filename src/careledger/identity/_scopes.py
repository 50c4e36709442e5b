"""SMART on FHIR scopes, v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs?category=laboratory`).

A scope names a context (`patient`: the signed-in patient's own records; `user`: what the
signed-in user may see; `system`: what a backend client's identity may see), a resource
type or `*`, permissions (create, read, update, delete, search) and, in v2, a search that
narrows it. A scope never widens access: the guarded repository still decides each record
by consent and care team; a scope only narrows what a token may ask for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from careledger.errors import ValidationError
from careledger.fhir import search_parameters

PERMISSIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"(patient|user|system)/([A-Z][A-Za-z]+|\*)\.([a-z*]+)(?:\?(.+))?")
CONTEXTS = ("patient", "user", "system")
# Scopes that are not about resources: OpenID Connect, launch context, refresh tokens.
OTHER_SCOPES = frozenset(
    {"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access", "online_access"}
)


@dataclass(frozen=True, slots=True)
class Scope:
    """One resource scope."""

    context: str
    resource_type: str
    permissions: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Scope:
        """A resource scope in v1 or v2 form; `ValidationError` for anything else."""
        found = _SCOPE.fullmatch(text)
        if found is None:
            raise ValidationError(f"not a SMART resource scope: {text[:80]!r}")
        context, resource_type, permissions, query = found.groups()
        if permissions in _V1:
            letters = _V1[permissions]
        elif set(permissions) <= set(PERMISSIONS) and list(permissions) == sorted(permissions, key=PERMISSIONS.index):
            letters = permissions
        else:
            raise ValidationError(f"{text[:80]!r}: permissions are .read, .write, .* or cruds in that order")
        narrowing = tuple(parse_qsl(query or "", keep_blank_values=True))
        for name, _ in narrowing:
            known = search_parameters("Patient" if resource_type == "*" else resource_type).get(name)
            if known is None or known.kind != "token" or (resource_type == "*" and not name.startswith("_")):
                raise ValidationError(f"{text[:80]!r}: a scope narrows by token parameters of its type only")
        return cls(context, resource_type, frozenset(letters), narrowing)

    def allows(self, resource_type: str, permission: str) -> bool:
        """Whether this scope lets a token do `permission` (one of c r u d s) on `resource_type`."""
        return self.resource_type in ("*", resource_type) and permission in self.permissions

    def within(self, wider: Scope) -> bool:
        """Whether this scope asks for no more than `wider` grants (a narrower query is no more)."""
        same_query = not wider.query or set(wider.query) <= set(self.query)
        return (
            self.context == wider.context
            and wider.resource_type in ("*", self.resource_type)
            and self.permissions <= wider.permissions
            and same_query
        )

    def text(self) -> str:
        """The scope in v2 form."""
        letters = "".join(p for p in PERMISSIONS if p in self.permissions)
        query = f"?{urlencode(self.query)}" if self.query else ""
        return f"{self.context}/{self.resource_type}.{letters}{query}"


def resource_scopes(scopes: str | list[str] | frozenset[str]) -> list[Scope]:
    """The resource scopes among `scopes` (space-separated text or a collection), the others dropped."""
    names = scopes.split() if isinstance(scopes, str) else scopes
    return [Scope.parse(name) for name in names if name not in OTHER_SCOPES]


def narrowing(scopes: list[Scope]) -> tuple[tuple[str, tuple[tuple[tuple[str, str], ...], ...]], ...]:
    """Per resource type (or `*`), the searches reads are narrowed to: where every scope that lets a token
    read the type carries a query (if one does not, the type is not narrowed)."""
    readers: dict[str, list[Scope]] = {}
    for scope in scopes:
        if scope.permissions & {"r", "s"}:
            readers.setdefault(scope.resource_type, []).append(scope)
    wide = readers.get("*", [])
    narrowed = []
    for resource_type, found in readers.items():
        alike = found if resource_type == "*" else found + wide
        if all(scope.query for scope in alike):
            narrowed.append((resource_type, tuple(scope.query for scope in alike)))
    return tuple(sorted(narrowed, key=lambda pair: pair[0] == "*"))


def granted(requested: list[Scope], allowed: list[Scope]) -> list[Scope]:
    """The requested scopes that some allowed scope covers (a client never gets more than it may)."""
    return [scope for scope in requested if any(scope.within(wider) for wider in allowed)]
