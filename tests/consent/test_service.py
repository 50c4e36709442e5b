"""The consent service: the index follows the chain, the cache agrees with the contract, FHIR views."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.consent import Consent

from careledger.consent import (
    ConsentService,
    Purpose,
    consent_resource,
    parse_categories,
    parse_purposes,
    read_signed_consent,
    write_consent,
)
from careledger.errors import IntegrityError, InvalidSignature, TransactionReverted, ValidationError
from careledger.records import Category
from tests.access.conftest import World


def test_categories_and_purposes_parse_as_users_type_them() -> None:
    assert parse_categories("labs, vitals") == [Category.LABS, Category.VITALS]
    everything = parse_categories("all")
    assert Category.GENERAL in everything
    assert not any(category.sensitive for category in everything)
    assert parse_purposes("treat,HRESCH") == [Purpose.TREAT, Purpose.HRESCH]
    with pytest.raises(ValidationError, match="unknown category 'lab'"):
        parse_categories("lab")
    with pytest.raises(ValidationError, match="unknown purpose 'CARE'"):
        parse_purposes("CARE")


def test_the_cache_agrees_with_the_contract(world: World) -> None:
    terms = world.consent.terms(
        world.alice.address, world.clinic.address, [Category.LABS, Category.VITALS], [Purpose.TREAT], days=30
    )
    world.consent.grant(world.alice.name, terms)
    for category in Category:
        for purpose in Purpose:
            cached = world.consent.check(world.alice.address, world.clinic.address, category, purpose) is not None
            assert cached == world.consent.check_on_chain(world.alice.address, world.clinic.address, category, purpose)


def test_a_second_service_reads_the_index_the_first_wrote(world: World) -> None:
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    grant = world.consent.grant(world.alice.name, terms)
    fresh = ConsentService(world.node.db, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    assert fresh.sync() == 0  # the cursor is shared: nothing new
    assert fresh.check(world.alice.address, world.clinic.address, Category.LABS, Purpose.TREAT) == grant
    assert fresh.grants(patient=world.alice.address) == [grant]


def test_a_service_whose_cache_is_loaded_sees_what_another_process_indexed(world: World) -> None:
    """A server's cache, then a grant made by the CLI beside it (same database, cursor moved past it)."""
    server = ConsentService(world.node.db, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    assert server.check(world.alice.address, world.clinic.address, Category.LABS, Purpose.TREAT) is None
    server.sync()
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    grant = world.consent.grant(world.alice.name, terms)
    assert server.sync() == 0  # the other service indexed the event already
    assert server.check(world.alice.address, world.clinic.address, Category.LABS, Purpose.TREAT) == grant


def test_a_grant_as_a_fhir_consent(world: World) -> None:
    terms = world.consent.terms(
        world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT, Purpose.PATRQT], days=30
    )
    grant = world.consent.grant(world.alice.name, terms)
    resource = consent_resource(grant, chain_id=world.node.chain.chain_id, now=world.now[0])
    Consent.model_validate(resource)
    assert resource["status"] == "active"
    assert [p["code"] for p in resource["provision"]["purpose"]] == ["TREAT", "PATRQT"]
    assert resource["provision"]["actor"][0]["reference"]["identifier"]["value"].endswith(world.clinic.address)
    revoked = world.consent.revoke(world.alice.name, grant.grant_id)
    assert consent_resource(revoked, chain_id=1, now=world.now[0])["status"] == "inactive"


def test_a_signed_consent_travels_as_a_file(world: World, tmp_path: Path) -> None:
    alice = world.node.unlock(world.alice.name).account
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    signed = world.consent.sign(alice, terms)
    path = tmp_path / "consent.json"
    write_consent(path, signed.typed_data(), signed.signature)
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()).keys() == {"domain", "types", "primaryType", "message"}
    assert read_signed_consent(path) == signed
    tampered = dataclasses.replace(signed, terms=dataclasses.replace(terms, categories=Category.MENTAL_HEALTH.bit))
    with pytest.raises(IntegrityError, match="signed by"):
        world.consent.submit(world.clinic.name, tampered)
    elsewhere = dataclasses.replace(signed, chain_id=signed.chain_id + 1)
    with pytest.raises(ValidationError, match="signed for ConsentRegistry"):
        world.consent.submit(world.clinic.name, elsewhere)
    edited = json.loads(path.read_text())
    edited["message"]["categories"] = Category.MENTAL_HEALTH.bit
    path.write_text(json.dumps(edited))
    edited_signed = read_signed_consent(path)
    assert edited_signed.signer != alice.address  # the signature now recovers to someone else
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        world.consent.submit(world.clinic.name, edited_signed)
    with pytest.raises(InvalidSignature, match="65 bytes"):
        read_signed_consent(path, signature="0x1234")
    world.travel(8 * 86_400)
    with pytest.raises(ValidationError, match="past its deadline"):
        world.consent.submit(world.clinic.name, signed)
    path.write_text("{}")
    with pytest.raises(ValidationError, match="not a consent"):
        read_signed_consent(path)


def test_for_whom_a_wallet_is_a_live_delegate_follows_the_chain(world: World) -> None:
    guardian, alice = world.guardian.address, world.alice.address
    assert world.consent.represented(guardian) == {}
    world.consent.delegate(world.alice.name, guardian, [Category.GENERAL, Category.LABS], days=2)
    assert world.consent.represented(guardian) == {alice: frozenset({Category.GENERAL, Category.LABS})}
    assert world.consent.represented(alice) == {}  # she delegated; nobody delegated to her
    other = ConsentService(world.node.db, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    assert other.represented(guardian) == {alice: frozenset({Category.GENERAL, Category.LABS})}  # loaded now
    world.consent.delegate(world.alice.name, guardian, [], days=0)  # she ends it; another service (the CLI) indexes it
    other.sync()
    assert other.represented(guardian) == {}  # a cache loaded before the event that ended it is not kept
    world.consent.delegate(world.alice.name, guardian, [Category.LABS], days=1)
    world.travel(86_400 + 1)
    assert world.consent.represented(guardian) == {}  # expired


def test_a_worker_keeps_its_cache_when_another_indexed_only_blocks_without_consent_events(world: World) -> None:
    """Every worker follows the same chain into one database: the one that did not index a span drops its cache
    only if that span held consent events."""
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    grant = world.consent.grant(world.alice.name, terms)
    other = ConsentService(world.node.db, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    other.sync()
    assert other.check(world.alice.address, world.clinic.address, Category.LABS, Purpose.TREAT) == grant
    cached = other._index._pairs
    assert cached is not None

    world.node.chain.w3.provider.ethereum_tester.mine_blocks(3)  # type: ignore[attr-defined]
    assert world.consent.sync() == 0  # this worker indexes the empty blocks
    assert other.sync() == 0
    assert other._index._pairs is cached  # nothing changed: nothing reloaded

    world.consent.revoke(world.alice.name, grant.grant_id)  # indexed by this worker, as it syncs at once
    assert other.sync() == 0
    assert other.check(world.alice.address, world.clinic.address, Category.LABS, Purpose.TREAT) is None
