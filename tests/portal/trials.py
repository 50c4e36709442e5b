"""One node that is a clinical trial's site, its sponsor's and its ethics board's home at once, for the trial pages.

The portal's node (`served`, its set-up run in this process) holds, besides drbob (care team) and carol (a patient
with her own wallet): `sponsor`, a researcher funded with CARE, and `board`, an organisation with a
`research-ethics-approval` credential, both registered on chain by the node (a safety report for them comes here);
dora and erin, patients with their own wallets too. `TrialSite` opens the same home in this process, as an
operator's CLI does beside the server, to register trials (the example definition, this node its only site), write
patients' records and do the sponsor's and the node's own work (randomise, settle) between the page's steps.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from careledger.config import NODE_WALLET, Home, load_settings
from careledger.node import Node
from careledger.testdata import CARE
from careledger.trials import TrialProtocol, load_protocol
from tests.portal.conftest import PASSPHRASE, Clinic, in_process, served

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "careledger" / "trials" / "examples"
EXAMPLE = EXAMPLES / "hypertension-trial.json"
AMENDMENT = EXAMPLES / "hypertension-trial-amendment-1.json"
SPONSOR, BOARD = "sponsor", "board"
PATIENTS = ("dora", "erin")
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')

# The CLI set-up after `served`'s own: the node registered (a trial's site is an organisation on chain), the wallets of
# the sponsor and the board (registered by the node: `TrialSite`), two more patients with wallets.
SET_UP: tuple[tuple[str, ...], ...] = (
    ("identity", "register", NODE_WALLET),
    ("wallet", "new", SPONSOR, "--role", "researcher"),
    ("wallet", "new", BOARD, "--role", "org"),
    *(
        step
        for name in PATIENTS
        for step in (("wallet", "new", name, "--role", "patient"), ("identity", "register", name))
    ),
)
SPONSOR_CARE = 100_000 * CARE  # the example trial's budget is 9,900 CARE


@dataclass
class TrialSite:
    """The served node (`clinic`) and the same home opened here (`node`)."""

    clinic: Clinic
    node: Node
    _ids: Iterator[int] = dataclasses.field(default_factory=lambda: count(1))

    def protocol(self, path: Path = EXAMPLE) -> TrialProtocol:
        """A definition file's protocol with this node as its only site."""
        return dataclasses.replace(load_protocol(path.read_bytes()), sites=(self.node.address,))

    def trial(self) -> int:
        """The example trial, registered by the sponsor, approved by the board, its seed committed: its id."""
        registry = self.node.trial_registry
        trial_id = registry.register(SPONSOR, self.protocol()).trial_id
        registry.approve(BOARD, trial_id)
        registry.commit_seed(SPONSOR, trial_id)
        return trial_id

    def amend(self, trial_id: int) -> int:
        """The example amendment (a new consent document that asks for re-consent), approved: its version."""
        self.node.trial_registry.amend(SPONSOR, trial_id, self.protocol(AMENDMENT), reconsent=True)
        return self.node.trial_registry.approve(BOARD, trial_id).current_version

    def patient(self, wallet: str | None = None, *, egfr: bool = True, pregnant: bool = False) -> str:
        """A patient here (hers, if `wallet` names her wallet; else custodial) with the records the example trial's
        criteria read: a woman of 55 with essential hypertension and an eGFR of 75 a month ago (`egfr=False`: none),
        pregnant if asked. Her Patient record's id."""
        patient_id = f"trial-{wallet or 'custodial'}-{next(self._ids)}"
        address = None if wallet is None else self.clinic.address(wallet)
        born = date.today().replace(year=date.today().year - 55) - timedelta(days=30)
        write = self.node.maintenance.write
        name = {"family": "Trialist", "given": [(wallet or "Custodial").title()]}
        patient = {"resourceType": "Patient", "id": patient_id, "name": [name], "gender": "female"}
        write({**patient, "birthDate": born.isoformat()}, patient_address=address)
        subject = {"reference": f"Patient/{patient_id}"}
        write(_condition(subject, "59621000", "Essential hypertension"), patient_address=address)
        if pregnant:
            write(_condition(subject, "77386006", "Pregnancy"), patient_address=address)
        if egfr:
            write(_egfr(subject, date.today() - timedelta(days=30)), patient_address=address)
        return patient_id


@contextmanager
def trial_site(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[TrialSite]:
    """The portal's node set up for trials (module docstring), served while the block runs."""
    home = tmp_path_factory.mktemp(name) / "home"
    cli = in_process(home)
    with served(home, cli, *SET_UP) as clinic:
        node = Node(Home(home), load_settings(Home(home)), lambda _wallet: PASSPHRASE, lazy=True)
        try:
            for name in (SPONSOR, BOARD):  # registered by the node: their safety reports are kept here
                wallet = node.wallets.get(name)
                node.identity.register_for(NODE_WALLET, wallet.address, wallet.role, wallet.encryption_key)
            cli("identity", "attest", "node", BOARD, "--type", "research-ethics-approval", "--days", "30")
            node.payments.mint(NODE_WALLET, node.wallets.get(SPONSOR).address, SPONSOR_CARE)
            yield TrialSite(clinic, node)
        finally:
            node.close()


@contextmanager
def session(clinic: Clinic, wallet: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the portal as `wallet`, through the sign-in form, posting as its pages do."""
    with httpx.Client(base_url=clinic.url, headers={"Origin": clinic.url}, timeout=120) as client:
        message, signature = clinic.signed_in_message(wallet)
        form = {"csrf": csrf(client.get("/portal/signin").text), "message": message, "signature": signature}
        assert client.post("/portal/signin", data=form).status_code == 303
        yield client


def csrf(html: str) -> str:
    """The form token of a page."""
    found = _CSRF.search(html)
    assert found, "no form token on the page"
    return found.group(1)


def post(client: httpx.Client, page: str, path: str, **form: Any) -> httpx.Response:
    """A form posted as the browser posts it from `page` (its token, from that page just read)."""
    token = csrf(client.get(page).text)
    return client.post(path, data={"csrf": token, **form})


def words(html: str) -> str:
    """A page's (or a piece's) words: tags and runs of white space squeezed out, entities read."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _condition(subject: dict[str, str], code: str, display: str) -> dict[str, Any]:
    status = "http://terminology.hl7.org/CodeSystem/condition-"
    return {
        "resourceType": "Condition",
        "subject": subject,
        "clinicalStatus": {"coding": [{"system": f"{status}clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": f"{status}ver-status", "code": "confirmed"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
    }


def _egfr(subject: dict[str, str], on: date) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "62238-1", "display": "eGFR (CKD-EPI)"}]},
        "subject": subject,
        "effectiveDateTime": on.isoformat(),
        "valueQuantity": {"value": 75, "unit": "mL/min/1.73m2", "system": "http://unitsofmeasure.org",
                          "code": "mL/min/{1.73_m2}"},
    }  # fmt: skip
