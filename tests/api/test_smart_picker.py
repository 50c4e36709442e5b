"""The patient picker of a standalone SMART launch: a patient's live delegate (her guardian, a proxy) chooses whom
the app opens, and the app then reads that patient's records as the policy lets the delegate, at the patient's
request, in her accounting.

One world and one server for the module; each test sets the delegation it needs. The test plays the browser
(the pages' forms, a SIWE message signed by an eth-account key) and the app (authlib's OAuth2Session).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from eth_account.signers.local import LocalAccount

from careledger.access import Accessor
from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.identity import Wallet
from careledger.records import Category
from careledger.testdata import insure, synthetic_patients
from tests.access.conftest import World, built_world
from tests.api.conftest import Api, serving
from tests.outside_wallet import signed_in_message

REDIRECT = "http://127.0.0.1:9/callback"  # the app's; never fetched: the test reads the redirect itself
SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"
GENERAL = [category for category in Category if not category.sensitive]


@pytest.fixture(scope="module")
def smart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("picker")) / "home") as world, serving(world) as api:
        guardian = synthetic_patients(1, seed=5)[0].patient  # the guardian is a patient here too
        world.node._records.write(guardian, patient_address=world.guardian.address)
        carol = _patient_wallet(world, "carol")  # another patient, whom the guardian may represent as well
        chart = synthetic_patients(1, seed=7)[0]
        world.node._records.write(chart.patient, patient_address=carol.address)
        for resource in chart.resources:
            if resource is not chart.patient:
                world.node._records.write(resource)
        # A result of Alice's about the guardian's Patient (`focus` is no compartment reference: it stays Alice's).
        labs = world.node._records.open(world.node._records.get(world.labs_id))
        world.node._records.write({**labs, "id": "focused", "focus": [{"reference": f"Patient/{guardian['id']}"}]})
        yield api


def _patient_wallet(world: World, name: str) -> Wallet:
    wallet = world.node.wallets.create(name, Role.PATIENT, "pw")
    registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    return wallet


class _Page(HTMLParser):
    """An authorization page's form as a browser submits it: its hidden fields, and the patients it offers."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.patients: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[str(found["name"])] = str(found.get("value") or "")
        if tag == "input" and found.get("type") == "radio" and found.get("name") == "patient":
            self.patients.append(str(found["value"]))


class _App:
    """A registered app starting a standalone launch, as authlib's client does it."""

    def __init__(self, api: Api, scope: str = SCOPE) -> None:
        self.api = api
        client = api.world.node.clients.register_app("Family app", [REDIRECT], [])
        self.session = OAuth2Session(client.client_id, redirect_uri=REDIRECT, scope=scope, code_challenge_method="S256")
        self.verifier = generate_token(48)
        url, _ = self.session.create_authorization_url(
            f"{api.url}/auth/authorize", code_verifier=self.verifier, aud=api.url
        )
        self.page = _Page(httpx.get(url).text)

    def sign_in(self, account: LocalAccount) -> httpx.Response:
        message, signature = signed_in_message(self.api.url, account)
        data = {**self.page.fields, "message": message, "signature": signature}
        return httpx.post(f"{self.api.url}/auth/authorize", data=data)

    def token(self, location: str) -> dict[str, object]:
        return dict(
            self.session.fetch_token(
                f"{self.api.url}/auth/token", authorization_response=location, code_verifier=self.verifier
            )
        )


def _account(api: Api, wallet: Wallet) -> LocalAccount:
    return api.world.node.unlock(wallet.name).account


def _patient_id(api: Api, wallet: Wallet) -> str:
    (patient,) = api.world.node._records.list(patient_address=wallet.address, resource_type="Patient")
    return patient.record_id


def _delegate(api: Api, categories: list[Category], *, days: float, by: str = "alice") -> None:
    """Alice (or the patient whose wallet is `by`) names the guardian her delegate in `categories` for `days` (0:
    she ends it)."""
    world = api.world
    world.node.consent.delegate(by, world.guardian.address, categories, days=days)


def _choose(api: Api, picker: _Page, patient_id: str) -> httpx.Response:
    return httpx.post(f"{api.url}/auth/authorize", data={**picker.fields, "patient": patient_id})


