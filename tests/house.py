"""The rules of the house (DESIGN.md section 2), checked over the source tree.

Read by `tests/test_house_rules.py`; kept apart from it so that a test can run the same
checker over a small tree that breaks each rule and see it fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Faces meet people and programs; they call services only.
FACES = frozenset({"api", "cli", "portal"})
# Drivers run whole nodes, faces included, as the tests do: the demo's several nodes and servers.
DRIVERS = frozenset({"demo"})
# Shared helpers of the root package every layer but the leaves may use.
SHARED = frozenset({"careledger.errors", "careledger.files"})
# What faces must not import: contract facades, the chain, keys and ciphers, rows and blobs.
BELOW_SERVICES = frozenset({"chain", "contracts", "crypto", "store"})
# Attributes that lead from a node to a facade, the chain, a database session or the deployer.
FACADE_DOORS = frozenset({"contracts", "chain", "db", "deployer"})
# The record repository's own rows and blob store: only `records` (and `store`, which defines them).
RECORD_STORAGE = frozenset(
    {
        "RecordVersion",
        "RecordToken",
        "RECORD_VERSIONS",
        "RECORD_TOKENS",
        "BlobStore",
        "FileBlobStore",
        "DatabaseBlobStore",
        "Blob",
    }
)
# The bottom layers and the only packages of ours each may import (besides errors); crypto
# and fhir have no I/O and import nothing else, not even the shared file helpers.
BOTTOM: dict[str, frozenset[str]] = {
    "chain": frozenset({"contracts", "crypto"}),
    "contracts": frozenset(),
    "store": frozenset({"crypto"}),
    "crypto": frozenset(),
    "fhir": frozenset(),
}
LEAVES = frozenset({"crypto", "fhir"})
# The composition root, which wires everything: the node and the mixins of its capability, supply and trial services.
COMPOSITION_ROOT = frozenset(
    {"careledger.node", "careledger._core", "careledger._capabilities", "careledger._supply", "careledger._trials"}
)
# Where records' rows and blobs may be named: their owner, and where they are defined.
RECORD_OWNERS = frozenset({"records", "store"})
# The node's own door to records, unjudged by the policy: named only where it is defined, wired and used
# (the node's work for claims, the exchange and research releases; `node.maintenance` for drivers and tests; the
# supply chain's recall notice, which the node writes to each patient it dispensed a recalled lot to: its own
# audited work, on no caller's behalf; a trial's milestone payments, which read its CRFs' anchor proofs).
SYSTEM_REPOSITORY = "SystemRepository"
SYSTEM_REPOSITORY_USERS = frozenset({"access", "claims", "exchange", "research", "supplychain", "trials"})
# What a face must not reach, on whatever it holds: the record service, the node's own repositories;
# and `.records` on a node or the door (elsewhere it is a count or a list of a release's lines).
SYSTEM_DOORS = frozenset({"maintenance", "_records", "_system"})
DOOR_HOLDERS = frozenset({"node", "access", "_access", "services"})
# Where a stricter size holds: the door and the record service, which every change passes through.
STRICT = frozenset({"access", "records"})
STRICT_MODULE_LINES = 450
STRICT_FUNCTION_LINES = 60

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_CONTRACT_LINES = 400


@dataclass(frozen=True, slots=True)
class Module:
    """One source file: its dotted name, the package it belongs to, and its syntax tree."""

    name: str
    package: str
    path: Path
    tree: ast.Module

    @property
    def is_face(self) -> bool:
        return self.package in FACES or self.name == "careledger.__main__"


def modules(root: Path) -> Iterator[Module]:
    """Every module under `root` (the `careledger` package directory)."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        package = parts[1] if len(parts) > 2 or (len(parts) == 2 and path.name == "__init__.py") else ""
        yield Module(".".join(parts), package, path, ast.parse(path.read_text(), str(path)))


def _imports(module: Module) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for each of our own imports."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.name.split(".")
                if module.path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            yield target, [alias.name for alias in node.names], node.lineno


def _package_of(target: str) -> str:
    """The package `careledger.<package>...` names; "" for the root and its private helpers (`careledger.files`)."""
    parts = target.split(".")
    return parts[1] if len(parts) > 1 and not parts[1].startswith("_") else ""


def _is_private(target: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in target.split(".")[1:])


