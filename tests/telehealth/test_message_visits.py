"""Messaging a practitioner outside the care team: only a visit booked in his Schedule opens it (finding 4 of the
review of #38), not a hold that may lapse."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from careledger.access import wallet_reference
from careledger.access._policy import NOT_MESSAGEABLE
from careledger.claims import ServiceClass
from careledger.errors import AccessDenied
from careledger.telehealth import Offer, VisitMode
from tests.telehealth.clinic import clinic_at


def test_a_visit_booked_in_his_schedule_opens_messaging_and_a_hold_does_not(tmp_path: Path) -> None:
    with clinic_at(tmp_path / "home") as clinic:
        node, mallory = clinic.node, clinic.mallory.address
        staff, hers = clinic.door(clinic.drbob), clinic.door(clinic.alice)
        identifier = wallet_reference("Practitioner", mallory, node.chain_id)["identifier"]
        practitioner = staff.write({"resourceType": "Practitioner", "identifier": [identifier]})
        offer = Offer(practitioner.record_id, ServiceClass.OFFICE_VISIT, VisitMode.VIRTUAL, fee=0)
        schedule = clinic.scheduling.publish(staff, offer)
        start = (clinic.now[0] + timedelta(days=1)).replace(second=0, microsecond=0)
        slots = clinic.scheduling.open_slots(staff, schedule["id"], start, start + timedelta(minutes=60), 30)
        clinic.scheduling.hold(hers, slots[0]["id"], clinic.alice_id)
        with pytest.raises(AccessDenied, match=NOT_MESSAGEABLE):
            node.messages.send(hers, "before my visit", patient=clinic.alice_id, to=[mallory])
        clinic.scheduling.book(hers, slots[1]["id"], clinic.alice_id)
        sent = node.messages.send(hers, "before my visit", patient=clinic.alice_id, to=[mallory])
        assert node.messages.unread(mallory).threads == {sent["id"]: 1}