def _fhir(token: dict[str, object], api: Api) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=30)


def _proxy_token(api: Api) -> dict[str, object]:
    """The guardian's token from a launch where she chose Alice."""
    app = _App(api)
    picker = _Page(app.sign_in(_account(api, api.world.guardian)).text)
    return app.token(_choose(api, picker, _patient_id(api, api.world.alice)).headers["location"])


def test_a_delegate_chooses_the_patient_and_the_app_reads_her_records_others_see_no_picker(smart: Api) -> None:
    world = smart.world
    _delegate(smart, [Category.GENERAL, Category.LABS], days=30)
    alice, own = _patient_id(smart, world.alice), _patient_id(smart, world.guardian)
    app = _App(smart)
    offered = app.sign_in(_account(smart, world.guardian))
    assert offered.status_code == 200, offered.text
    picker = _Page(offered.text)
    assert picker.patients == [own, alice]  # herself first, then whom she acts for
    assert "(you)" in offered.text
    assert "(no name)" not in offered.text  # each named from her Patient record, read through the delegate's door
    assert "form-action 'self' http://127.0.0.1:9" in offered.headers["content-security-policy"]

    answer = _choose(smart, picker, alice)
    assert answer.status_code == 302, answer.text
    token = app.token(answer.headers["location"])
    assert token["patient"] == alice
    assert token["scope"] == "launch/patient openid fhirUser patient/*.rs"  # read only, and no refresh token
    assert "refresh_token" not in token

    fhir = _fhir(token, smart)
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 200
    found = {e["resource"]["id"] for e in fhir.get("/Observation").json().get("entry", [])}
    assert world.labs_id in found  # her compartment: the patient she acts for
    assert fhir.get(f"/Condition/{world.mental_health_id}").status_code == 404  # not delegated: told as unknown
    assert fhir.post("/Observation", json={"resourceType": "Observation"}).status_code == 403  # she writes nothing

    accounting = world.node.disclosures.of(Accessor(world.alice.address, Purpose.PATRQT), world.alice.address)
    read = next(e.access for e in accounting if f"Observation/{world.labs_id}/_history/1" in e.access.entities)
    assert (read.agent, read.patient, read.purpose, read.allowed) == (
        world.guardian.address,
        world.alice.address,
        "PATRQT",
        True,
    )

    mine = _App(smart)  # Alice delegated to the guardian; nobody delegated to her: no picker
    answer = mine.sign_in(_account(smart, world.alice))
    assert answer.status_code == 302
    assert mine.token(answer.headers["location"])["patient"] == alice


def test_choosing_herself_opens_her_own_record(smart: Api) -> None:
    world = smart.world
    _delegate(smart, [Category.GENERAL], days=30)
    app = _App(smart)
    picker = _Page(app.sign_in(_account(smart, world.guardian)).text)
    token = app.token(_choose(smart, picker, _patient_id(smart, world.guardian)).headers["location"])
    assert token["patient"] == _patient_id(smart, world.guardian)
    assert "offline_access" in str(token["scope"])  # her own authorization, as without a picker
    assert _fhir(token, smart).get(f"/Observation/{world.labs_id}").status_code == 404  # as herself: not hers


def test_a_forged_or_replayed_choice_is_refused(smart: Api) -> None:
    world = smart.world
    _delegate(smart, [Category.GENERAL, Category.LABS], days=30)
    app = _App(smart)
    picker = _Page(app.sign_in(_account(smart, world.guardian)).text)
    forged = _choose(smart, picker, "someone-else")
    assert forged.status_code == 302
    assert parse_qs(urlsplit(forged.headers["location"]).query)["error"] == ["access_denied"]
    replayed = _choose(smart, picker, _patient_id(smart, world.alice))  # the ticket was used up
    assert replayed.status_code == 401
    assert "location" not in replayed.headers

    picker = _Page(app.sign_in(_account(smart, world.guardian)).text)
    moved = {**picker.fields, "scope": "launch/patient patient/*.rs", "patient": _patient_id(smart, world.alice)}
    assert httpx.post(f"{smart.url}/auth/authorize", data=moved).status_code == 401  # held for another request

    mallory = _App(smart)  # a patient chosen by someone she did not delegate to
    signed = mallory.sign_in(_account(smart, world.mallory))
    assert signed.status_code == 302  # no picker for her
    ticketed = {**mallory.page.fields, "ticket": picker.fields["ticket"], "patient": _patient_id(smart, world.alice)}
    assert httpx.post(f"{smart.url}/auth/authorize", data=ticketed).status_code == 401


