"""The demo's network: one chain and three nodes, each with its own home, database and server process.

Beside each server the demo keeps an operator's handle on the same home (a `Node`), as an
administrator's CLI would be: it holds the participant's wallets and does what a person
there would do (the clinic's fetch, alice's signature). Everything a node serves to others
— the hospital's FHIR API and its answers to other nodes, alice's agent's API — comes
from the server processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from careledger.api import NodeProcess, free_port
from careledger.chain import Chain, open_chain
from careledger.config import Settings
from careledger.errors import ConfigError
from careledger.node import Node
from careledger.testdata import founding_node, joining_node

# Nodes anchor what waits after a second, so the story's records reach the chain as it unfolds.
_ANCHOR_WAIT = 1.0


@dataclass(slots=True)
class Participant:
    """One organisation's node: its server process and the operator's handle on its home."""

    name: str
    label: str
    node: Node
    process: NodeProcess

    @property
    def address(self) -> str:
        """The participant's node address."""
        return self.node.address


class DemoNetwork:
    """The hospital (founds the network and deploys), the clinic, and alice's own agent."""

    def __init__(self, root: Path, chain_spec: str, passphrase: str, *, cwd: Path | None = None) -> None:
        if chain_spec == "memory":
            raise ConfigError(
                "the demo runs three node processes on one chain: use anvil (the default) or an http(s) URL"
            )
        self.root = root
        self.chain: Chain = open_chain(chain_spec, chain_dir=root / "chain", keep=True)
        self.participants: list[Participant] = []
        try:
            settings = Settings(chain=self.chain.url or "", light_kdf=True, anchor_max_wait=_ANCHOR_WAIT)
            ports = [free_port() for _ in range(3)]
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            hospital = founding_node(root / "hospital", settings, urls[0], passphrase=passphrase)
            self._add("hospital", "the hospital", hospital, ports[0], passphrase, cwd)
            clinic = joining_node(root / "clinic", settings, hospital, urls[1], passphrase=passphrase)
            self._add("clinic", "the clinic", clinic, ports[1], passphrase, cwd)
            # A patient's agent serves only its patient, so it lists no endpoint for other nodes.
            agent = joining_node(root / "agent", settings, hospital, passphrase=passphrase)
            self._add("agent", "alice's agent", agent, ports[2], passphrase, cwd)
        except BaseException:
            self.close()
            raise

    def _add(self, name: str, label: str, node: Node, port: int, passphrase: str, cwd: Path | None) -> None:
        self.participants.append(
            Participant(name, label, node, NodeProcess(node.home, port, passphrase=passphrase, cwd=cwd))
        )

    def start(self) -> None:
        """Start every server at once (each takes a few seconds to import and open), then wait for each."""
        for participant in self.participants:
            participant.process.launch()
        for participant in self.participants:
            participant.process.wait_ready()

    def __getitem__(self, name: str) -> Participant:
        return next(p for p in self.participants if p.name == name)

    def stop(self) -> dict[str, int]:
        """Stop the servers gracefully (each anchors what it has pending); their exit codes."""
        return {p.name: p.process.stop() for p in self.participants}

    def close(self) -> None:
        """Stop the nodes and the chain; remove the homes unless kept."""
        for participant in self.participants:
            participant.process.kill()
            participant.node.close()
        self.chain.close()
