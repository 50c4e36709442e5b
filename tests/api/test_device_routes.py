"""Devices over HTTP: signed frames in with no sign-in, and the alert stream, each alert through the guarded door."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from eth_account import Account

from careledger.api import NodeServer
from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.crypto import sign_message
from careledger.identity import AFFILIATION
from careledger.iot import encode_frame
from careledger.testdata import PASSPHRASE
from tests.api.conftest import Api
from tests.iot.conftest import Ward, ward  # noqa: F401 - the module's ward

BINARY = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def api(ward: Ward) -> Iterator[Api]:  # noqa: F811 - uses the imported fixture
    server = NodeServer(ward.node, port=0)
    server.start()
    try:
        yield Api(server, ward)  # type: ignore[arg-type] - Api needs only `.node` of its world
    finally:
        server.stop()


def _post(api: Api, body: bytes, headers: dict[str, str] = BINARY) -> httpx.Response:
    return httpx.post(f"{api.url}/devices/readings", content=body, headers=headers)


def test_signed_frames_need_no_sign_in(api: Api, ward: Ward) -> None:  # noqa: F811
    frames = ward.frame(ward.readings(70, 71)) + ward.frame(ward.readings(72))
    response = _post(api, frames)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "refused": {}}


def test_a_retried_post_is_answered_as_duplicates(api: Api, ward: Ward) -> None:  # noqa: F811
    frame = ward.frame(ward.readings(70))
    assert _post(api, frame).json() == {"accepted": 1, "refused": {}}
    assert _post(api, frame).json() == {"accepted": 0, "refused": {"replayed-sequence": 1}}


def test_a_forged_frame_is_refused_and_counted(api: Api, ward: Ward) -> None:  # noqa: F811
    body = encode_frame(ward.node.address, ward.watch.address, ward.alice.address, ward.readings(70))
    response = _post(api, body + sign_message(Account.create(), body))
    assert response.json() == {"accepted": 0, "refused": {"forged-signature": 1}}


def test_a_value_no_body_could_show_is_a_400_that_says_so_and_the_rest_is_taken(
    api: Api,
    ward: Ward,  # noqa: F811
) -> None:
    raised = ward.node.monitor.raised
    good, broken = ward.readings(70, code="2339-0", unit="mg/dL") + ward.readings(1e308, code="2339-0", unit="mg/dL")
    response = _post(api, ward.frame([good, broken]))
    assert response.status_code == 400, response.text
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "1 reading(s) refused: a value outside what a body can show" in diagnostics
    assert "1 accepted" in diagnostics
    assert ward.node.monitor.raised == raised
    assert _post(api, ward.frame([good])).json() == {"accepted": 0, "refused": {"replayed-sequence": 1}}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\x01garbage", BINARY, 400),
        (b"{}", {"Content-Type": "application/json"}, 415),
        (b"x" * 20_000, BINARY, 413),
        (b"", BINARY, 400),
    ],
)
def test_bad_bodies_are_refused_with_an_operation_outcome(
    api: Api, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = _post(api, body, headers)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_alert_stream_needs_a_sign_in(api: Api) -> None:
    assert httpx.get(f"{api.url}/alerts/stream").status_code == 401


def _first_alert(api: Api, client: httpx.Client, trigger: threading.Event, seconds: float) -> dict[str, object] | None:
    """The first `alert` event on `client`'s stream (None if none comes within `seconds`), `trigger` set once open."""
    try:
        with client.stream("GET", "/alerts/stream", timeout=httpx.Timeout(5, read=seconds)) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                trigger.set()
                if line.startswith("data: "):
                    return json.loads(line.removeprefix("data: "))  # type: ignore[no-any-return]
    except httpx.ReadTimeout:
        return None
    return None


def test_an_alert_reaches_the_care_team_and_the_patient_and_not_another_patient(
    api: Api,
    ward: Ward,  # noqa: F811
) -> None:
    nurse = ward.node.wallets.create("nurse", Role.PRACTITIONER, PASSPHRASE)
    ward.node.identity.register("nurse")
    ward.node.identity.attest(NODE_WALLET, nurse.address, AFFILIATION, days=30)  # the node's care team
    opened = threading.Event()
    found: dict[str, object] = {}
    nurse_stream = threading.Thread(target=lambda: found.update(nurse=_first_alert(api, api.client(nurse), opened, 10)))
    nurse_stream.start()
    assert opened.wait(10)
    assert _post(api, ward.frame(ward.readings(72, 38)))  # below the default out-of-range limit
    nurse_stream.join()
    alert = found["nurse"]
    assert isinstance(alert, dict)
    assert (alert["rule"], alert["patient"]) == ("Heart rate out of range", ward.alice.address)
    _patient_and_not_another(api, ward)


def _patient_and_not_another(api: Api, ward: Ward) -> None:  # noqa: F811
    alice, bob = api.client(ward.alice), api.client(ward.bob)
    opened = [threading.Event(), threading.Event()]
    found: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda: found.update(alice=_first_alert(api, alice, opened[0], 10))),
        threading.Thread(target=lambda: found.update(bob=_first_alert(api, bob, opened[1], 4))),
    ]
    for thread in threads:
        thread.start()
    assert all(event.wait(10) for event in opened)
    assert _post(api, ward.frame(ward.readings(*[72] * 36))).json()["accepted"] == 36  # 35 s calm: episodes end
    response = _post(api, ward.frame(ward.readings(72, 180)))  # above the default out-of-range limit
    assert response.json()["accepted"] == 2
    for thread in threads:
        thread.join()
    alert = found["alice"]
    assert isinstance(alert, dict)
    assert alert["rule"] == "Heart rate out of range"
    assert alert["resource"]["resourceType"] == "Flag"
    assert alert["resource"]["subject"] == {"reference": f"Patient/{ward.watch.patient_record}"}
    assert found["bob"] is None
    refused = [e.access for e in ward.node.audit.entries() if e.access.agent == ward.bob.address]
    assert any(not a.allowed and alert["flag"] + "/_history/1" in a.entities for a in refused)  # asked, and denied
