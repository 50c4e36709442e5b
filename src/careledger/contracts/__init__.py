"""Vyper sources of CareLedger's contracts, their shipped artifacts, and the pipeline that builds them."""

from careledger.contracts._compiler import (
    Artifact,
    build_artifacts,
    compile_contract,
    contract_names,
    default_cache_dir,
    load_artifact,
    shipped_artifact,
    source_hash,
)

__all__ = [
    "Artifact",
    "build_artifacts",
    "compile_contract",
    "contract_names",
    "default_cache_dir",
    "load_artifact",
    "shipped_artifact",
    "source_hash",
]
