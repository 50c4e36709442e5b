"""A node process for the crash tests: store synthetic records, then anchor them.

Run as `python -m tests.records.crash_worker HOME SEED`; with CARELEDGER_CRASH_AT set it
dies by SIGKILL at that failpoint. `SEED` -1 only anchors (the restart after a crash).
"""

from __future__ import annotations

import sys
from pathlib import Path

from careledger.config import Home, load_settings
from careledger.node import Node
from careledger.testdata import synthetic_patients


def main(home_path: str, seed: int) -> None:
    home = Home(Path(home_path))
    with Node(home, load_settings(home), lambda _wallet: "pw") as node:
        if seed >= 0:
            alice = node.wallets.get("alice").address
            for patient in synthetic_patients(2, seed=seed):
                node._records.write(patient.patient, patient_address=alice)
                for record in patient.records:
                    node._records.write(record)
        node.anchorer.anchor_pending()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
