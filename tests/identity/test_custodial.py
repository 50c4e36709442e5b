"""Custodial identities: a patient without a wallet gets one the node holds, registered as such on chain."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.access import Accessor
from careledger.config import Settings
from careledger.crypto import AtRestKey
from careledger.errors import AccessDenied, DecryptionError, NotFound
from careledger.identity import CustodialKeys
from careledger.node import Node
from careledger.records import SearchQuery, TokenCondition
from careledger.testdata import scratch_node, synthetic_patients


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with scratch_node(
        Path(tmp_path_factory.mktemp("custodial")) / "home", Settings(chain="memory", light_kdf=True)
    ) as node:
        yield node


def _walk_in(seed: int) -> dict[str, object]:
    """A Patient as a front desk registers her: a name, a birth date, a medical record number; no wallet."""
    patient = synthetic_patients(1, seed=seed)[0].patient
    return {
        "resourceType": "Patient",
        "name": patient["name"],
        "birthDate": patient["birthDate"],
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"MRN-{seed}"}],
    }


def test_keys_are_sealed_under_the_nodes_key_encryption_key(tmp_path: Path) -> None:
    kek = os.urandom(32)
    keys = CustodialKeys(tmp_path / "custodial", AtRestKey(kek))
    first, second = keys.create(2)
    path = tmp_path / "custodial" / f"{first.address}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    account = keys.account(first.address)
    assert account.address == first.address
    assert account.key.hex() not in path.read_text()
    assert keys.private_key(first.address).public_key == first.encryption_key
    with pytest.raises(DecryptionError):
        CustodialKeys(tmp_path / "custodial", AtRestKey(os.urandom(32))).account(first.address)
    path.write_text((tmp_path / "custodial" / f"{second.address}.key").read_text())  # another's key file
    with pytest.raises(DecryptionError):
        keys.account(first.address)
    keys.destroy(second.address)
    with pytest.raises(NotFound):
        keys.account(second.address)


def test_a_patient_without_a_wallet_gets_a_custodial_identity_on_chain(node: Node) -> None:
    stored = node.access.for_caller(Accessor(node.address)).write(_walk_in(1))
    address = stored.patient_address
    assert node.custodial.holds(address)
    registry = node.contracts.identity_registry()
    assert registry.custodian_of(address) == node.address
    actor = registry.require_actor(address)
    assert actor.encryption_key == node.custodial.public_key(address)
    # Her records are sealed to her key: it opens them without the node's.
    exported = list(node._records.export(address, node.custodial.private_key(address)))
    assert [resource["id"] for resource in exported] == [stored.record_id]
    # Found by her MRN, and a second version stays hers.
    found = node._records.search(SearchQuery(tokens=(TokenCondition("identifier", ("MRN-1",)),)))
    assert [s.record_id for s in found] == [stored.record_id]
    again = node.access.for_caller(Accessor(node.address)).write(
        {**_walk_in(1), "id": stored.record_id, "gender": "female"}
    )
    assert (again.version, again.patient_address) == (2, address)


def test_a_refused_write_leaves_no_identity_behind(node: Node) -> None:
    before = set(node.custodial.addresses())
    stranger = node.wallets.create("stranger", node.wallets.get("node").role, "pw")
    with pytest.raises(AccessDenied):
        node.access.for_caller(Accessor(stranger.address)).write(_walk_in(2))
    assert set(node.custodial.addresses()) == before


def test_a_bundle_of_walk_ins_is_registered_in_one_pipeline(node: Node) -> None:
    drafts = [node._records.prepare(_walk_in(10 + n)) for n in range(5)]
    stored = node.access.for_caller(Accessor(node.address)).store(drafts)
    addresses = {s.patient_address for s in stored}
    assert len(addresses) == 5
    registry = node.contracts.identity_registry()
    assert all(registry.custodian_of(address) == node.address for address in addresses)
