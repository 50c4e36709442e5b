from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_account import Account

from careledger.crypto import PrivateKey, PublicKey
from careledger.records import BlindIndex, RecordService
from careledger.store import Database, FileBlobStore
from careledger.testdata import SyntheticPatient, synthetic_patients


class Keys:
    """Patients' and the custodian's encryption keys, as wallets would hold them."""

    def __init__(self) -> None:
        self.custodian = PrivateKey.generate()
        self.custodian_address = str(Account.create().address)
        self.patients: dict[str, PrivateKey] = {}

    def new_patient(self) -> str:
        address = str(Account.create().address)
        self.patients[address] = PrivateKey.generate()
        return address

    def public(self, address: str) -> PublicKey:
        return self.patients[address].public_key


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


@pytest.fixture
def records(database: Database, blobs: FileBlobStore, keys: Keys) -> RecordService:
    return RecordService(
        database,
        blobs,
        custodian=keys.custodian_address,
        custodian_public=keys.custodian.public_key,
        custodian_key=lambda: keys.custodian,
        patient_key=keys.public,
        index=BlindIndex(os.urandom(32)),
    )


@pytest.fixture
def synthetic() -> SyntheticPatient:
    return synthetic_patients(1, seed=21)[0]