def import_violations(root: Path) -> list[str]:
    """Every import or attribute that breaks a rule of the house, as `path:line: why`."""
    found: list[str] = []
    for module in modules(root):
        where = module.path.relative_to(root.parent)
        for target, names, line in _imports(module):
            if target.split(".")[0] != "careledger":
                continue
            package = _package_of(target)
            if package == module.package and package:
                continue
            if module.is_face and package in BELOW_SERVICES:
                found.append(f"{where}:{line}: a face imports {target}; call a service instead")
            if _is_private(target) and package and module.name not in COMPOSITION_ROOT:
                found.append(f"{where}:{line}: imports {target}, a private module of another package")
            if _is_private(target) and not package and (module.is_face or module.package in LEAVES):
                found.append(f"{where}:{line}: imports {target}, a helper kept for services and the layers below")
            shared = target in SHARED or (package == "" and _is_private(target))
            below = package in BOTTOM.get(module.package, ()) or (shared and module.package not in LEAVES)
            if module.package in BOTTOM and target != "careledger.errors" and not below:
                found.append(f"{where}:{line}: {module.package} imports {target}, which it may not")
            if not module.is_face and module.package not in DRIVERS and package in FACES:
                found.append(f"{where}:{line}: a service imports the face {target}")
            if module.package not in RECORD_OWNERS and module.name not in COMPOSITION_ROOT:
                for name in set(names) & RECORD_STORAGE:
                    found.append(f"{where}:{line}: imports {name}, which only records/ may touch")
            if module.is_face and (target == "careledger.node" or (target == "careledger" and "node" in names)):
                found.append(f"{where}:{line}: a face imports careledger.node; take the services it is handed")
        found.extend(_system_repository(module, where))
        if module.is_face:
            found.extend(
                f"{where}:{line}: a face reaches {door}; call a service instead" for door, line in _doors(module)
            )
    return found


def _system_repository(module: Module, where: Path) -> Iterator[str]:
    """The system repository named outside its allowlist, and faces reaching for any unjudged door."""
    allowed = module.package in SYSTEM_REPOSITORY_USERS or module.name in COMPOSITION_ROOT
    for node in ast.walk(module.tree):
        named = (isinstance(node, ast.Name) and node.id == SYSTEM_REPOSITORY) or (
            isinstance(node, ast.alias) and node.name == SYSTEM_REPOSITORY
        )
        if named and not allowed:
            yield f"{where}:{getattr(node, 'lineno', 0)}: names {SYSTEM_REPOSITORY} outside its allowlist"
        if not (module.is_face and isinstance(node, ast.Attribute)):
            continue
        if node.attr in SYSTEM_DOORS or (node.attr == "records" and _owner(node) in DOOR_HOLDERS):
            yield f"{where}:{node.lineno}: a face reaches .{node.attr}; use the caller's guarded repository"


def _owner(attribute: ast.Attribute) -> str:
    """The last name of what an attribute is read from: `node` in `self.node.db`."""
    owner = attribute.value
    return owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""


def _doors(module: Module) -> Iterator[tuple[str, int]]:
    """`node.chain`, `self.node.db`, `anything.w3`: a face reaching past the services."""
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner_name = _owner(node)
        if node.attr == "w3" or (node.attr in FACADE_DOORS and owner_name == "node"):
            yield f"{owner_name}.{node.attr}", node.lineno


def size_violations(root: Path, contracts: Path) -> list[str]:
    """Modules and functions too long to read in one sitting."""
    found: list[str] = []
    for module in modules(root):
        where = module.path.relative_to(root.parent)
        lines = len(module.path.read_text().splitlines())
        strict = module.package in STRICT or module.name in COMPOSITION_ROOT
        most_lines = STRICT_MODULE_LINES if strict else MAX_MODULE_LINES
        most_function_lines = STRICT_FUNCTION_LINES if strict else MAX_FUNCTION_LINES
        if lines > most_lines:
            found.append(f"{where}: {lines} lines (at most {most_lines})")
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > most_function_lines:
                    found.append(
                        f"{where}:{node.lineno}: {node.name} is {length} lines (at most {most_function_lines})"
                    )
    for source in sorted(contracts.rglob("*.vy")):
        lines = len(source.read_text().splitlines())
        if lines > MAX_CONTRACT_LINES:
            found.append(f"{source.relative_to(contracts.parent)}: {lines} lines (at most {MAX_CONTRACT_LINES})")
    return found


def undocumented(root: Path) -> list[str]:
    """Public functions, methods and route handlers without a docstring (what they answer, which errors).

    Public: a name without a leading underscore, not inside a private class or function.
    Nested functions count: a route handler is defined inside its router's factory.
    """
    found: list[str] = []
    for module in modules(root):
        where = module.path.relative_to(root.parent)
        found.extend(f"{where}:{line}: {name} has no docstring" for name, line in _undocumented(module.tree, ""))
    return found


def _undocumented(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef) and any(getattr(base, "id", "") == "Protocol" for base in child.bases):
            continue  # an interface: its members are what the implementer documents
        if isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
            yield from _undocumented(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and not child.name.startswith("_"):
            if ast.get_docstring(child) is None:
                yield f"{prefix}{child.name}", child.lineno
            yield from _undocumented(child, prefix)
