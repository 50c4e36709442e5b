"""A clinical trial network on one anvil chain, shared by the module that asks for it (`trial_network`): the sponsor's
node (the founding node: it deployed the contracts; it holds the researcher wallet `sponsor`, funded with CARE), the
ethics board's node (it holds the wallet `board`, with a `research-ethics-approval` credential the founder attested),
and sites A and B, each with a practitioner on staff (a live affiliation the site attested). The sponsor's and the
board's wallets are registered by their own nodes, which is where a site's safety report finds them.

Helpers (stable: other test modules build on them; add new ones beside them rather than renaming):
- `patient(site, **facts)`: a patient of `site` (custodial unless `wallet=` an eth_account account) with the records
  the example trial's criteria read: essential hypertension, an eGFR within the year; `sex`, `age`, `egfr`,
  `hypertension`, `pregnant` change them (`egfr=None`: no eGFR on record). Her Patient record's id.
- `trial(**changes)`: the example definition (`EXAMPLE`) with sites A and B, registered by the sponsor, approved by
  the board (`approve=False`: not), its seed committed (`seed=False`: not), its definition held by both sites.
  Other keyword arguments replace fields of the `TrialProtocol` (`target=4`). The trial id.
- `amend(trial_id, reconsent=True)`: the example amendment registered, approved and held by the sites.
- `crf(visit, **answers)`: a QuestionnaireResponse of visit `visit` (1, 2, 3) of the example trial, every required item
  answered (typical values) unless given: `systolic=150`, `heart_rate=72` (underscores stand for hyphens), `x=None`
  leaves item `x` out.
- `staff(site)`: the Accessor of the site's practitioner; `served()`: every node behind an HTTP server, its endpoint
  on chain, while the block runs (a safety report then travels by itself).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from careledger.access import AFFILIATION, Accessor
from careledger.chain import Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.crypto import PrivateKey, Suite
from careledger.node import Node
from careledger.testdata import CARE, PASSPHRASE, founding_node, joining_node
from careledger.trials._protocol import TrialProtocol, load_protocol, questionnaire
from tests.api.supply import reachable

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "careledger" / "trials" / "examples"
EXAMPLE = EXAMPLES / "hypertension-trial.json"
AMENDMENT = EXAMPLES / "hypertension-trial-amendment-1.json"
SPONSOR = "sponsor"  # the researcher wallet on the sponsor's node
BOARD = "board"  # the ethics board's wallet on the board's node
SPONSOR_CARE = 1_000_000 * CARE
ETHICS_APPROVAL = "research-ethics-approval"
_TYPICAL = {"systolic": 150, "diastolic": 95, "heart-rate": 72}


@dataclass
class TrialNetwork:
    """The four nodes of a trial on one chain (module docstring), and the helpers that set up what tests need."""

    sponsor: Node
    board: Node
    site_a: Node
    site_b: Node
    staff_a: str = ""
    staff_b: str = ""
    _patients: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of the network."""
        return (self.sponsor, self.board, self.site_a, self.site_b)

    @property
    def sponsor_address(self) -> str:
        """The sponsor's wallet address."""
        return self.sponsor.wallets.get(SPONSOR).address

    @property
    def board_address(self) -> str:
        """The ethics board's wallet address."""
        return self.board.wallets.get(BOARD).address

    def staff(self, site: Node) -> Accessor:
        """The practitioner on `site`'s staff, as the accessor its desk takes."""
        return Accessor(self.staff_a if site is self.site_a else self.staff_b)

    def protocol(self, path: Path = EXAMPLE, **changes: Any) -> TrialProtocol:
        """A definition file's protocol, its sites A and B (unless `sites=` says), with `changes` to its fields."""
        protocol = load_protocol(path.read_bytes())
        fields = {"sites": (self.site_a.address, self.site_b.address), **changes}
        return dataclasses.replace(protocol, **fields)

    def trial(self, *, approve: bool = True, seed: bool = True, **changes: Any) -> int:
        """The example trial registered by the sponsor (with `changes` to its definition), approved by the board
        and its seed committed unless told not to, its definition held by both sites: its id."""
        registry = self.sponsor.trial_registry
        trial_id = registry.register(SPONSOR, self.protocol(**changes)).trial_id
        if approve:
            self.board.trial_registry.approve(BOARD, trial_id)
        if seed:
            registry.commit_seed(SPONSOR, trial_id)
        self._hand_over(trial_id, 1)
        return trial_id

    def amend(self, trial_id: int, *, reconsent: bool = True, approve: bool = True, **changes: Any) -> int:
        """The example amendment (a new consent document) to `trial_id`, approved unless told not to, held by both
        sites: its version."""
        summary = self.sponsor.trial_registry.amend(
            SPONSOR, trial_id, self.protocol(AMENDMENT, **changes), reconsent=reconsent
        )
        if approve:
            self.board.trial_registry.approve(BOARD, trial_id)
        self._hand_over(trial_id, summary.latest_version)
        return summary.latest_version

    def _hand_over(self, trial_id: int, version: int) -> None:
        """Each site keeps the version's definition, as it would fetch it from the sponsor's node."""
        document = self.sponsor.trial_registry.definition(trial_id, version)
        for site in (self.site_a, self.site_b):
            site.trial_registry.adopt(trial_id, document)

    def patient(
        self,
        site: Node,
        *,
        sex: str = "female",
        age: int = 55,
        egfr: float | None = 75.0,
        hypertension: bool = True,
        pregnant: bool = False,
        wallet: LocalAccount | None = None,
    ) -> str:
        """A patient of `site` with what the example trial's criteria read (module docstring): her Patient id."""
        number = next(self._patients)
        patient_id = f"trial-patient-{number}"
        born = date.today().replace(year=date.today().year - age) - timedelta(days=30)
        patient = {
            "resourceType": "Patient",
            "id": patient_id,
            "name": [{"family": "Trialist", "given": [f"P{number}"]}],
            "gender": sex,
            "birthDate": born.isoformat(),
        }
        if wallet is not None:  # her own wallet, registered with the encryption key it derives, as a wallet's is
            key = PrivateKey.derive(wallet.key, Suite.X25519).public_key
            site.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(wallet.address, Role.PATIENT, key)
        site.maintenance.write(patient, patient_address=None if wallet is None else wallet.address)
        subject = {"reference": f"Patient/{patient_id}"}
        if hypertension:
            site.maintenance.write(_condition(subject, "59621000", "Essential hypertension"))
        if pregnant:
            site.maintenance.write(_condition(subject, "77386006", "Pregnancy"))
        if egfr is not None:
            site.maintenance.write(_egfr(subject, egfr, date.today() - timedelta(days=30)))
        return patient_id

    def crf(self, visit: int, *, status: str = "completed", **answers: Any) -> dict[str, Any]:
        """A QuestionnaireResponse of the example trial's visit `visit` (module docstring)."""
        form = questionnaire(load_protocol(EXAMPLE.read_bytes()), visit)
        given = {key.replace("_", "-"): value for key, value in answers.items()}
        return {
            "resourceType": "QuestionnaireResponse",
            "status": status,
            "authored": datetime.now(UTC).date().isoformat(),
            "item": _answered(form.get("item", []), given),
        }

    @contextmanager
    def served(self) -> Iterator[None]:
        """Every node behind an HTTP server, its endpoint on chain, for as long as the block runs."""
        with ExitStack() as stack:
            for node in self.nodes:
                stack.enter_context(reachable(node))
            yield