def test_an_ended_or_expired_delegation_offers_no_picker_and_reads_are_refused(smart: Api) -> None:
    world = smart.world
    _delegate(smart, [Category.GENERAL, Category.LABS], days=30)
    fhir = _fhir(_proxy_token(smart), smart)
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 200
    _delegate(smart, [], days=0)  # she ends it
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 404
    assert fhir.get("/Observation").json()["total"] == 0
    app = _App(smart)
    answer = app.sign_in(_account(smart, world.guardian))
    assert answer.status_code == 302  # no picker: the app opens her own record
    assert app.token(answer.headers["location"])["patient"] == _patient_id(smart, world.guardian)

    expiry = world.node.chain.w3.eth.get_block("latest")["timestamp"] + 6  # a few seconds of the chain's time
    _delegate(smart, [Category.GENERAL, Category.LABS], days=(expiry - time.time()) / 86_400)
    fhir = _fhir(_proxy_token(smart), smart)
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 200
    time.sleep(max(0.0, expiry - time.time()) + 0.5)
    assert fhir.get(f"/Observation/{world.labs_id}").status_code == 404  # expired
    assert _App(smart).sign_in(_account(smart, world.guardian)).status_code == 302


def test_a_launch_asking_no_patient_neither_picks_nor_reads_whom_she_acts_for(smart: Api) -> None:
    world = smart.world
    _delegate(smart, [Category.GENERAL, Category.LABS], days=30)

    def guardian_reads() -> int:
        accounting = world.node.disclosures.of(Accessor(world.alice.address, Purpose.PATRQT), world.alice.address)
        return sum(e.access.agent == world.guardian.address for e in accounting)

    before = guardian_reads()
    app = _App(smart, "openid patient/*.rs")
    answer = app.sign_in(_account(smart, world.guardian))
    assert answer.status_code == 302  # no picker without launch/patient
    assert "patient" not in app.token(answer.headers["location"])
    assert guardian_reads() == before  # nothing of Alice's was looked at for it


def _unknown(response: httpx.Response, words: str) -> None:
    """The answer is an unknown id's: 404, in its words."""
    assert response.status_code == 404, response.text
    assert response.json()["issue"][0]["diagnostics"] == words


def _exported(client: httpx.Client, kick_off: str) -> tuple[str, list[dict[str, object]]]:
    """The status URL of an export `client` started, and the records it wrote once it finished."""
    kick = client.get(kick_off)
    assert kick.status_code == 202, kick.text
    job = kick.headers["content-location"]
    for _ in range(300):
        status = client.get(job)
        if status.status_code == 200:
            break
        time.sleep(0.1)
    assert status.status_code == 200, status.text
    return job, [
        json.loads(line) for out in status.json()["output"] for line in client.get(out["url"]).text.splitlines()
    ]


