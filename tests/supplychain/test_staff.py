"""Who acts for a node's supply chain, the rule alone: the operator does anything; staff read and take custody steps;
recalls and admissions take the operator or a supply officer; each refusal audited under the action."""

from __future__ import annotations

from typing import cast

import pytest

from careledger.audit import Access, AuditLog, Outcome
from careledger.errors import AccessDenied
from careledger.supplychain import SupplyRoles

NODE = "0x" + "a1" * 20
NURSE = "0x" + "b2" * 20  # of its staff
OFFICER = "0x" + "c3" * 20  # its supply officer, and of its staff
STRANGER = "0x" + "d4" * 20


class _Audit:
    def __init__(self) -> None:
        self.entries: list[Access] = []

    def record(self, access: Access) -> None:
        self.entries.append(access)


def _roles() -> tuple[SupplyRoles, _Audit]:
    audit = _Audit()
    roles = SupplyRoles(
        cast("AuditLog", audit),
        here=NODE,
        care_team=lambda actor: actor in (NURSE, OFFICER),
        officer=lambda actor: actor == OFFICER,
    )
    return roles, audit


@pytest.mark.parametrize("action", ["supply.verify", "supply.capture", "supply.ship", "supply.dispense", "supply.read"])
def test_staff_read_and_take_custody_steps(action: str) -> None:
    roles, audit = _roles()
    for actor in (NODE, NURSE, OFFICER, NODE.upper().replace("0X", "0x")):
        roles.require(actor, action)
    with pytest.raises(AccessDenied, match="is not of this node's staff"):
        roles.require(STRANGER, action)
    assert [(e.interaction, e.agent, e.outcome, e.detail) for e in audit.entries] == [
        (action, STRANGER, Outcome.DENIED, "not this node's staff")
    ]


@pytest.mark.parametrize("action", ["supply.recall", "supply.admit"])
def test_a_recall_or_an_admission_takes_the_operator_or_a_supply_officer(action: str) -> None:
    roles, audit = _roles()
    roles.require(NODE, action)
    roles.require(OFFICER, action)
    for actor in (NURSE, STRANGER):
        assert not roles.may(actor, action)
        with pytest.raises(AccessDenied, match=f"holds no supply-officer credential of this node: {action}"):
            roles.require(actor, action)
    assert [(e.agent, e.detail) for e in audit.entries] == [
        (NURSE, "not this node's supply-officer"),
        (STRANGER, "not this node's supply-officer"),
    ]
