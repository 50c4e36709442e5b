"""The contracts' artifacts: shipped with the package, rebuilt from the Vyper sources by `make artifacts`.

A node deploys and calls the contracts from the artifacts shipped in `artifacts/` (ABI,
bytecode, the compiler that made them and the hash of the sources they came from), so it
needs neither vyper nor snekmate and its first `chain deploy` compiles nothing. Only when
the sources differ from what the shipped artifacts were built from (a developer editing a
contract) are they compiled, which takes vyper (a dev dependency) and is cached on disk
under a key of the sources and the toolchain's versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from careledger.errors import ConfigError, NotFound, ValidationError
from careledger.files import write_atomically

SOURCES = Path(__file__).resolve().parent
ARTIFACTS = SOURCES / "artifacts"


@dataclass(frozen=True, slots=True)
class Artifact:
    """What deploying and calling one contract needs, and what it was built from."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_hash: str
    compiler_version: str
    snekmate_version: str

    def to_json(self) -> dict[str, Any]:
        """The artifact as the JSON shipped and cached on disk."""
        return {
            "name": self.name,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "source_hash": self.source_hash,
            "compiler_version": self.compiler_version,
            "snekmate_version": self.snekmate_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        """An artifact from its JSON."""
        return cls(
            name=data["name"],
            abi=data["abi"],
            bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
            source_hash=data["source_hash"],
            compiler_version=data["compiler_version"],
            snekmate_version=data["snekmate_version"],
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
    """SHA-256 over the contract's name and every local source.

    All local sources are included, not only `name`'s, because a contract may import
    another's interface or a module under `modules/`; a change anywhere re-keys every
    artifact, which is cheap.
    """
    digest = hashlib.sha256(f"main={name}".encode())
    for path in sorted(SOURCES.rglob("*.vy*")):
        digest.update(path.relative_to(SOURCES).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _require_known(name: str) -> None:
    if not (SOURCES / f"{name}.vy").is_file():
        raise NotFound(f"no contract named {name!r} (known: {', '.join(contract_names())})")


def shipped_artifact(name: str) -> Artifact | None:
    """The artifact shipped for `name`, if there is one."""
    path = ARTIFACTS / f"{name}.json"
    return Artifact.from_json(json.loads(path.read_text())) if path.is_file() else None


@cache
def load_artifact(name: str) -> Artifact:
    """The artifact of contract `name` as its sources stand: the shipped one, else compiled."""
    _require_known(name)
    shipped = shipped_artifact(name)
    if shipped is not None and shipped.source_hash == source_hash(name):
        return shipped
    return compile_contract(name)


def compile_contract(name: str, cache_dir: Path | None = None) -> Artifact:
    """Contract `name` compiled from its sources by the installed vyper, through the on-disk cache."""
    _require_known(name)
    key = source_hash(name)
    toolchain = _toolchain()
    cache_key = hashlib.sha256(f"{key};vyper={toolchain[0]};snekmate={toolchain[1]}".encode()).hexdigest()
    cache_file = (cache_dir or default_cache_dir()) / f"{name}-{cache_key[:16]}.json"
    if cache_file.is_file():
        cached = Artifact.from_json(json.loads(cache_file.read_text()))
        if cached.source_hash == key:
            return cached
    artifact = _compile(name, key, toolchain)
    write_atomically(cache_file, json.dumps(artifact.to_json()).encode())
    return artifact


def build_artifacts(directory: Path = ARTIFACTS) -> list[Artifact]:
    """Compile every contract and write its artifact to `directory` (what `make artifacts` ships)."""
    artifacts = [compile_contract(name) for name in contract_names()]
    for artifact in artifacts:
        write_atomically(
            directory / f"{artifact.name}.json", (json.dumps(artifact.to_json(), indent=1) + "\n").encode()
        )
    return artifacts


def _toolchain() -> tuple[str, str]:
    """The installed vyper's and snekmate's versions; `ConfigError` when they are not installed."""
    try:
        return version("vyper"), version("snekmate")
    except PackageNotFoundError:
        raise ConfigError(
            "the contract sources differ from the artifacts shipped with this package, and rebuilding them "
            "needs vyper and snekmate: install careledger[dev] and run `make artifacts`"
        ) from None


def _compile(name: str, key: str, toolchain: tuple[str, str]) -> Artifact:
    # Imported here: vyper takes ~0.5 s to import and a node never needs it.
    from vyper.compiler import compile_from_file_input
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.exceptions import VyperException

    # snekmate is a namespace package installed into site-packages; searching sys.path
    # resolves `from snekmate.auth import ...` to whichever version is installed.
    search_paths = [SOURCES, *(Path(p) for p in sys.path if p and Path(p).is_dir())]
    bundle = FilesystemInputBundle(search_paths)
    file_input = bundle.load_file(SOURCES / f"{name}.vy")
    try:
        output = compile_from_file_input(file_input, input_bundle=bundle, output_formats=["abi", "bytecode"])
    except VyperException as exc:
        raise ValidationError(f"contract {name} does not compile: {exc}") from exc
    return Artifact(
        name=name,
        abi=output["abi"],
        bytecode=bytes.fromhex(output["bytecode"].removeprefix("0x")),
        source_hash=key,
        compiler_version=toolchain[0],
        snekmate_version=toolchain[1],
    )
