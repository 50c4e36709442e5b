"""CareLedger: patient-owned, encrypted health records with consent and audit anchored on an EVM chain."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("careledger")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
