from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.chain import Role
from careledger.config import Settings
from careledger.consent import Purpose
from careledger.identity import Wallet
from careledger.iot import DeviceInfo, Reading, sign_frame
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import PASSPHRASE, scratch_node, synthetic_patients

HEART_RATE = "8867-4"


@dataclass
class Ward:
    """A node (memory chain) with two patients and their Patient records, and a device bound to alice."""

    node: Node
    alice: Wallet
    bob: Wallet
    watch: DeviceInfo
    key: LocalAccount
    sequence: int = 0

    def readings(
        self, *values: float, code: str = HEART_RATE, unit: str = "/min", at: float | None = None
    ) -> list[Reading]:
        """Heart-rate readings a second apart, ending now (or at `at`), with the next sequences."""
        end = time.time() if at is None else at
        readings = []
        for index, value in enumerate(values):
            self.sequence += 1
            moment = int((end - len(values) + 1 + index) * 1000)
            readings.append(Reading(self.sequence, moment, code, ((value, unit),)))
        return readings

    def frame(
        self,
        readings: list[Reading],
        *,
        key: LocalAccount | None = None,
        patient: str | None = None,
        node: str | None = None,
    ) -> bytes:
        """A frame signed by the watch (or `key`), for alice (or `patient`) at this node (or `node`)."""
        return sign_frame(key or self.key, node or self.node.address, patient or self.alice.address, readings)


def device_key(node: Node, info: DeviceInfo) -> LocalAccount:
    account: LocalAccount = Account.from_key(node.unlock(info.name).account.key)
    return account


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    home = tmp_path_factory.mktemp("iot") / "home"
    with scratch_node(home, Settings(chain="memory", light_kdf=True, reading_summary_seconds=60)) as node:
        patients = synthetic_patients(2, seed=5)
        wallets = []
        for name, patient in zip(("alice", "bob"), patients, strict=True):
            wallet = node.wallets.create(name, Role.PATIENT, PASSPHRASE)
            node.identity.register(name)
            node._records.write(patient.patient, patient_address=wallet.address)
            wallets.append(wallet)
        alice, bob = wallets
        watch = node.devices.register("watch", PASSPHRASE)
        terms = node.consent.terms(alice.address, watch.address, [Category.VITALS], [Purpose.TREAT], days=30)
        watch = node.devices.bind("watch", node.consent.grant("alice", terms))
        yield Ward(node, alice, bob, watch, device_key(node, watch))
