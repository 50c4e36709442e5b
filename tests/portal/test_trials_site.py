"""A trial site's pages over real HTTP: the visit list, eligibility and a custodial patient's consent in person, the
CRF form built from its Questionnaire with the service's problems beside their fields, a correction's reason, the
CRF's history, a payment; and the form itself (`careledger.portal._trial_crf`), item types to inputs and back.

Dr Bob (the node's care team) works the site; carol, a patient, may not. The sponsor's work between the steps
(randomise, amend) is done in this process, as its CLI would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import httpx
import pytest

from careledger.portal._trial_crf import crf_fields, crf_response, field_name, posted_values, values_of
from careledger.trials import load_protocol, questionnaire
from tests.portal.trials import EXAMPLE, SPONSOR, TrialSite, post, session, trial_site, words

pytestmark = pytest.mark.anvil

EXAMPLE_CRF = questionnaire(
    load_protocol(EXAMPLE.read_bytes()), 2
)  # week 4: a group of vitals, weight, a choice, yes/no, notes


def _field(fields: list[Any], link_id: str) -> Any:
    for f in fields:
        if f.link_id == link_id:
            return f
        found = _field(list(f.children), link_id)
        if found is not None:
            return found
    return None


def test_each_item_type_becomes_its_input_with_its_limits() -> None:
    fields = crf_fields(EXAMPLE_CRF, {}, {})
    vitals = _field(fields, "vitals")
    assert vitals.kind == "group"
    assert [c.link_id for c in vitals.children] == ["systolic", "diastolic", "heart-rate"]
    systolic = _field(fields, "systolic")
    assert (systolic.kind, systolic.step, systolic.minimum, systolic.maximum, systolic.unit) == (
        "number", "1", "60", "260", "mmHg"
    )  # fmt: skip
    assert systolic.required
    assert systolic.code == "LOINC 8480-6"
    weight = _field(fields, "weight")
    assert (weight.kind, weight.step, weight.minimum, weight.maximum) == ("number", "any", "30", "300")
    adherence = _field(fields, "adherence")
    assert adherence.kind == "select"
    assert [label for _, label in adherence.options] == [
        "90% or more of doses",
        "50-89% of doses",
        "Under 50% of doses",
    ]
    assert _field(fields, "new-symptoms").kind == "boolean"
    notes = _field(fields, "notes")
    assert (notes.kind, notes.max_length, notes.required) == ("text", 500, False)


def test_posted_fields_become_typed_answers_and_round_trip() -> None:
    form = {
        field_name("systolic"): "152",
        field_name("diastolic"): " 96 ",
        field_name("heart-rate"): "70",
        field_name("weight"): "81.5",
        field_name("adherence"): "1",
        field_name("new-symptoms"): "false",
        field_name("notes"): "",
        "csrf": "x",
    }
    values = posted_values(EXAMPLE_CRF, form)
    assert "notes" not in values
    assert values["diastolic"] == "96"
    response, unreadable = crf_response(EXAMPLE_CRF, values)
    assert unreadable == {}
    assert response["status"] == "completed"
    assert response["questionnaire"] == EXAMPLE_CRF["url"]
    vitals, weight, adherence, symptoms = response["item"]
    assert vitals["item"][0] == {"linkId": "systolic", "answer": [{"valueInteger": 152}]}
    assert weight["answer"] == [{"valueDecimal": 81.5}]
    assert adherence["answer"][0]["valueCoding"]["code"] == "most"
    assert symptoms["answer"] == [{"valueBoolean": False}]
    assert values_of(EXAMPLE_CRF, response) == values  # a stored CRF fills the correction's form as it was posted


def test_what_cannot_be_an_answer_is_told_beside_its_field() -> None:
    values = {"systolic": "high", "weight": "8O", "adherence": "7", "new-symptoms": "maybe"}
    response, unreadable = crf_response(EXAMPLE_CRF, values, "in-progress")
    assert unreadable == {
        "systolic": ["a whole number"],
        "weight": ["a number"],
        "adherence": ["pick one of its options"],
        "new-symptoms": ["yes or no"],
    }
    assert response["status"] == "in-progress"
    assert response["item"] == []
    shown = crf_fields(EXAMPLE_CRF, values, unreadable)
    assert _field(shown, "systolic").problems == ("a whole number",)
    assert _field(shown, "systolic").value == "high"


# The pages, on a served node -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialSite]:
    with trial_site(tmp_path_factory, "trial-site") as found:
        yield found


@pytest.fixture(scope="module")
def drbob(site: TrialSite) -> Iterator[httpx.Client]:
    with session(site.clinic, "drbob") as client:
        yield client


def _page(client: httpx.Client, path: str, status: int = 200) -> str:
    page = client.get(path)
    assert page.status_code == status, page.text
    return page.text


def _enrolled(site: TrialSite, drbob: httpx.Client, trial_id: int) -> str:
    """A custodial patient enrolled through the page, consent taken in person: her Patient id."""
    patient_id = site.patient()
    done = post(drbob, f"/portal/trials/site/{trial_id}", f"/portal/trials/site/{trial_id}/enrol", patient=patient_id)
    assert done.status_code == 200, done.text
    assert f"Patient {patient_id} is enrolled" in words(done.text)
    return patient_id


def _crf_form(visit: int, **answers: str) -> dict[str, str]:
    """What the CRF form posts for visit `visit` of the example trial: typical answers, or `answers` (linkId with
    underscores for hyphens)."""
    typical = {"systolic": "150", "diastolic": "95", "heart-rate": "72", "weight": "80", "prior-treatment": "false"}
    typical |= {"adherence": "0", "new-symptoms": "false"} if visit > 1 else {}
    given = typical | {key.replace("_", "-"): value for key, value in answers.items()}
    return {field_name(link): value for link, value in given.items()}


def test_a_site_checks_eligibility_in_words_and_enrols_a_patient_in_person(
    site: TrialSite, drbob: httpx.Client
) -> None:
    trial_id = site.trial()
    listed = words(_page(drbob, "/portal/trials/site"))
    assert re.search(rf"HT-3.*\({trial_id}\).*phase-3.*0 of 60", listed), listed
    page = f"/portal/trials/site/{trial_id}"
    assert "No participant here yet" in words(_page(drbob, page))

    pregnant = site.patient(pregnant=True)
    checked = post(drbob, page, f"{page}/eligibility", patient=pregnant)
    assert checked.status_code == 200, checked.text
    said = words(checked.text)
    assert "Not met: active pregnancy on record" in said
    assert "She may not be enrolled: a criterion is not met" in said
    assert "She consented: enrol her" not in said
    refused = post(drbob, page, f"{page}/enrol", patient=pregnant)  # the service decides, whatever the page offers
    assert refused.status_code == 400
    assert f"not eligible for trial {trial_id}" in words(refused.text)

    patient_id = site.patient()
    checked = post(drbob, page, f"{page}/eligibility", patient=patient_id)
    assert "She meets every criterion" in words(checked.text)
    enrolled = post(drbob, page, f"{page}/enrol", patient=patient_id)
    assert enrolled.status_code == 200, enrolled.text
    said = words(enrolled.text)
    assert f"Patient {patient_id} is enrolled" in said
    assert "consent version 1" in said
    assert len(re.findall(r"<td>blocked: not randomised</td>", enrolled.text)) == 3  # before she is randomised
    assert "3 blocked: not randomised" in said


def test_a_crf_is_refused_before_randomisation_and_its_problems_shown_beside_their_fields(
    site: TrialSite, drbob: httpx.Client
) -> None:
    trial_id = site.trial()
    patient_id = _enrolled(site, drbob, trial_id)
    crf = f"/portal/trials/site/{trial_id}/patients/{patient_id}/visits/1"
    form = _page(drbob, crf)
    assert re.search(r'name="item-systolic" type="number" value="" step="1" min="60" max="260"', form), form
    assert "Enter the CRF" in words(form)

    early = post(drbob, crf, f"{crf}/crf", **_crf_form(1))
    assert early.status_code == 409
    assert "she is not randomised yet" in words(early.text)
    assert site.node.trial_registry.randomise(SPONSOR, trial_id) == 1

    wrong = post(drbob, crf, f"{crf}/crf", **_crf_form(1, systolic="300", heart_rate="fast"))
    assert wrong.status_code == 400  # "fast" is no number: told by the form, before the service is asked
    assert re.search(r'id="item-heart-rate-problems"><li>a whole number</li>', wrong.text), wrong.text
    assert 'value="300"' in wrong.text  # what was typed is kept to correct
    out_of_range = post(drbob, crf, f"{crf}/crf", **_crf_form(1, systolic="300"))
    assert out_of_range.status_code == 400
    problems = re.search(r'id="item-systolic-problems"><li>([^<]*)</li>', out_of_range.text)
    assert problems, out_of_range.text
    assert "300" in problems.group(1)
    assert "260" in problems.group(1)
    missing = post(drbob, crf, f"{crf}/crf", **{k: v for k, v in _crf_form(1).items() if k != "item-weight"})
    assert missing.status_code == 400
    assert re.search(r'id="item-weight-problems"><li>required</li>', missing.text), missing.text

    stored = post(drbob, crf, f"{crf}/crf", **_crf_form(1))
    assert stored.status_code == 200, stored.text
    said = words(stored.text)
    assert "Version 1 of this CRF is stored, complete" in said
    assert "Correct the CRF" in said
    assert 'name="item-systolic" type="number" value="150"' in stored.text  # the stored answers, to correct


def test_a_correction_needs_its_reason_and_the_history_says_who_when_and_why(
    site: TrialSite, drbob: httpx.Client
) -> None:
    trial_id = site.trial()
    patient_id = _enrolled(site, drbob, trial_id)
    site.node.trial_registry.randomise(SPONSOR, trial_id)
    crf = f"/portal/trials/site/{trial_id}/patients/{patient_id}/visits/1"
    half = post(drbob, crf, f"{crf}/crf", **_crf_form(1, weight=""), status="in-progress")
    assert half.status_code == 200, half.text
    assert "Version 1 of this CRF is stored: it is not complete yet" in words(half.text)
    unpaid = post(drbob, crf, f"{crf}/pay")
    assert unpaid.status_code == 400
    assert "visit 1's CRF is incomplete" in words(unpaid.text)

    reasonless = post(drbob, crf, f"{crf}/correct", **_crf_form(1, weight="82.4"))
    assert reasonless.status_code == 400
    assert re.search(r'<p class="error" role="alert" id="crf-error">a correction needs its reason</p>', reasonless.text)
    assert 'value="82.4"' in reasonless.text
    reason = "weight missed at the visit, read from the scale's printout"
    corrected = post(drbob, crf, f"{crf}/correct", **_crf_form(1, weight="82.4"), reason=reason)
    assert corrected.status_code == 200, corrected.text
    said = words(corrected.text)
    assert "Version 2 of this CRF is stored, complete" in said
    rows = re.findall(
        r"<tr><td>(\d)</td><td>([^<]*)</td><td><time[^>]*>[^<]*</time></td><td>([^<]*)</td>", corrected.text
    )
    assert [tuple(map(unescape, row)) for row in rows] == [("1", "drbob", "entered"), ("2", "drbob", reason)]

    listed = f"/portal/trials/site/{trial_id}"
    deadline = time.monotonic() + 90  # the node anchors the CRF, then its round pays the visit
    while (
        "paid" not in re.findall(r"<td>(paid|entered)[^<]*</td>", _page(drbob, listed)) and time.monotonic() < deadline
    ):
        time.sleep(1)
    assert "1 paid" in words(_page(drbob, listed))
    paid = post(drbob, crf, f"{crf}/pay")  # asked again, the payment made is shown
    assert paid.status_code == 200, paid.text
    assert "Visit 1 is paid: 40 CARE to the site and 15 CARE to her payee" in words(paid.text)


def test_a_visit_waits_for_her_reconsent_after_an_amendment(site: TrialSite, drbob: httpx.Client) -> None:
    trial_id = site.trial()
    patient_id = _enrolled(site, drbob, trial_id)
    site.node.trial_registry.randomise(SPONSOR, trial_id)
    assert site.amend(trial_id) == 2
    listed = words(_page(drbob, f"/portal/trials/site/{trial_id}"))
    assert "3 blocked: re-consent" in listed
    assert "re-consent before their next visit" in listed
    crf = f"/portal/trials/site/{trial_id}/patients/{patient_id}/visits/1"
    blocked = post(drbob, crf, f"{crf}/crf", **_crf_form(1))
    assert blocked.status_code == 409
    assert "her next visit waits for her re-consent: she signed version 1" in words(blocked.text)
    page = f"/portal/trials/site/{trial_id}"
    assert len(re.findall(r"She consented again", _page(drbob, page))) == 1  # once per participant, not per visit
    again = post(drbob, page, f"{page}/reconsent", patient=patient_id)
    assert again.status_code == 200, again.text
    said = words(again.text)
    assert f"Patient {patient_id} consented to version 2: her visits may go on" in said
    assert "3 due" in said
    assert post(drbob, crf, f"{crf}/crf", **_crf_form(1)).status_code == 200


def test_the_site_pages_are_the_care_teams(site: TrialSite) -> None:
    trial_id = site.trial()
    with session(site.clinic, "carol") as carol:
        assert "the staff pages are for this node's care team" in words(_page(carol, "/portal/trials/site", 403))
        refused = words(_page(carol, f"/portal/trials/site/{trial_id}", 403))
        assert "is not of this site's care team: trial work here is its staff's" in refused
