"""Vyper sources of CareLedger's contracts and the pipeline that compiles them."""

from careledger.contracts._compiler import (
    Artifact,
    compile_contract,
    contract_names,
    default_cache_dir,
    source_hash,
)

__all__ = ["Artifact", "compile_contract", "contract_names", "default_cache_dir", "source_hash"]