def _condition(subject: dict[str, str], code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": subject,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
    }


def _egfr(subject: dict[str, str], value: float, on: date) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "62238-1", "display": "eGFR (CKD-EPI)"}]},
        "subject": subject,
        "effectiveDateTime": on.isoformat(),
        "valueQuantity": {
            "value": value,
            "unit": "mL/min/1.73m2",
            "system": "http://unitsofmeasure.org",
            "code": "mL/min/{1.73_m2}",
        },
    }


def _answered(items: list[dict[str, Any]], given: dict[str, Any]) -> list[dict[str, Any]]:
    """The response items of `items`: each leaf answered as `given` says (None: left out), else, if required, with a
    typical value for its type."""
    answered = []
    for item in items:
        link = item["linkId"]
        if item.get("type") == "group":
            children = _answered(item.get("item", []), given)
            if children:
                answered.append({"linkId": link, "item": children})
            continue
        value = given[link] if link in given else _typical(item) if item.get("required") else None
        if value is not None:
            answered.append({"linkId": link, "answer": [_answer(item, value)]})
    return answered


def _typical(item: dict[str, Any]) -> Any:
    kind = item.get("type")
    if kind in ("choice", "open-choice"):
        return copy.deepcopy(item["answerOption"][0])
    return _TYPICAL.get(item["linkId"], {"integer": 70, "decimal": 80.0, "boolean": False}.get(kind, "none"))


