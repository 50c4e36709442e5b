"""The visit room over a real server: ICE servers, and the room's WebSocket with a real WebSocket client.

Alice's Appointment with Dr Bob starts now; Mallory is on the care team but not named by it. Refusals come
before the socket is accepted, with the status an API request would get; what a browser may not send closes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.sync.connection import Connection
from websockets.typing import Origin

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from careledger.fhir import fhir_instant, systems
from careledger.identity import did_pkh
from careledger.telehealth import MAX_MESSAGE_BYTES
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Alice's node behind a real server; Dr Bob and Mallory on its care team."""
    with built_world(Path(tmp_path_factory.mktemp("rooms-api")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        for wallet in (world.drbob, world.mallory):
            registry.attest(wallet.address, AFFILIATION, int(time.time()) + 3600)
        yield api


@pytest.fixture(scope="module")
def tokens(api: Api) -> dict[str, str]:
    """A bearer token for each of alice, Dr Bob and Mallory."""
    world = api.world
    return {
        w.name: api.client(w).headers["Authorization"].removeprefix("Bearer ")
        for w in (world.alice, world.drbob, world.mallory)
    }


def _book(api: Api, token: str, start: datetime) -> str:
    """An Appointment of alice's with Dr Bob from `start`, created by Dr Bob through the API."""
    world = api.world
    alice = httpx.get(f"{api.url}/Patient", headers={"Authorization": f"Bearer {token}"}).json()["entry"][0]
    did = did_pkh(world.node.chain_id, world.drbob.address)
    return book_by_hand(api.url, token, alice["resource"]["id"], did, start)


def book_by_hand(url: str, token: str, patient_id: str, practitioner: str, start: datetime) -> str:
    """The id of a booked 30-minute Appointment of `patient_id` with the practitioner whose `did:pkh` is
    `practitioner`, from `start`, created with a plain `POST /Appointment` under `token` (a provider's)."""
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": fhir_instant(start, precision="seconds"),
        "end": fhir_instant(start + timedelta(minutes=30), precision="seconds"),
        "participant": [
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
            {
                "actor": {"type": "Practitioner", "identifier": {"system": systems.URI, "value": practitioner}},
                "status": "accepted",
            },
        ],
    }
    created = httpx.post(f"{url}/Appointment", json=appointment, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture(scope="module")
def appointment(api: Api, tokens: dict[str, str]) -> str:
    return _book(api, tokens["drbob"], datetime.now(UTC))


def _room_url(api: Api, appointment_id: str) -> str:
    return f"{api.url.replace('http://', 'ws://')}/telehealth/rooms/{appointment_id}"


@contextmanager
def _joined(api: Api, appointment_id: str, token: str, **headers: str) -> Iterator[Connection]:
    with connect(
        _room_url(api, appointment_id), additional_headers={"Authorization": f"Bearer {token}", **headers}
    ) as socket:
        yield socket


def _state(socket: Connection, **expected: Any) -> dict[str, Any]:
    """The first state of the room the socket is told that shows `expected`."""
    while True:
        message = json.loads(socket.recv(timeout=10))
        assert message["type"] == "room", message
        if all(message[key] == value for key, value in expected.items()):
            return dict(message)


def _relayed(socket: Connection) -> dict[str, Any]:
    """The next message that is not a state of the room."""
    while (message := json.loads(socket.recv(timeout=10)))["type"] == "room":
        pass
    return dict(message)


def _refused(api: Api, appointment_id: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The status and OperationOutcome of a handshake the node refuses."""
    with pytest.raises(InvalidStatus) as refused, connect(_room_url(api, appointment_id), additional_headers=headers):
        pass
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


def _read_all(socket: Connection) -> None:
    while True:
        socket.recv(timeout=10)


def _closed(socket: Connection) -> int:
    """The code the node closed the socket with (states it sent first are skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        _read_all(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_ice_servers_need_a_sign_in(api: Api, tokens: dict[str, str]) -> None:
    assert httpx.get(f"{api.url}/telehealth/ice-servers").status_code == 401
    answer = httpx.get(f"{api.url}/telehealth/ice-servers", headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert answer.status_code == 200
    assert answer.json() == {"iceServers": []}  # none configured: the browsers find their own host candidates
    assert answer.headers["cache-control"] == "no-store"


def test_ice_servers_for_a_room_need_its_admission(api: Api, tokens: dict[str, str], appointment: str) -> None:
    def asked(token: str, appointment_id: str) -> httpx.Response:
        return httpx.get(
            f"{api.url}/telehealth/ice-servers",
            params={"appointment": appointment_id},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert asked(tokens["alice"], appointment).status_code == 200
    assert asked(tokens["drbob"], appointment).status_code == 200
    unknown = asked(tokens["alice"], "no-such-appointment")
    stranger = asked(tokens["mallory"], appointment)  # on the care team, not named by the visit
    assert unknown.status_code == stranger.status_code == 404
    assert stranger.json()["issue"][0]["diagnostics"].replace(appointment, "ID") == unknown.json()["issue"][0][
        "diagnostics"
    ].replace("no-such-appointment", "ID")


def test_an_appointment_lasting_for_ever_is_refused_not_a_crash(api: Api, tokens: dict[str, str]) -> None:
    """A `minutesDuration` past any calendar (and no `end`) is a 400 at the room's door, never an overflow."""
    drbob = {"Authorization": f"Bearer {tokens['drbob']}"}
    alice = httpx.get(f"{api.url}/Patient", headers={"Authorization": f"Bearer {tokens['alice']}"}).json()
    did = did_pkh(api.world.node.chain_id, api.world.drbob.address)
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": fhir_instant(datetime.now(UTC), precision="seconds"),
        "minutesDuration": 2_000_000_000,
        "participant": [
            {"actor": {"reference": f"Patient/{alice['entry'][0]['resource']['id']}"}, "status": "accepted"},
            {
                "actor": {"type": "Practitioner", "identifier": {"system": systems.URI, "value": did}},
                "status": "accepted",
            },
        ],
    }
    created = httpx.post(f"{api.url}/Appointment", json=appointment, headers=drbob)
    assert created.status_code == 201, created.text
    appointment_id = created.json()["id"]
    status, outcome = _refused(api, appointment_id, drbob)
    assert status == 400, outcome
    assert "minutesDuration" in outcome["issue"][0]["diagnostics"]
    ice = httpx.get(f"{api.url}/telehealth/ice-servers", params={"appointment": appointment_id}, headers=drbob)
    assert ice.status_code == 400, ice.text


def test_patient_waits_is_admitted_and_the_two_signal(api: Api, tokens: dict[str, str], appointment: str) -> None:
    with _joined(api, appointment, tokens["alice"]) as alice:
        _state(alice, you="patient", patient="waiting", practitioner="away")
        with _joined(api, appointment, tokens["drbob"]) as drbob:
            _state(drbob, you="practitioner", patient="waiting", call=None)
            drbob.send(json.dumps({"type": "admit"}))
            call = _state(alice, patient="in", practitioner="in")["call"]
            assert call is not None
            _state(drbob, call=call)
            drbob.send(json.dumps(OFFER))
            assert _relayed(alice) == OFFER
            alice.send(json.dumps(ANSWER))
            assert _relayed(drbob) == ANSWER
            drbob.send(json.dumps({"type": "bye"}))
            assert _relayed(alice) == {"type": "bye"}
            assert _closed(drbob) == 1000


def test_a_strangers_socket_is_refused_as_an_unknown_appointment_is(
    api: Api, tokens: dict[str, str], appointment: str
) -> None:
    mallory = {"Authorization": f"Bearer {tokens['mallory']}"}
    status, outcome = _refused(api, appointment, mallory)
    unknown_status, unknown = _refused(api, "no-such-appointment", mallory)
    assert status == unknown_status == 404
    text = outcome["issue"][0]["diagnostics"].replace(appointment, "ID")
    assert text == unknown["issue"][0]["diagnostics"].replace("no-such-appointment", "ID")
    assert _refused(api, appointment, {})[0] == 401


def test_a_browser_session_from_another_site_is_refused(api: Api, tokens: dict[str, str], appointment: str) -> None:
    cookie = {"Cookie": f"careledger_session={tokens['alice']}"}
    assert _refused(api, appointment, {**cookie, "Origin": "https://evil.example"})[0] == 403
    assert _refused(api, appointment, cookie)[0] == 403  # a browser always names its page's origin
    with connect(_room_url(api, appointment), additional_headers=cookie, origin=Origin(api.url)) as alice:
        _state(alice, you="patient")


def test_outside_the_window_the_socket_is_refused(api: Api, tokens: dict[str, str]) -> None:
    tomorrow = _book(api, tokens["drbob"], datetime.now(UTC) + timedelta(days=1))
    status, outcome = _refused(api, tomorrow, {"Authorization": f"Bearer {tokens['alice']}"})
    assert status == 403
    assert "open from" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", 1008),
        (json.dumps({"type": "screen-share"}), 1008),
        (json.dumps({**OFFER, "sdp": "v=0" + "x" * MAX_MESSAGE_BYTES}), 1009),
        (json.dumps({"type": "admit"}), 4403),  # only a practitioner admits
    ],
)
def test_what_a_browser_must_not_send_closes_its_socket(
    api: Api, tokens: dict[str, str], appointment: str, message: str, code: int
) -> None:
    with _joined(api, appointment, tokens["alice"]) as alice:
        _state(alice)
        alice.send(message)
        assert _closed(alice) == code


def test_the_same_participant_joining_again_replaces_her_first_socket(
    api: Api, tokens: dict[str, str], appointment: str
) -> None:
    with _joined(api, appointment, tokens["alice"]) as first:
        _state(first)
        with _joined(api, appointment, tokens["alice"]) as second:
            _state(second)
            assert _closed(first) == 4409
