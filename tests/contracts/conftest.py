from __future__ import annotations

from functools import cache
from typing import Any

import boa
import pytest

from careledger.contracts._compiler import SOURCES


@cache
def contract(name: str) -> Any:
    """A deployer of one of the package's contracts, compiled once per test run."""
    return boa.load_partial(str(SOURCES / f"{name}.vy"))


@pytest.fixture
def admin() -> Any:
    return boa.env.generate_address("admin")


@pytest.fixture
def record_anchor(admin: Any) -> Any:
    with boa.env.prank(admin):
        return contract("RecordAnchor").deploy()


@pytest.fixture
def identity(admin: Any) -> Any:
    with boa.env.prank(admin):
        return contract("IdentityRegistry").deploy()