def _answer(item: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = item.get("type")
    if kind in ("choice", "open-choice"):
        return {key: value for key, value in value.items()} if isinstance(value, dict) else {"valueString": value}
    key = {"integer": "valueInteger", "decimal": "valueDecimal", "boolean": "valueBoolean", "date": "valueDate"}
    return {key.get(str(kind), "valueString"): value}


@pytest.fixture(scope="module")
def trial_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialNetwork]:
    """The network (module docstring), on an anvil chain of its own."""
    root: Path = tmp_path_factory.mktemp("trials")
    with open_chain("anvil", chain_dir=root / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        sponsor = founding_node(root / "sponsor", settings)
        nodes = [sponsor]
        try:
            for name in ("board", "site-a", "site-b"):
                nodes.append(joining_node(root / name, settings, sponsor))
            network = TrialNetwork(*nodes)
            _set_up(network)
            yield network
        finally:
            for node in reversed(nodes):
                node.close()


def _set_up(network: TrialNetwork) -> None:
    """The sponsor's researcher funded, the board's credential, every node an issuer of its own affiliations and a
    registrar of its custodial patients, the sites' staff."""
    founder = network.sponsor.contracts.identity_registry(as_wallet=NODE_WALLET)
    for node in network.nodes[1:]:
        founder.grant_role("ISSUER_ROLE", node.address)
        founder.grant_role("REGISTRAR_ROLE", node.address)  # its custodial patients
    if not founder.is_role_holder("ISSUER_ROLE", network.sponsor.address):
        founder.grant_role("ISSUER_ROLE", network.sponsor.address)
    sponsor = _actor(network.sponsor, network.sponsor, SPONSOR, Role.RESEARCHER)
    board = _actor(network.board, network.board, BOARD, Role.ORG)  # registered by its node: its reports go there
    founder.attest(board, ETHICS_APPROVAL, 2**40)
    network.sponsor.contracts.token(as_wallet=NODE_WALLET).mint(sponsor, SPONSOR_CARE)
    network.staff_a = _actor(network.site_a, network.site_a, "staff-a", Role.PRACTITIONER)
    network.staff_b = _actor(network.site_b, network.site_b, "staff-b", Role.PRACTITIONER)


def _actor(home: Node, registrar: Node, name: str, role: Role) -> str:
    """A wallet `name` on `home`'s node, registered by `registrar` (the founder, or itself), affiliated with `home`
    (it attests): its address."""
    wallet = home.wallets.create(name, role, PASSPHRASE)
    if registrar is home and home is not None and role == Role.PRACTITIONER:
        home.contracts.identity_registry(as_wallet=name).register(wallet.role, wallet.encryption_key)
    else:
        registry = registrar.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
    until = int((datetime.now(UTC) + timedelta(days=365)).timestamp())
    home.contracts.identity_registry(as_wallet=NODE_WALLET).attest(wallet.address, AFFILIATION, until)
    return wallet.address
