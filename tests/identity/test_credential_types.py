"""Credential types by name: the chain keeps only their hashes."""

from __future__ import annotations

from careledger.chain import credential_type_id
from careledger.identity import AFFILIATION, KNOWN_CREDENTIAL_TYPES, MEDICAL_LICENCE, credential_type_name


def test_the_types_careledgers_rules_read_are_named() -> None:
    assert credential_type_name(credential_type_id(MEDICAL_LICENCE)) == "medical-licence"
    assert credential_type_name(credential_type_id(AFFILIATION)) == "affiliation"  # a node's care team


def test_every_known_type_names_itself_and_an_unknown_one_none() -> None:
    assert all(credential_type_name(credential_type_id(name)) == name for name in KNOWN_CREDENTIAL_TYPES)
    assert credential_type_name(credential_type_id("guild-of-herbalists")) is None
