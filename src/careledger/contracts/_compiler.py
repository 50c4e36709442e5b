"""Compile the Vyper sources in this package, caching artifacts by source hash.

Compiling takes about a second per contract, and every node command needs the artifacts,
so they are cached on disk under a key that changes whenever a source, vyper or snekmate
changes. The cache is a plain JSON file per contract, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from careledger.errors import NotFound, ValidationError
from careledger.files import write_atomically

SOURCES = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Artifact:
    """What deploying and calling one contract needs."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_hash: str
    compiler_version: str

    def to_json(self) -> dict[str, Any]:
        """The artifact as the JSON cached on disk."""
        return {
            "name": self.name,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "source_hash": self.source_hash,
            "compiler_version": self.compiler_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        """An artifact from its cached JSON."""
        return cls(
            name=data["name"],
            abi=data["abi"],
            bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
            source_hash=data["source_hash"],
            compiler_version=data["compiler_version"],
        )


def contract_names() -> list[str]:
    """The contracts this package ships, in deployment order."""
    return sorted(path.stem for path in SOURCES.glob("*.vy"))


def default_cache_dir() -> Path:
    """`$CARELEDGER_CACHE`, else the XDG cache directory."""
    explicit = os.environ.get("CARELEDGER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "careledger" / "contracts"


def source_hash(name: str) -> str:
    """SHA-256 over the compiler and library versions and every local source.

    All local sources are included, not only `name`'s, because a contract may import
    another's interface or a module under `modules/`; a change anywhere re-keys every
    artifact, which is cheap.
    """
    digest = hashlib.sha256()
    digest.update(f"vyper={version('vyper')};snekmate={version('snekmate')};main={name}".encode())
    for path in sorted(SOURCES.rglob("*.vy*")):
        digest.update(path.relative_to(SOURCES).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def compile_contract(name: str, cache_dir: Path | None = None) -> Artifact:
    """The artifact for contract `name`, from the cache or freshly compiled."""
    source_path = SOURCES / f"{name}.vy"
    if not source_path.is_file():
        known = ", ".join(contract_names())
        raise NotFound(f"no contract named {name!r} (known: {known})")
    key = source_hash(name)
    cache_file = (cache_dir or default_cache_dir()) / f"{name}-{key[:16]}.json"
    if cache_file.is_file():
        cached = Artifact.from_json(json.loads(cache_file.read_text()))
        if cached.source_hash == key:
            return cached
    artifact = _compile(name, source_path, key)
    write_atomically(cache_file, json.dumps(artifact.to_json()).encode())
    return artifact


def _compile(name: str, source_path: Path, key: str) -> Artifact:
    # Imported here: vyper takes ~0.5 s to import and most commands hit the cache.
    import vyper
    from vyper.compiler import compile_from_file_input
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.exceptions import VyperException

    # snekmate is a namespace package installed into site-packages; searching sys.path
    # resolves `from snekmate.auth import ...` to whichever version is installed.
    search_paths = [SOURCES, *(Path(p) for p in sys.path if p and Path(p).is_dir())]
    bundle = FilesystemInputBundle(search_paths)
    file_input = bundle.load_file(source_path)
    try:
        output = compile_from_file_input(file_input, input_bundle=bundle, output_formats=["abi", "bytecode"])
    except VyperException as exc:
        raise ValidationError(f"contract {name} does not compile: {exc}") from exc
    return Artifact(
        name=name,
        abi=output["abi"],
        bytecode=bytes.fromhex(output["bytecode"].removeprefix("0x")),
        source_hash=key,
        compiler_version=vyper.__version__,
    )
