"""Fetching records between two real nodes on anvil: consent, revocation, tampering, replay."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from eth_account import Account

from careledger.audit import Outcome
from careledger.cli import run
from careledger.client import FhirClient
from careledger.config import NODE_WALLET, Home
from careledger.consent import Purpose
from careledger.errors import AccessDenied, IntegrityError, Unauthenticated
from careledger.exchange import FetchRequest, FetchResponse
from careledger.identity import WalletStore
from careledger.records import Category
from careledger.testdata import joining_node
from tests.exchange.conftest import Network

pytestmark = pytest.mark.anvil


def _signed(network: Network, categories: int = Category.LABS.bit, account: object = None) -> tuple[FetchRequest, dict]:
    signer = account or network.clinic.unlock(NODE_WALLET).account
    request = FetchRequest.new(
        signer.address,
        network.hospital.address,
        network.alice.address,
        categories,
        Purpose.TREAT.bit,  # type: ignore[attr-defined]
    )
    registry = network.clinic.contracts.identity_registry().address
    return request, request.sign(signer, network.clinic.chain.chain_id, registry).to_json()  # type: ignore[arg-type]


def _shares(network: Network) -> list[tuple[str, Outcome]]:
    entries = network.hospital.audit.entries()
    return [(e.access.agent, e.access.outcome) for e in entries if e.access.interaction == "share"]


def test_a_consented_fetch_is_verified_stored_with_provenance_and_audited_on_both_sides(network: Network) -> None:
    network.grant_labs()
    result = network.fetch([Category.LABS])
    assert sorted(s.record_id for s in result.stored) == sorted(network.labs)
    assert all(s.patient_address == network.alice.address for s in result.stored)
    lab = network.clinic._records.read(network.labs[0])
    assert lab == {**network.hospital._records.read(network.labs[0]), "meta": lab["meta"]}
    provenance = network.clinic._records.read(result.provenance_id or "")
    assert provenance["agent"][0]["who"]["identifier"]["value"].endswith(network.hospital.address)
    assert len(provenance["entity"]) == len(network.labs)
    assert _shares(network) == [(network.clinic.address, Outcome.SUCCESS)]
    received = [e for e in network.clinic.audit.entries() if e.access.interaction == "receive"]
    assert [len(e.access.entities) for e in received] == [len(network.labs)]
    # Stored by the clinic's own system repository for the exchange: its create is in alice's accounting there.
    kept = [e.access for e in network.clinic.audit.entries(patient=network.alice.address) if e.access.detail]
    assert [(a.agent, a.interaction, a.purpose, a.detail) for a in kept if a.detail == "exchange"] == [
        (network.clinic.address, "create", Purpose.TREAT.value, "exchange")
    ]


def test_without_consent_the_fetch_is_denied_and_audited(network: Network) -> None:
    with pytest.raises(AccessDenied, match="no consent"):
        network.fetch([Category.LABS])
    network.grant_labs()
    with pytest.raises(AccessDenied, match="mental-health"):
        network.fetch([Category.MENTAL_HEALTH])
    assert network.clinic._records.list(patient_address=network.alice.address) == []
    assert _shares(network) == [(network.clinic.address, Outcome.DENIED)] * 2


def test_a_revoke_between_two_fetches_denies_the_second_and_both_are_disclosed(network: Network) -> None:
    grant_id = network.grant_labs()
    network.fetch([Category.LABS])
    network.hospital.contracts.consent_registry(as_wallet="alice").revoke(
        network.alice.address, network.clinic.address, grant_id
    )
    with pytest.raises(AccessDenied, match="revoked"):
        network.fetch([Category.LABS])
    disclosures = [
        e for e in network.hospital.audit.entries(patient=network.alice.address) if e.access.interaction == "share"
    ]
    assert [e.access.outcome for e in disclosures] == [Outcome.SUCCESS, Outcome.DENIED]


def test_a_tampered_response_is_rejected_and_nothing_is_stored(network: Network) -> None:
    network.grant_labs()
    key = network.clinic.unlock(NODE_WALLET).encryption_key()
    for tamper in (_flip_a_ciphertext_bit, _wrong_proof, _other_commitment):
        request, signed = _signed(network)
        with FhirClient(network.url) as client:
            response = FetchResponse.from_json(client.exchange(signed))
        with pytest.raises(IntegrityError):
            network.clinic.requester.accept(request, tamper(response), key)
    assert network.clinic._records.list(patient_address=network.alice.address) == []


def _flip_a_ciphertext_bit(response: FetchResponse) -> FetchResponse:
    first = response.records[0]
    flipped = bytes([first.ciphertext[0] ^ 1]) + first.ciphertext[1:]
    return dataclasses.replace(
        response, records=(dataclasses.replace(first, ciphertext=flipped), *response.records[1:])
    )


def _wrong_proof(response: FetchResponse) -> FetchResponse:
    first = response.records[0]
    wrong = (bytes(32), *first.proof[1:]) if first.proof else (bytes(32),)
    return dataclasses.replace(response, records=(dataclasses.replace(first, proof=wrong), *response.records[1:]))


def _other_commitment(response: FetchResponse) -> FetchResponse:
    first, second = response.records[0], response.records[1]
    swapped = dataclasses.replace(first, salt=second.salt)
    return dataclasses.replace(response, records=(swapped, *response.records[1:]))


def test_an_unregistered_requester_is_refused(network: Network) -> None:
    network.grant_labs()
    stranger = Account.create()
    _, signed = _signed(network, account=stranger)
    with FhirClient(network.url) as client, pytest.raises(AccessDenied, match="not an active registered actor"):
        client.exchange(signed)


def test_a_replayed_or_forged_request_is_refused(network: Network) -> None:
    network.grant_labs()
    _, signed = _signed(network)
    with FhirClient(network.url) as client:
        client.exchange(signed)
        with pytest.raises(Unauthenticated, match="replay"):
            client.exchange(signed)
        _, other = _signed(network)
        forged = {**other, "signature": _signed(network, account=Account.create())[1]["signature"]}
        with pytest.raises(Unauthenticated, match="signed by"):
            client.exchange(forged)


def test_the_patients_own_agent_pulls_everything_the_hospital_holds_of_hers(network: Network, tmp_path: Path) -> None:
    agent = joining_node(tmp_path / "agent", network.hospital.settings, network.hospital)
    try:
        keystore = network.hospital.wallets.get("alice")
        shutil.copy(network.hospital.home.keystore_dir / "alice.json", agent.home.keystore_dir / "alice.json")
        alice = agent.unlock(keystore.name)
        (result,) = agent.requester.pull(alice.account, alice.encryption_key(), [network.hospital.address])
        held = {s.record_id for s in network.hospital._records.list(patient_address=network.alice.address)}
        assert {s.record_id for s in result.stored} == held
        assert network.mental_health_id in held
        assert agent._records.read(network.mental_health_id)["id"] == network.mental_health_id
    finally:
        agent.close()


def test_the_cli_joins_the_network_and_fetches(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "pw")
    deployments = next(network.hospital.home.deployments_dir.glob("*.json"))
    newcomer = ["--home", str(tmp_path / "newcomer"), "--chain", network.hospital.settings.chain]
    assert run([*newcomer, "init", "--light-kdf"]) == 0
    assert run([*newcomer, "chain", "status"]) == 0
    assert run([*newcomer, "chain", "adopt", str(deployments)]) == 0
    assert run([*newcomer, "chain", "deploy", "--json"]) == 0  # deploys nothing: the network's are current
    joined = Home(tmp_path / "newcomer")
    member = WalletStore(joined.keystore_dir).get(NODE_WALLET).address
    anchor = network.hospital.contracts.record_anchor()
    assert not anchor.is_anchorer(member)
    assert run([*newcomer, "chain", "admit", member]) == 5  # only the founder admits
    assert run(["--home", str(network.hospital.home.path), "chain", "admit", member]) == 0
    assert anchor.is_anchorer(member)
    network.grant_labs()
    clinic = ["--home", str(network.clinic.home.path)]
    hospital = network.hospital.address
    fetched = run(
        [*clinic, "exchange", "fetch", "--from", hospital, "--patient", network.alice.address, "--categories", "labs"]
    )
    assert fetched == 0
    assert len(network.clinic._records.list(patient_address=network.alice.address)) == len(network.labs) + 1
    denied = [
        "exchange",
        "fetch",
        "--from",
        hospital,
        "--patient",
        network.alice.address,
        "--categories",
        "mental-health",
    ]
    assert run([*clinic, *denied]) == 5
