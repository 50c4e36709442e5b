"""The chart's "Suggest codes from a note": suggestions shown (negated and family greyed, unticked), nothing written
until "Add selected", and then only the ticked drafts, as the staff member; others refused. One world and one real
server for the module."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.api.test_messages import CSRF, portal_session

NOTE = "Pt has HTN on lisinopril. No CHF. Father had colon cancer."
HTN, CHF, COLON_CA, LISINOPRIL = "38341003", "84114007", "363406005", "29046"
COPD, PNEUMONIA = "13645005", "233604007"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("portal-notes")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        yield api


@pytest.fixture(scope="module")
def patient(api: Api) -> str:
    with closing(api.client(api.world.drbob)) as bob:
        created = bob.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Noted"}]})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _stored(api: Api, patient: str, kind: str) -> list[dict[str, object]]:
    with closing(api.client(api.world.drbob)) as bob:
        return [e["resource"] for e in bob.get(f"/{kind}", params={"patient": patient}).json().get("entry", [])]


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None
    return found.group(1)


def _suggested(staff: httpx.Client, patient: str, text: str) -> str:
    form = staff.get(f"/portal/staff/patients/{patient}/suggest")
    assert form.status_code == 200, form.text[:400]
    assert "Suggest codes from a note" in form.text
    shown = staff.post(f"/portal/staff/patients/{patient}/suggest", data={"csrf": _csrf(form.text), "note": text})
    assert shown.status_code == 200, shown.text[:400]
    return html.unescape(shown.text)


def test_suggestions_are_shown_and_only_the_ticked_ones_written(api: Api, patient: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        page = _suggested(staff, patient, NOTE)
        assert f'name="keep" value="{HTN}" checked' in page
        assert f'name="keep" value="{LISINOPRIL}" checked' in page
        assert f'value="{CHF}"' not in page  # negated: greyed, never offered
        assert f'value="{COLON_CA}"' not in page  # the father's
        assert "Heart failure (condition, negated)" in page
        assert "Colon cancer (condition, family)" in page
        assert page.count("disabled") == 2
        assert "Hypertension (condition, present)" in page
        assert _stored(api, patient, "Condition") == []
        form = {"csrf": _csrf(page), "note": NOTE, "keep": [HTN, CHF, COLON_CA]}  # forged ticks of greyed ones
        added = staff.post(f"/portal/staff/patients/{patient}/suggest/add", data=form)
    assert added.status_code == 303, added.text[:400]
    (condition,) = _stored(api, patient, "Condition")
    assert condition["code"]["coding"][0]["code"] == HTN  # type: ignore[index]
    assert _stored(api, patient, "MedicationStatement") == []  # lisinopril was not ticked


def test_a_code_mentioned_twice_is_offered_once(api: Api, patient: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        page = _suggested(staff, patient, "History of HTN. HTN is well controlled.")
    assert page.count(f'name="keep" value="{HTN}"') == 1
    assert "Hypertension (condition, present, as above)" in page


def test_a_form_without_the_page_s_token_writes_nothing(api: Api, patient: str) -> None:
    before = len(_stored(api, patient, "MedicationStatement"))
    with closing(portal_session(api, api.world.drbob)) as staff:
        forged = staff.post(f"/portal/staff/patients/{patient}/suggest/add", data={"note": NOTE, "keep": LISINOPRIL})
    assert forged.status_code in (400, 403)
    assert len(_stored(api, patient, "MedicationStatement")) == before


def test_only_the_node_s_care_team_may_suggest(api: Api, patient: str) -> None:
    with closing(portal_session(api, api.world.mallory)) as stranger:
        assert stranger.get(f"/portal/staff/patients/{patient}/suggest").status_code == 403
    with closing(portal_session(api, api.world.alice)) as alice:
        assert alice.get(f"/portal/staff/patients/{patient}/suggest").status_code == 403
    with closing(portal_session(api, api.world.drbob)) as staff:
        assert staff.get("/portal/staff/patients/no-such-patient/suggest").status_code == 404


def test_a_note_naming_nothing_known_says_so(api: Api, patient: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        page = _suggested(staff, patient, "Feels well. Walked 2 mi.")
    assert "names no condition or medication" in page


def test_the_note_is_shown_back_as_text_never_as_markup(api: Api, patient: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        form = staff.get(f"/portal/staff/patients/{patient}/suggest")
        note = '<script>alert(1)</script> HTN "><b>x</b>'
        shown = staff.post(f"/portal/staff/patients/{patient}/suggest", data={"csrf": _csrf(form.text), "note": note})
    assert shown.status_code == 200
    assert "<script>alert(1)</script>" not in shown.text
    assert '"><b>' not in shown.text
    assert "&lt;script&gt;" in shown.text


def test_an_uncertain_finding_is_offered_unticked_and_a_chronic_history_ticked(api: Api, patient: str) -> None:
    with closing(portal_session(api, api.world.drbob)) as staff:
        page = _suggested(staff, patient, "Hx of COPD. Possible pneumonia. History of pneumonia, resolved.")
    assert f'name="keep" value="{COPD}" checked' in page
    assert "(condition, historical, chronic: drafted as current)" in page
    assert f'name="keep" value="{PNEUMONIA}">' in page  # offered, not ticked
    assert "Pneumonia (condition, uncertain, drafted provisional)" in page
    assert f'name="keep" value="{PNEUMONIA}:past" checked' in page
    assert "(condition, historical, over: drafted as past)" in page


def test_a_kept_uncertain_finding_is_written_provisional(api: Api, patient: str) -> None:
    text = "Possible pneumonia."
    with closing(portal_session(api, api.world.drbob)) as staff:
        page = _suggested(staff, patient, text)
        added = staff.post(
            f"/portal/staff/patients/{patient}/suggest/add", data={"csrf": _csrf(page), "note": text, "keep": PNEUMONIA}
        )
    assert added.status_code == 303, added.text[:400]
    (pneumonia,) = [c for c in _stored(api, patient, "Condition") if c["code"]["coding"][0]["code"] == PNEUMONIA]  # type: ignore[index]
    assert pneumonia["verificationStatus"]["coding"][0]["code"] == "provisional"  # type: ignore[index]


def test_a_note_of_64_kib_is_read_and_a_longer_one_refused_as_a_page(api: Api, patient: str) -> None:
    text = "HTN " * (64 * 1024 // 4)  # the API's limit; percent-encoded, more than any other portal form takes
    with closing(portal_session(api, api.world.drbob)) as staff:
        page = _suggested(staff, patient, text)
        assert f"({len(text) // 4} mentions)" in page
        token = _csrf(page)
        url = f"/portal/staff/patients/{patient}/suggest"
        over = staff.post(url, data={"csrf": token, "note": text + "HTN"})
        assert over.status_code == 413
        assert over.headers["content-type"].startswith("text/html")
        assert "at most 64 KiB" in over.text
        huge = staff.post(url, data={"csrf": token, "note": "é" * (64 * 1024)})  # 6 bytes a character, encoded
        assert huge.status_code == 413
        assert huge.headers["content-type"].startswith("text/html")
        assert "That did not work" in huge.text
        assert "OperationOutcome" not in huge.text
