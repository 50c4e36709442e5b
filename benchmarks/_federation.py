"""Three in-process nodes on one memory chain with an approved study whose participants are scikit-learn's breast
cancer data charted as FHIR (the federated tests' setting), for `bench_insight.bench_federated_round`."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from careledger.chain import open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.insight.federated import study_site, train
from careledger.insight.federated._dataset import breast_cancer_task, patient_id, resources, split
from careledger.node import Node
from careledger.records import Category, SearchQuery
from careledger.research import protocol_hash
from careledger.testdata import STUDY_REWARD, founding_node, joining_node, set_up_study


@dataclass
class Federation:
    """The nodes, the study, and which dataset rows (patients) joined it on each node."""

    nodes: list[Node]
    study_id: int
    rows: tuple[tuple[int, ...], ...]

    @property
    def participants(self) -> int:
        return sum(len(rows) for rows in self.rows)

    def train(self, rounds: int) -> float:
        """Seconds for a training run of `rounds` rounds across the three nodes."""
        sites = [study_site(node.study_desk, self.study_id, breast_cancer_task()) for node in self.nodes]
        start = time.perf_counter()
        train(self.study_id, sites, rounds=rounds)
        return time.perf_counter() - start

    def search_participants(self) -> float:
        """Seconds for each node's Observation search of each of its participants (its own system repository)."""
        start = time.perf_counter()
        for node, rows in zip(self.nodes, self.rows, strict=True):
            for row in rows:
                node.maintenance.search(SearchQuery(resource_type="Observation", patient_id=patient_id(row)))
        return time.perf_counter() - start


@contextmanager
def federation() -> Iterator[Federation]:
    """Three nodes, the study approved and joined by every charted patient; closed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-federated-"))
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    shares = split()
    with open_chain("memory") as chain:
        first = founding_node(tmp / "a", settings, chain=chain)
        nodes = [first] + [joining_node(tmp / name, settings, first, chain=chain) for name in ("b", "c")]
        try:
            registry = first.contracts.identity_registry(as_wallet=NODE_WALLET)
            registry.grant_role("REGISTRAR_ROLE", nodes[2].address)  # set_up_study lets the second register
            setup = set_up_study(first, nodes[1], per_node=0, budget=STUDY_REWARD)
            budget = sum(len(rows) for rows in shares.nodes) * STUDY_REWARD
            first.contracts.token(as_wallet=NODE_WALLET).mint(setup.sponsor.address, budget)
            terms = nodes[1].studies.terms(
                protocol_hash(b"Malignancy from fine-needle aspirates: a benchmark run."),
                categories=[Category.GENERAL, Category.LABS],
                data_from=0,
                data_to=2**33,
                days=30,
                epsilon=1.0,
                reward=STUDY_REWARD,
                budget=budget,
            )
            study_id = nodes[1].studies.create(setup.sponsor.name, terms).study_id
            first.studies.approve(setup.board.name, study_id)
            for node, rows in zip(nodes, shares.nodes, strict=True):
                for row in rows:
                    patient, *rest = resources(row)
                    address = node.maintenance.write(patient).patient_address
                    for resource in rest:
                        node.maintenance.write(resource)
                    node.studies.join(NODE_WALLET, study_id, address)
            yield Federation(nodes, study_id, shares.nodes)
        finally:
            for node in nodes:
                node.close()
            shutil.rmtree(tmp, ignore_errors=True)
