"""`POST /Patient/{id}/$claim`: a walk-in patient claims her identity with a wallet the project never saw."""

from __future__ import annotations

import time

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fhirpy import SyncFHIRClient

from careledger.access import Accessor, CodeState
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.crypto import PrivateKey
from careledger.records import Category
from careledger.testdata import synthetic_patients
from tests.api.conftest import Api


def _claim(
    api: Api,
    account: LocalAccount,
    record_id: str,
    code: str,
    key: PrivateKey,
    *,
    signer: LocalAccount | None = None,
    source: str = "127.0.0.1",
    key_hex: str | None = None,
) -> httpx.Response:
    """A claim posted as her wallet app would post it, from the loopback address `source`; `key_hex` instead of
    her key as registered on chain."""
    message = api.siwe_message(account)
    signature = "0x" + (signer or account).sign_message(encode_defunct(text=message)).signature.hex()
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "code", "valueString": code},
            {"name": "message", "valueString": message},
            {"name": "signature", "valueString": signature},
            {"name": "encryptionKey", "valueString": key_hex or key.public_key.to_bytes().hex()},
        ],
    }
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as client:
        return client.post(f"{api.url}/Patient/{record_id}/$claim", json=parameters)


def test_a_walk_in_claims_her_identity_with_her_own_wallet_then_reads_and_grants(api: Api) -> None:
    node = api.world.node
    generated = synthetic_patients(1, seed=77)[0]
    front_desk = Accessor(node.address)
    chart = [
        node.access.for_caller(front_desk).write({k: v for k, v in resource.items() if k != "identifier"})
        for resource in generated.resources
    ]
    record_id, identity = chart[0].record_id, chart[0].patient_address
    issued = node.claiming.issue(identity)
    wallet: LocalAccount = Account.create()  # hers, from any wallet app: the node never held it
    key = PrivateKey.derive(wallet.key)

    # Refusals first: not FHIR Parameters, a forged signature, a wrong code; each changes nothing.
    assert httpx.post(f"{api.url}/Patient/{record_id}/$claim", json={"code": "x"}).status_code == 400
    forged = _claim(api, wallet, record_id, issued.code, key, signer=Account.create())
    assert forged.status_code == 401, forged.text
    wrong = _claim(api, wallet, record_id, "0000-0000-0000", key)
    assert wrong.status_code == 403, wrong.text
    assert "wrong claim code" in wrong.text
    denial = node.audit.entries(patient=identity)[-1].access
    assert (denial.interaction, denial.allowed, denial.agent) == ("claim", False, wallet.address)
    assert node.custodial.holds(identity)

    claimed = _claim(api, wallet, record_id, issued.code, key)
    assert claimed.status_code == 200, claimed.text
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in claimed.json()["parameter"]}
    assert (values["patient"], values["wallet"]) == (identity, wallet.address)
    assert values["resealed"] == len(chart)
    assert not node.custodial.holds(identity)
    assert _claim(api, Account.create(), record_id, issued.code, key).status_code == 403  # used

    # Her wallet signs in as her and reads every record, through a stock FHIR client.
    login = api.login_response(wallet, api.siwe_message(wallet))
    assert login.status_code == 200, login.text
    assert login.json()["address"] == identity
    fhir = SyncFHIRClient(api.url, authorization=f"Bearer {login.json()['access_token']}")
    assert fhir.reference("Patient", record_id).to_resource()["id"] == record_id
    observations = {r.id for r in fhir.resources("Observation").search(patient=record_id).fetch_all()}
    assert observations == {s.record_id for s in chart if s.resource_type == "Observation"}
    # ...and opens them with her own key: the node re-sealed them to it.
    for stored in chart:
        assert node._records.decrypt(node._records.get(stored.record_id), key)["id"] == stored.record_id

    # From now on she grants, with an EIP-712 signature of her wallet; the node may not.
    lab = api.world.clinic.address
    terms = node.consent.terms(identity, lab, [Category.LABS], [Purpose.TREAT], days=30)
    granted = node.consent.submit(NODE_WALLET, node.consent.sign(wallet, terms))
    assert (granted.patient, granted.granted_by) == (identity, wallet.address)


