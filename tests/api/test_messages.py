"""Messages over HTTP: `Communication/$send`, `$read`, `$receipts`, `$unread`, and the notification stream."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from eth_account.messages import encode_defunct

from careledger.access import AFFILIATION, wallet_reference
from careledger.config import NODE_WALLET
from careledger.identity import Wallet
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Alice's node behind a real server; drbob is in its care team, mallory is not."""
    with built_world(tmp_path_factory.mktemp("messages-api") / "home") as world:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        with serving(world) as api:
            yield api


@pytest.fixture(scope="module")
def patient_id(api: Api) -> str:
    node = api.world.node
    return node._records.list(resource_type="Patient", patient_address=api.world.alice.address)[0].record_id


def parameters(**values: object) -> dict[str, object]:
    found: list[dict[str, object]] = []
    for name, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            kind = "valueAttachment" if isinstance(one, dict) else "valueString"
            found.append({"name": name, kind: one})
    return {"resourceType": "Parameters", "parameter": found}


def test_a_patient_is_refused_a_message_to_an_unrelated_practitioner(api: Api, patient_id: str) -> None:
    alice = api.client(api.world.alice)
    mallory = api.world.mallory.address
    plain = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "recipient": [wallet_reference("Practitioner", mallory, api.world.node.chain_id)],
        "payload": [{"contentString": "hello"}],
    }
    assert alice.post("/Communication", json=plain).status_code == 403
    refused = alice.post(
        "/Communication/$send", json=parameters(patient=f"Patient/{patient_id}", to=mallory, text="hi")
    )
    assert refused.status_code == 403
    unknown = alice.post(
        "/Communication/$send", json=parameters(patient=f"Patient/{patient_id}", to="0x" + "ab" * 20, text="hi")
    )
    assert unknown.status_code == 403
    assert unknown.json()["issue"][0]["diagnostics"] == refused.json()["issue"][0]["diagnostics"]
    entry = api.world.node.audit.entries()[-1]
    assert (entry.access.agent, entry.access.allowed) == (api.world.alice.address, False)


def test_a_stream_hears_the_message_and_receipts_follow(api: Api, patient_id: str) -> None:
    drbob = api.client(api.world.drbob)
    alice = api.client(api.world.alice)
    lines: list[str] = []
    connected = threading.Event()
    heard = threading.Event()

    def listen() -> None:
        with drbob.stream("GET", "/telehealth/events", timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                lines.append(line)
                connected.set()
                if line.startswith("data:") and '"communication"' in line:
                    heard.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(30)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
    sent = alice.post(
        "/Communication/$send",
        json=parameters(
            patient=f"Patient/{patient_id}",
            to=api.world.drbob.address,
            text="a secret symptom",
            attachment={"contentType": "image/png", "data": png, "title": "rash.png"},
        ),
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert heard.wait(30)
    data = json.loads(lines[-1].removeprefix("data:"))
    assert data["communication"] == message["id"]
    assert data["thread"] == message["id"]
    assert data["unread"] >= 1
    assert all("secret" not in line for line in lines)

    unread = drbob.get("/Communication/$unread").json()
    assert unread["parameter"][0]["valueInteger"] >= 1
    read = drbob.post(f"/Communication/{message['id']}/$read")
    assert read.status_code == 200
    own = alice.post(f"/Communication/{message['id']}/$read")  # she sent it: it was not sent to her
    assert own.status_code == 404, own.text
    assert own.json()["resourceType"] == "OperationOutcome"
    receipts = alice.get(f"/Communication/{message['id']}/$receipts").json()["parameter"]
    by_reader = {p["part"][0]["valueString"]: p["part"][1]["valueBoolean"] for p in receipts}
    assert by_reader == {api.world.alice.address: True, api.world.drbob.address: True}
    assert drbob.get(f"/Communication?part-of=Communication/{message['id']}").status_code == 200


@pytest.mark.parametrize(
    ("attachment", "status"),
    [
        ({"contentType": "text/html", "data": base64.b64encode(b"<script>").decode()}, 400),
        (
            {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-" + b"x" * (2 * 1024 * 1024)).decode()},
            413,
        ),
        ({"contentType": "image/png", "data": "not base64!"}, 400),
    ],
)
def test_a_bad_attachment_is_a_4xx(api: Api, patient_id: str, attachment: dict[str, str], status: int) -> None:
    alice = api.client(api.world.alice)
    body = parameters(patient=f"Patient/{patient_id}", to=api.world.drbob.address, text="x", attachment=attachment)
    assert alice.post("/Communication/$send", json=body).status_code == status


def test_a_strangers_stream_is_refused(api: Api) -> None:
    assert httpx.get(f"{api.url}/telehealth/events", timeout=10).status_code == 401
    forged = {"Authorization": "Bearer not.a.token"}
    assert httpx.get(f"{api.url}/telehealth/events", headers=forged, timeout=10).status_code == 401
    stranger = api.client(api.world.mallory)
    assert stranger.post("/Communication/unknown-id/$read").status_code == 404


def portal_session(api: Api, wallet: Wallet) -> httpx.Client:
    """A browser-like client signed in to the portal as `wallet`, through the sign-in form."""
    client = httpx.Client(base_url=api.url, headers={"Origin": api.url}, timeout=30)
    found = CSRF.search(client.get("/portal/signin").text)
    assert found is not None
    account = api.world.node.unlock(wallet.name).account
    message = api.siwe_message(account)
    signature = "0x" + account.sign_message(encode_defunct(text=message)).signature.hex()
    form = {"csrf": found.group(1), "message": message, "signature": signature}
    assert client.post("/portal/signin", data=form).status_code == 303
    return client


def test_the_portal_stream_hears_a_message_and_ends_at_sign_out(api: Api, patient_id: str) -> None:
    browser = portal_session(api, api.world.drbob)
    events: list[str] = []
    opened, heard = threading.Event(), threading.Event()

    def listen() -> None:
        with browser.stream("GET", "/portal/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                events.append(line)
                opened.set()
                if '"communication"' in line:
                    heard.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(30)
    alice = api.client(api.world.alice)
    sent = alice.post(
        "/Communication/$send", json=parameters(patient=f"Patient/{patient_id}", to=api.world.drbob.address, text="hi")
    )
    assert sent.status_code == 201
    assert heard.wait(30)
    assert sent.json()["id"] in events[-1]
    listener.join(5)
    stranger = httpx.get(f"{api.url}/portal/events", timeout=10)
    assert stranger.status_code != 200
    assert not stranger.headers.get("content-type", "").startswith("text/event-stream")