def test_a_token_for_one_patient_reaches_neither_the_delegates_nor_another_represented_patients_records(
    smart: Api,
) -> None:
    world = smart.world
    carol = world.node.wallets.get("carol")
    _delegate(smart, GENERAL, days=30)
    _delegate(smart, GENERAL, days=30, by="carol")
    try:
        alice, own, carols = (_patient_id(smart, w) for w in (world.alice, world.guardian, carol))
        result = world.node._records.list(patient_address=carol.address, resource_type="Observation")[0].record_id
        herself = smart.client(world.guardian)  # her own token: as herself, at Carol's request, she reads them
        assert herself.get(f"/Observation/{result}", headers={"X-Purpose-Of-Use": "PATRQT"}).status_code == 200
        assert herself.get(f"/Patient/{own}").status_code == 200

        fhir = _fhir(_proxy_token(smart), smart)  # the token for Alice reaches Alice's compartment alone
        assert fhir.get(f"/Patient/{alice}").status_code == 200
        for other in (own, carols):
            _unknown(fhir.get(f"/Patient/{other}"), f"no record {other}")
            _unknown(fhir.get(f"/Patient/{other}/_history/1"), f"no record {other} version 1")
            _unknown(fhir.get(f"/Patient/{other}/_history"), f"no record {other}")
            _unknown(fhir.get(f"/Patient/{other}/$everything"), f"no Patient/{other} this caller may see")
        _unknown(fhir.get(f"/Observation/{result}"), f"no record {result}")
        _unknown(fhir.get(f"/Observation/{result}/_history/1"), f"no record {result} version 1")
        found = fhir.get("/Observation", params={"_id": "focused", "_include": "Observation:focus"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["focused"]  # not the guardian's Patient it names
        assert [e["resource"]["id"] for e in fhir.get("/Patient").json()["entry"]] == [alice]

        job, exported = _exported(fhir, "/Patient/$export")
        assert {world.node._records.get(str(r["id"])).patient_address for r in exported} == {world.alice.address}
        own_job, _ = _exported(herself, "/Patient/$export")
        _unknown(fhir.get(own_job), f"no export {own_job.rsplit('/', 1)[1]}")  # her own token's job
        _unknown(herself.get(job), f"no export {job.rsplit('/', 1)[1]}")  # and the other way round
        assert herself.delete(own_job).status_code == 202
    finally:
        _delegate(smart, [], days=0, by="carol")


def test_a_token_for_one_patient_lists_her_consents_not_the_delegates(smart: Api) -> None:
    world = smart.world
    consent = world.node.consent
    _delegate(smart, GENERAL, days=30)

    def granted(patient: Wallet) -> str:
        terms = consent.terms(patient.address, world.drbob.address, [Category.LABS], [Purpose.TREAT], days=1)
        return consent.grant(patient.name, terms).hex_id[2:]

    hers, own = granted(world.alice), granted(world.guardian)
    fhir = _fhir(_proxy_token(smart), smart)
    listed = {e["resource"]["id"] for e in fhir.get("/Consent").json().get("entry", [])}
    assert hers in listed
    assert own not in listed
    assert fhir.get(f"/Consent/{hers}").status_code == 200
    assert fhir.get(f"/Consent/{own}").status_code == 403


def test_a_token_for_one_patient_sees_her_coverage_not_the_delegates(smart: Api) -> None:
    world = smart.world
    insure(world.node, world.node.wallets.create("insurer", Role.INSURER, "pw"), [world.alice, world.guardian])
    _delegate(smart, GENERAL, days=30)
    alice, own = _patient_id(smart, world.alice), _patient_id(smart, world.guardian)

    def beneficiaries(client: httpx.Client, **params: str) -> list[str]:
        found = client.get("/Coverage", params=params).json().get("entry", [])
        return [e["resource"]["beneficiary"]["reference"] for e in found]

    herself = smart.client(world.guardian)  # her own token: her own coverage
    assert beneficiaries(herself, beneficiary=f"Patient/{own}") == [f"Patient/{own}"]
    fhir = _fhir(_proxy_token(smart), smart)
    assert beneficiaries(fhir, beneficiary=f"Patient/{alice}") == [f"Patient/{alice}"]
    assert beneficiaries(fhir, beneficiary=f"Patient/{own}") == []
    assert beneficiaries(fhir) == [f"Patient/{alice}"]


def test_the_picker_reads_one_patient_record_of_each_patient_she_acts_for(smart: Api) -> None:
    world = smart.world
    dave = _patient_wallet(world, "dave")
    for registration in synthetic_patients(2, seed=9):  # two Patient records of his, as after a re-registration
        world.node._records.write(registration.patient, patient_address=dave.address)
    _delegate(smart, [Category.GENERAL], days=30, by="dave")
    try:
        picker = _Page(_App(smart).sign_in(_account(smart, world.guardian)).text)
        accounting = world.node.disclosures.of(Accessor(dave.address, Purpose.PATRQT), dave.address)
        (read,) = [e.access for e in accounting if e.access.agent == world.guardian.address]
        assert len(read.entities) == 1  # the one record it shows, not every one of his
        assert read.entities[0].split("/")[1] in picker.patients
    finally:
        _delegate(smart, [], days=0, by="dave")