def test_a_stranger_hammering_codes_from_one_address_is_throttled_before_any_code_burns(api: Api) -> None:
    node = api.world.node
    front_desk = Accessor(node.address)
    walk_ins = []
    for seed in (78, 79):
        patient = synthetic_patients(1, seed=seed)[0].patient
        stored = node.access.for_caller(front_desk).write({k: v for k, v in patient.items() if k != "identifier"})
        walk_ins.append((stored.record_id, node.claiming.issue(stored.patient_address)))
    stranger, key = Account.create(), PrivateKey.generate()
    answers = [
        _claim(api, stranger, record_id, "0000-0000-0000", key, source="127.0.0.2")
        for record_id, _ in walk_ins
        for _ in range(3)
    ]
    assert [a.status_code for a in answers[:3]] == [403] * 3
    assert all(a.status_code == 429 for a in answers[3:]), [a.text for a in answers]  # the next code, too
    assert "from your network address" in answers[3].text
    assert int(answers[3].headers["Retry-After"]) > 60
    for record_id, issued in walk_ins:
        status = node.claiming.status(node.claiming.patient_of(record_id))
        assert (status.state, status.failures) == (CodeState.LIVE, 3 if record_id == walk_ins[0][0] else 0)
        # Her phone is another address: her code works.
        wallet: LocalAccount = Account.create()
        claimed = _claim(api, wallet, record_id, issued.code, PrivateKey.derive(wallet.key), source="127.0.0.3")
        assert claimed.status_code == 200, claimed.text


def test_a_claim_that_is_not_the_patients_is_answered_alike_whatever_the_reason(api: Api) -> None:
    """Unknown id, no code issued, a wrong code for a live, expired or used one: one status, one body."""
    node = api.world.node
    front_desk = Accessor(node.address)
    walk_ins = {}
    for name, seed in (("no code", 80), ("live", 81), ("expired", 82), ("used", 83)):
        patient = synthetic_patients(1, seed=seed)[0].patient
        walk_ins[name] = node.access.for_caller(front_desk).write(
            {k: v for k, v in patient.items() if k != "identifier"}
        )
    node.claiming.issue(walk_ins["live"].patient_address)
    expired = node.claiming.issue(walk_ins["expired"].patient_address, days=0.1 / 86_400)
    owner: LocalAccount = Account.create()
    used = node.claiming.issue(walk_ins["used"].patient_address)
    claimed = _claim(
        api, owner, walk_ins["used"].record_id, used.code, PrivateKey.derive(owner.key), source="127.0.1.1"
    )
    assert claimed.status_code == 200, claimed.text
    time.sleep(0.2)  # the expired one has expired

    stranger, key = Account.create(), PrivateKey.generate()
    records = {"unknown": "no-such-patient", **{name: stored.record_id for name, stored in walk_ins.items()}}
    answers = {
        name: _claim(api, stranger, record_id, "0000-0000-0000", key, source=f"127.0.1.{10 + n}")
        for n, (name, record_id) in enumerate(records.items())
    }
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(records, 403)
    bodies = {a.content for a in answers.values()}
    assert len(bodies) == 1, bodies
    assert "wrong claim code for this Patient" in answers["unknown"].text
    right = _claim(api, stranger, walk_ins["expired"].record_id, expired.code, key, source="127.0.1.30")
    assert right.status_code == 403
    assert "expired at" in right.text  # said to the holder of the right code only


def test_an_encryption_key_without_its_suite_byte_is_refused_with_the_format_expected(api: Api) -> None:
    wallet: LocalAccount = Account.create()
    key = PrivateKey.derive(wallet.key)
    raw = key.public_key.raw.hex()  # the bare X25519 key, as most libraries print it
    refused = _claim(api, wallet, "any-patient", "0000-0000-0000", key, key_hex=raw)
    assert refused.status_code == 400, refused.text
    diagnostics = refused.json()["issue"][0]["diagnostics"]
    assert "suite byte" in diagnostics
    assert "01 and the 32 bytes of an X25519 key (66 hex digits" in diagnostics
    assert _claim(api, wallet, "any-patient", "0000-0000-0000", key, key_hex="zz").status_code == 400
