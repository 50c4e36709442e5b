"""A node process that only takes device readings from a broker, for the test that kills it.

Run as `python -m tests.iot.mqtt_worker HOME BROKER`; it journals what arrives until it is
killed. The intake asks nothing of the chain (bindings and consents are in the database),
so the in-process memory chain of a fresh process serves.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from careledger.config import Home, Settings
from careledger.iot import MqttListener
from careledger.node import Node
from careledger.testdata import PASSPHRASE


def main(home_path: str, broker: str) -> None:
    with Node(Home(Path(home_path)), Settings(chain="memory", light_kdf=True), lambda _: PASSPHRASE, lazy=True) as node:
        listener = MqttListener(node.intake, node=node.address, broker=broker)
        listener.start()
        print("started", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
