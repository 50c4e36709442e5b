"""A node process for the crash test of the guarded door: write one Patient as the custodian.

Run as `python -m tests.access.crash_worker HOME SEED`; with CARELEDGER_CRASH_AT set it dies
by SIGKILL at that failpoint. The chain is the in-process memory chain: writing a record
asks nothing of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from careledger.access import Accessor
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.homes import init_home
from careledger.node import Node
from careledger.testdata import PASSPHRASE, synthetic_patients

SETTINGS = Settings(chain="memory", light_kdf=True)


def main(home_path: str, seed: int) -> None:
    home = Home(Path(home_path))
    if not home.path.exists():
        init_home(home, SETTINGS, PASSPHRASE)
    with Node(home, SETTINGS, lambda _wallet: PASSPHRASE) as node:
        alice = node.wallets.find("alice") or node.wallets.create("alice", Role.PATIENT, PASSPHRASE)
        patient = synthetic_patients(1, seed=seed)[0].patient
        node.access.for_caller(Accessor(node.address)).write(patient, patient_address=alice.address)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
