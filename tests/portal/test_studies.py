"""A study through the CLI an operator runs and the portal a patient uses, in a real Chromium.

The researcher registers a study and an ethics board approves it with `careledger study`;
carol, signed in with her browser's wallet, joins it by signing its research consent and
participation in the page, sees it among her studies, and leaves it the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.portal.browser import check_page, wallet_context
from tests.portal.conftest import Clinic

pytestmark = pytest.mark.anvil


def _study(clinic: Clinic, protocol: Path) -> int:
    for name, role in (("lab", "researcher"), ("irb", "org")):
        clinic.cli("wallet", "new", name, "--role", role)
        clinic.cli("identity", "register", name)
    clinic.cli("identity", "attest", "node", "irb", "--type", "research-ethics-approval", "--days", "30")
    clinic.cli("token", "mint", "lab", "1000", json_out=False)
    protocol.write_text("Sleep and resting heart rate: protocol v1")
    created = clinic.cli(
        "study", "create", "--as", "lab", "--protocol", str(protocol), "--categories", "labs,vitals",
        "--data-from", "2000-01-01", "--data-to", "2030-12-31", "--reward", "10", "--budget", "100",
    )  # fmt: skip
    assert (created["reward"], created["escrow"], created["approved_by"]) == ("10", "100", None)
    return int(created["id"])


def test_a_patient_joins_and_leaves_a_study_in_the_portal(clinic: Clinic, browser: Browser, tmp_path: Path) -> None:
    study_id = _study(clinic, tmp_path / "protocol.txt")
    carol = wallet_context(browser, clinic.account("carol")).new_page()
    carol.goto(f"{clinic.url}/portal/signin")
    carol.get_by_role("button", name="Sign in with the browser's wallet").click()
    carol.wait_for_url(re.compile(r"/portal/records"))
    carol.goto(f"{clinic.url}/portal/studies")
    expect(carol.get_by_text("No approved study is open")).to_be_visible()  # nothing before the board approves

    approved = clinic.cli("study", "approve", str(study_id), "--as", "irb")
    assert approved["approved_by"] == clinic.address("irb")
    carol.reload()
    check_page(carol, "studies")
    carol.get_by_role("button", name="Sign and join").click()
    carol.wait_for_url(re.compile(r"/portal/studies$"), timeout=60_000)
    joined = carol.get_by_role("row", name=re.compile(rf"^{study_id} "))
    expect(joined).to_contain_text("labs, vitals")
    expect(joined).to_contain_text("nothing yet")
    check_page(carol, "studies-joined")
    (mine,) = clinic.cli("study", "mine", "--patient", "carol")["studies"]
    assert (mine["study"], mine["left_at"], mine["earned"]) == (study_id, None, "0")
    assert clinic.cli("study", "show", str(study_id))["participants"] == 1

    carol.get_by_role("button", name="Sign and leave").click()
    carol.wait_for_url(re.compile(r"/portal/studies$"), timeout=60_000)
    expect(carol.get_by_role("row", name=re.compile(rf"^{study_id} "))).to_contain_text("(left ")
    assert clinic.cli("study", "show", str(study_id))["participants"] == 0
    (mine,) = clinic.cli("study", "mine", "--patient", "carol")["studies"]
    assert mine["left_at"] is not None
