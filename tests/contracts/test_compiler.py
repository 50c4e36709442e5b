"""The contract pipeline: compile through vyper's API, cache by source hash."""

from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

from careledger.contracts import (
    _compiler,
    compile_contract,
    contract_names,
    load_artifact,
    shipped_artifact,
    source_hash,
)
from careledger.errors import ConfigError, NotFound, ValidationError


def test_ships_record_anchor() -> None:
    assert "RecordAnchor" in contract_names()


def test_artifact_has_abi_bytecode_and_provenance(tmp_path: Path) -> None:
    artifact = compile_contract("RecordAnchor", cache_dir=tmp_path)
    names = {item.get("name") for item in artifact.abi}
    assert {"anchor", "verify", "batch", "is_anchored", "Anchored", "grantRole", "hasRole"} <= names
    assert artifact.bytecode[:1] != b""
    assert artifact.compiler_version.startswith("0.4.")
    assert artifact.source_hash == source_hash("RecordAnchor")


def test_second_compile_comes_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = compile_contract("RecordAnchor", cache_dir=tmp_path)
    (cached,) = tmp_path.glob("RecordAnchor-*.json")
    monkeypatch.setattr(_compiler, "_compile", _no_compiling)
    assert compile_contract("RecordAnchor", cache_dir=tmp_path) == first
    assert cached.is_file()


def _no_compiling(*_args: object) -> None:
    raise AssertionError("compiled though an artifact was at hand")


def _sources_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sources = tmp_path / "sources"
    shutil.copytree(_compiler.SOURCES, sources, ignore=shutil.ignore_patterns("*.py", "__pycache__", "artifacts"))
    monkeypatch.setattr(_compiler, "SOURCES", sources)
    return sources


def test_changed_source_changes_hash_and_recompiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = _sources_copy(tmp_path, monkeypatch)
    before = compile_contract("RecordAnchor", cache_dir=tmp_path / "cache")
    path = sources / "RecordAnchor.vy"
    path.write_text(path.read_text() + "\n\n@external\n@pure\ndef extra() -> uint256:\n    return 1\n")
    after = compile_contract("RecordAnchor", cache_dir=tmp_path / "cache")
    assert after.source_hash != before.source_hash
    assert "extra" in {item.get("name") for item in after.abi}
    assert after.bytecode != before.bytecode


def test_a_changed_module_changes_every_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims is built from modules/: a cached artifact must not survive a change there."""
    sources = _sources_copy(tmp_path, monkeypatch)
    before = source_hash("Claims")
    module = sources / "modules" / "claim_ledger.vy"
    module.write_text(module.read_text() + "\n# a comment\n")
    assert source_hash("Claims") != before


def test_modules_are_not_contracts() -> None:
    assert not {"packing", "roles", "claim_plans"} & set(contract_names())


def test_unknown_contract_is_not_found() -> None:
    with pytest.raises(NotFound, match="no contract named 'Nope'"):
        compile_contract("Nope")


def test_broken_source_is_a_validation_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = _sources_copy(tmp_path, monkeypatch)
    (sources / "Broken.vy").write_text("# pragma version ~=0.4.3\n@external\ndef f() -> uint256:\n    return x\n")
    with pytest.raises(ValidationError, match="contract Broken does not compile"):
        compile_contract("Broken", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("name", contract_names())
def test_shipped_artifact_is_what_the_sources_compile_to(name: str) -> None:
    """A source changed without `make artifacts` (or a new vyper or snekmate) fails here."""
    shipped = shipped_artifact(name)
    assert shipped is not None, f"no artifact shipped for {name}: run `make artifacts`"
    assert shipped.source_hash == source_hash(name), f"{name}.vy changed since its artifact: run `make artifacts`"
    compiled = compile_contract(name)
    assert (shipped.compiler_version, shipped.snekmate_version) == (
        compiled.compiler_version,
        compiled.snekmate_version,
    ), "the toolchain changed: run `make artifacts`"
    assert shipped.bytecode == compiled.bytecode
    assert shipped.abi == compiled.abi


def test_a_node_loads_the_shipped_artifact_without_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    load_artifact.cache_clear()
    monkeypatch.setattr(_compiler, "_compile", _no_compiling)
    assert load_artifact("Claims") == shipped_artifact("Claims")


def test_changed_sources_are_compiled_instead_of_the_stale_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = _sources_copy(tmp_path, monkeypatch)
    monkeypatch.setenv("CARELEDGER_CACHE", str(tmp_path / "cache"))
    path = sources / "RecordAnchor.vy"
    path.write_text(path.read_text() + "\n\n@external\n@pure\ndef extra() -> uint256:\n    return 1\n")
    load_artifact.cache_clear()
    try:
        assert "extra" in {item.get("name") for item in load_artifact("RecordAnchor").abi}
    finally:
        load_artifact.cache_clear()


def test_changed_sources_without_vyper_say_how_to_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = _sources_copy(tmp_path, monkeypatch)
    (sources / "RecordAnchor.vy").write_text((sources / "RecordAnchor.vy").read_text() + "\n# edited\n")

    def not_installed(package: str) -> str:
        raise PackageNotFoundError(package)

    monkeypatch.setattr(_compiler, "version", not_installed)
    load_artifact.cache_clear()
    try:
        with pytest.raises(ConfigError, match="make artifacts"):
            load_artifact("RecordAnchor")
    finally:
        load_artifact.cache_clear()
