from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import boa
import pytest
from boa.environment import Env

from careledger.contracts._compiler import SOURCES


@cache
def contract(name: str) -> Any:
    """A deployer of one of the package's contracts, compiled once per test run."""
    return boa.load_partial(str(SOURCES / f"{name}.vy"))


@pytest.fixture(scope="module", autouse=True)
def chain_of_its_own() -> Iterator[None]:
    """Each module on a titanoboa chain of its own. On one shared chain, a module that deploys inside an anchor
    hands the rolled-back addresses to the next module's contracts, and titanoboa decodes their reverts with the
    storage it traced for the earlier ones (`'BytesM_T' object has no attribute 'key_type'`)."""
    with boa.swap_env(Env()):
        yield


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
