"""The council's page for staff and a patient's erasure, over real HTTP against `careledger serve` and anvil.

The council is bootstrapped, and a proposal made, with the governance service of the same home, as the node's
operator would from the CLI; staff vote and execute through the page. Carol signs her erasure request with
eth-account, as a wallet outside the project signs the typed data the page serves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from eth_account import Account

from careledger.access import Accessor
from careledger.config import Home, load_settings
from careledger.consent import Purpose
from careledger.governance import Pause
from careledger.identity import Role
from careledger.node import Node
from tests.portal.conftest import PASSPHRASE, Clinic

pytestmark = pytest.mark.anvil

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
REASON = "Claims paused while the insurers review their caps"
DELAY = 3600


def _lab(patient_id: str, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "valueQuantity": {"value": value, "unit": "mg/dL"},
    }


@contextmanager
def _operator(clinic: Clinic) -> Iterator[Node]:
    """The node of the clinic's home, opened as `careledger` commands open it, beside the serving process."""
    home = Home(clinic.home)
    with Node(home, load_settings(home), lambda _wallet: PASSPHRASE, lazy=True) as node:
        yield node


def _records_of(node: Node, wallet: str, value: float) -> tuple[str, str]:
    """A Patient record and a lab result of `wallet`'s, written as `record add` writes them: their ids."""
    door = node.access.for_caller(Accessor(node.address, Purpose.HOPERAT))
    address = node.wallets.get(wallet).address
    person = {"resourceType": "Patient", "name": [{"family": wallet.title(), "given": ["Ann"]}]}
    patient_id = door.write(json.dumps(person).encode(), patient_address=address).record_id
    lab = door.write(json.dumps(_lab(patient_id, value)).encode(), patient_address=address).record_id
    return patient_id, lab


@pytest.fixture(scope="module")
def people(clinic: Clinic) -> dict[str, str]:
    """Olivia, this node's governance officer; carol's and alice's records, in one process as the operator's
    commands would."""
    with _operator(clinic) as node:
        for name, role in (("olivia", Role.PRACTITIONER), ("alice", Role.PATIENT)):
            node.wallets.create(name, role, PASSPHRASE)
            node.identity.register(name, "")
        for kind in ("affiliation", "governance-officer"):
            node.identity.attest("node", clinic.address("olivia"), kind, days=30)
        carol_patient, carol_lab = _records_of(node, "carol", 101.5)
        _, alice_lab = _records_of(node, "alice", 202.5)
    return {"carol_patient": carol_patient, "carol_lab": carol_lab, "alice_lab": alice_lab}


