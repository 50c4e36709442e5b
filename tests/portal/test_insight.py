"""The portal's decision support over HTTP: a patient's scores page (the value, its inputs, what is missing), and a
staff member's chart panel and order check (a penicillin allergy against amoxicillin), each through the caller's
own door; one world and one real server for the module."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from careledger.access import AFFILIATION
from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.identity import Wallet
from careledger.insight import SNOMED
from tests.access.conftest import World, built_world
from tests.api.conftest import Api, serving
from tests.api.test_messages import portal_session
from tests.insight import charts

PENICILLIN = "91936005"  # SNOMED CT: allergy to penicillin


def _chart(world: World, wallet: Wallet, *, mrn: str, hdl: bool) -> str:
    """Goff et al.'s worked example stored as `wallet`'s record (with a penicillin allergy); her Patient id."""
    records = world.node._records
    patient_id = records.write(charts.patient(date.today(), mrn=mrn), patient_address=wallet.address).record_id
    for resource in charts.records(patient_id, date.today(), hdl=hdl).values():
        records.write(resource)
    allergy = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": SNOMED, "code": PENICILLIN}]},
        "patient": {"reference": f"Patient/{patient_id}"},
    }
    records.write(allergy)
    return patient_id


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A node whose care team is Dr Bob, with two patients of the worked example (Dana's has no HDL on file)."""
    with built_world(Path(tmp_path_factory.mktemp("portal-insight")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        for name in ("dana", "erin"):  # Erin has no record here
            made = world.node.wallets.create(name, Role.PATIENT, "pw")
            registry.register_actor(made.address, made.role, made.encryption_key)
        yield api


@pytest.fixture(scope="module")
def goff(api: Api) -> str:
    return _chart(api.world, api.world.guardian, mrn="MRN-GOFF", hdl=True)


@pytest.fixture(scope="module")
def dana(api: Api) -> str:
    return _chart(api.world, api.world.node.wallets.get("dana"), mrn="MRN-DANA", hdl=False)


def _page(client: httpx.Client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.text[:400]
    return html.unescape(response.text)


def test_her_scores_page_shows_the_pce_value_its_inputs_and_equation(api: Api, goff: str) -> None:
    with closing(portal_session(api, api.world.guardian)) as her:
        page = _page(her, "/portal/scores")
    assert "Pooled Cohort Equations" in page
    assert "2.1 %" in page  # Goff et al. 2013's worked example
    assert "HDL" in page
    assert "/portal/records/" in page
    assert (date.today() - timedelta(days=30)).isoformat() in page  # when the inputs were recorded
    assert "version" in page
    assert "cannot compute: no HDL" not in page.lower()


def _row(page: str, label: str) -> str:
    """The scores table's first row of the input `label`, tags and spaces collapsed."""
    found = re.search(rf"<tr>\s*<td>{re.escape(label)}</td>(.*?)</tr>", page, re.DOTALL)
    assert found is not None, label
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_her_scores_page_says_an_absent_fact_is_nothing_recorded_not_from_her_details(api: Api, goff: str) -> None:
    with closing(portal_session(api, api.world.guardian)) as her:
        page = _page(her, "/portal/scores")
    assert _row(page, "Age") == "55 years from your details"
    assert _row(page, "Diabetes") == "no nothing recorded"
    assert _row(page, "HDL cholesterol").endswith((date.today() - timedelta(days=30)).isoformat())


def test_a_missing_input_says_what_is_missing(api: Api, dana: str) -> None:
    with closing(portal_session(api, api.world.node.wallets.get("dana"))) as her:
        page = _page(her, "/portal/scores")
    assert "Cannot compute: no HDL cholesterol" in page
    assert "2.1 %" not in page


def test_another_patients_scores_are_not_reachable(api: Api, goff: str) -> None:
    with closing(portal_session(api, api.world.mallory)) as stranger:  # staff of no care team here
        assert "2.1 %" not in _page(stranger, f"/portal/staff/patients/{goff}/orders", 403)
    with closing(portal_session(api, api.world.alice)) as alice:  # another patient: staff pages are not hers
        assert "2.1 %" not in _page(alice, f"/portal/staff/patients/{goff}/orders?drug=723", 403)
    with closing(portal_session(api, api.world.drbob)) as staff:  # no Patient by that id: a page, not a 500
        unknown = _page(staff, "/portal/staff/patients/no-such-patient/orders", 404)
        assert "2.1 %" not in unknown


def test_a_patient_without_a_record_here_is_told_so(api: Api) -> None:
    with closing(portal_session(api, api.world.node.wallets.get("erin"))) as nobody:  # no Patient record on this node
        page = _page(nobody, "/portal/scores", 404)
    assert "no record of yours" in page
    assert "2.1 %" not in page


def test_the_chart_checks_amoxicillin_against_her_penicillin_allergy(api: Api, goff: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        chart = _page(staff, f"/portal/staff/patients/{goff}")
        checked = _page(staff, f"/portal/staff/patients/{goff}/orders?drug=723")
        untroubled = _page(staff, f"/portal/staff/patients/{goff}/orders?drug=83367")
        forged = _page(staff, f"/portal/staff/patients/{goff}/orders?drug=99999999", 400)
    assert "Decision support" in chart
    assert "Check a medication order" in chart
    assert "Order check: amoxicillin" in checked
    assert "cds-critical" in checked
    assert "allergy" in checked.lower()
    assert "penicillin" in checked.lower()
    assert checked.count("Source:") == 1  # the card's source line, not the detail's too
    assert "No alerts for atorvastatin." in untroubled
    assert "drug table" in forged


def test_an_order_card_s_markdown_detail_is_rendered_as_html(api: Api, goff: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        checked = staff.get(f"/portal/staff/patients/{goff}/orders?drug=723").text
    detail = re.search(r'<div class="detail">(.*?)</div>', checked, re.DOTALL)
    assert detail is not None
    assert "<p>" in detail.group(1)
    assert "**" not in detail.group(1)
