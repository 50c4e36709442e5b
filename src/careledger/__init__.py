"""CareLedger: patient-owned, encrypted health records with consent and audit anchored on an EVM chain."""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> str | Any:
    """`__version__`, read from the installed package's metadata when first asked for (importlib.metadata
    takes ~60 ms to import, which every command would pay)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("careledger")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"