@contextmanager
def _session(clinic: Clinic, wallet: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the portal as `wallet`, through the sign-in form."""
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}) as client:
        message, signature = clinic.signed_in_message(wallet)
        form = {"csrf": _csrf(client.get("/portal/signin").text), "message": message, "signature": signature}
        assert client.post("/portal/signin", data=form).status_code == 303
        yield client


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no form token on the page"
    return found.group(1)


def test_staff_see_the_council_and_its_governance_officer_votes_and_executes(
    people: dict[str, str], clinic: Clinic
) -> None:
    with _session(clinic, "drbob") as drbob, _session(clinic, "olivia") as olivia, _session(clinic, "carol") as carol:
        before = drbob.get("/portal/governance")
        assert before.status_code == 200
        assert "careledger governance bootstrap" in before.text
        assert carol.get("/portal/governance").status_code == 403

        with _operator(clinic) as node:
            members = [node.address, clinic.address("clinic")]
            node.governance.bootstrap(members, threshold=1, delay=DELAY, voting_period=86_400)
            proposal = node.governance.propose(Pause(), REASON).proposal_id
        page = drbob.get("/portal/governance").text
        assert REASON in page
        assert "Claims: pause every state-changing function" in page
        assert "Votes: 0 of the 1 needed" in page
        assert "1 h before anyone may carry it out, and then for 14 d" in page  # format_duration
        assert f'action="/portal/governance/{proposal}/vote"' not in page  # on the care team, no governance officer
        vote = f"/portal/governance/{proposal}/vote"
        assert drbob.post(vote, data={"csrf": _csrf(page)}).status_code == 403

        page = olivia.get("/portal/governance").text
        assert f'action="{vote}"' in page
        assert olivia.post(vote, data={"csrf": "0" * 64}).status_code == 403  # a stale form token
        assert olivia.post(vote, data={"csrf": _csrf(page)}).status_code == 303
        page = olivia.get("/portal/governance").text
        assert f"Proposal {proposal}: queued" in page
        assert "may be carried out from" in page
        again = olivia.post(vote, data={"csrf": _csrf(page)})
        assert again.status_code == 409
        assert "takes no more votes" in again.text
        early = olivia.post(f"/portal/governance/{proposal}/execute", data={"csrf": _csrf(page)})
        assert early.status_code == 409
        assert "too early" in early.text
        assert olivia.post("/portal/governance/99/execute", data={"csrf": _csrf(page)}).status_code == 404
        assert olivia.post("/portal/governance/x1/execute", data={"csrf": _csrf(page)}).status_code == 400

        with _operator(clinic) as node:
            eta = node.governance.show(proposal).eta
        assert eta is not None
        clinic.mine_at(eta + 1)
        done = olivia.post(f"/portal/governance/{proposal}/execute", data={"csrf": _csrf(page)})
        assert done.status_code == 303, done.text
        assert "No proposal is pending" in olivia.get("/portal/governance").text
        assert f"Proposal {proposal}: executed" in olivia.get("/portal/governance?all=1").text


def _prepared(client: httpx.Client, record: str, *, confirm: bool = True) -> httpx.Response:
    csrf = _csrf(client.get("/portal/consents").text)
    form = {"csrf": csrf, "record": record, **({"confirm": "yes"} if confirm else {})}
    return client.post("/portal/erase/prepare", data=form, headers={"Accept": "application/json"})


def _signed(typed: dict[str, Any], key: bytes) -> str:
    return "0x" + bytes(Account.sign_typed_data(key, full_message=typed).signature).hex()


def test_she_previews_signs_and_erases_a_record_and_forgeries_erase_nothing(
    people: dict[str, str], clinic: Clinic
) -> None:
    lab, theirs = f"Observation/{people['carol_lab']}", f"Observation/{people['alice_lab']}"
    with _session(clinic, "carol") as carol:
        assert f'value="{lab}"' in carol.get("/portal/erase").text
        assert theirs not in carol.get("/portal/erase").text
        preview = carol.get(f"/portal/erase?record={lab}")
        assert preview.status_code == 200
        assert people["carol_lab"] in preview.text
        assert "its salt is destroyed with the record" in preview.text  # what erasure does not reach, said
        another = carol.get(f"/portal/erase?record={theirs}")
        unknown = carol.get("/portal/erase?record=Observation/no-such-record")
        assert another.status_code == unknown.status_code == 404
        assert another.text.replace(people["alice_lab"], "X") == unknown.text.replace("no-such-record", "X")
        assert _prepared(carol, theirs).status_code == 404
        assert _prepared(carol, lab, confirm=False).status_code == 400

        prepared = _prepared(carol, lab)
        assert prepared.status_code == 200, prepared.text
        typed = prepared.json()
        request = typed.pop("echo")["request"]
        csrf = _csrf(carol.get("/portal/consents").text)
        forged = {"csrf": csrf, "request": request, "signature": _signed(typed, clinic.account("alice").key)}
        assert carol.post("/portal/erase", data=forged).status_code == 401
        signature = _signed(typed, clinic.account("carol").key)
        widened = {**json.loads(request), "scope": {"all": True}}  # her signature, another scope
        tampered = {"csrf": csrf, "request": json.dumps(widened), "signature": signature}
        assert carol.post("/portal/erase", data=tampered).status_code == 401
        assert carol.get(f"/portal/records/{people['carol_lab']}").status_code == 200  # nothing erased
        assert "101.5" in carol.get(f"/portal/records/{people['carol_lab']}").text

        signed = {"csrf": csrf, "request": request, "signature": signature}
        erased = carol.post("/portal/erase", data=signed)
        assert erased.status_code == 303, erased.text
        request_id = json.loads(request)["nonce"]
        assert erased.headers["location"] == f"/portal/erasures#{request_id}"
        gone = carol.get(f"/portal/records/{people['carol_lab']}")
        assert gone.status_code in (404, 410)
        assert "101.5" not in gone.text
        assert carol.get(f"/portal/records/{people['carol_patient']}").status_code == 200  # only what she named
        status = carol.get("/portal/erasures").text
        assert request_id in status
        assert "No other node had fetched copies" in status
        assert carol.post("/portal/erase", data=signed).status_code == 401  # replayed
