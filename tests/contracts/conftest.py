from __future__ import annotations

from typing import Any

import boa
import pytest

from careledger.contracts._compiler import SOURCES


@pytest.fixture
def admin() -> Any:
    return boa.env.generate_address("admin")


@pytest.fixture
def record_anchor(admin: Any) -> Any:
    with boa.env.prank(admin):
        return boa.load(str(SOURCES / "RecordAnchor.vy"))


@pytest.fixture
def identity(admin: Any) -> Any:
    with boa.env.prank(admin):
        return boa.load(str(SOURCES / "IdentityRegistry.vy"))
