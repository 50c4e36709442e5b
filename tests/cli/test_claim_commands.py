"""`careledger claim|token ...` end to end on the home's anvil chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careledger.chain import open_chain
from careledger.config import Home
from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil

ROOT = Path(__file__).resolve().parents[2]


def _file(tmp_path: Path, name: str, resource: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(resource))
    return str(path)


@pytest.fixture
def home(cli: Cli, tmp_path: Path) -> Cli:
    """The worked example's plan (docs/claims.md), alice enrolled, the node a network provider."""
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("insurer", "insurer"), ("alice", "patient")):
        assert cli("wallet", "new", name, "--role", role).code == 0
    for name in ("node", "insurer", "alice"):
        assert cli("identity", "register", name).code == 0, name
    assert cli("token", "mint", "insurer", "1000000").code == 0
    start = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    created = cli(
        "claim", "plan", "create", "--as", "insurer",
        "--allowed", "office-visit=150", "--allowed", "lab=80", "--allowed", "imaging=1200",
        "--allowed", "surgery=8000", "--deductible", "500", "--coinsurance", "20", "--oop-max", "1500",
        "--preauth", "imaging", "--review-over", "5000", "--start", start, "--fund", "100000", "--json",
    )  # fmt: skip
    assert created.code == 0, created.err
    plan = created.json()
    assert (plan["plan"], plan["escrow"], plan["preauth_classes"]) == (1, "100000", ["imaging"])
    assert cli("claim", "plan", "network", "1", "node", "--as", "insurer").code == 0
    assert cli("claim", "enroll", "alice", "--plan", "1", "--as", "insurer").code == 0
    patient = synthetic_patients(1, seed=12)[0].patient
    assert cli("record", "add", _file(tmp_path, "p.json", patient), "--patient", "alice").code == 0
    for encounter_id, days_ago in (("visit-1", 2), ("surgery-1", 1)):
        encounter = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "period": {"start": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")},
        }
        assert cli("record", "add", _file(tmp_path, f"{encounter_id}.json", encounter)).code == 0
    return cli


def test_plan_create_with_more_funds_than_the_insurer_holds_creates_no_plan(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "insurer", "--role", "insurer").code == 0
    assert cli("identity", "register", "insurer").code == 0
    assert cli("token", "mint", "insurer", "50").code == 0
    create = ("claim", "plan", "create", "--as", "insurer", "--allowed", "office-visit=150", "-q")
    refused = cli(*create, "--fund", "100")
    assert (refused.code, refused.out) == (6, "")
    assert "insurer holds 50 CARE, less than the 100 asked for: nothing was done" in refused.err
    assert cli("claim", "plan", "show", "1").code == 4
    created = cli(*create, "--fund", "50")
    assert (created.code, created.out) == (0, "1\n")  # the plan's id alone, for PLAN=$(…)
    assert cli("claim", "plan", "show", "1", "--json").json()["escrow"] == "50"


def test_a_claim_is_submitted_paid_reviewed_and_the_share_paid_by_permit(home: Cli) -> None:
    paid = home("claim", "submit", "--encounter", "visit-1", "--line", "cpt:99213=200", "--json")
    assert paid.code == 0, paid.err
    view = paid.json()
    assert (view["status"], view["billed"], view["payer_share"], view["patient_share"]) == ("paid", "200", "0", "150")
    assert view["decisions"][0]["deductible"] == "150"
    eob = home("record", "get", view["explanation_of_benefit"]).json()
    assert eob["resourceType"] == "ExplanationOfBenefit"
    pended = home("claim", "submit", "--encounter", "surgery-1", "--line", "cpt:29881=10000", "--json").json()
    assert (pended["status"], pended["reason"]) == ("pended", "133: " + _REVIEW)
    assert home("claim", "review", pended["claim"], "--approve").code == 2  # no insurer wallet given
    approved = home("claim", "review", pended["claim"], "--approve", "--as", "insurer", "--json")
    assert approved.code == 0, approved.err
    assert (approved.json()["status"], approved.json()["payer_share"]) == ("paid", "6650")
    followed = home("claim", "status", pended["record"], "--json").json()
    assert home("claim", "status", f"Claim/{pended['record']}", "--json").json() == followed
    assert [d["status"] for d in followed["decisions"]] == ["pended", "paid"]
    assert home("token", "balance", "node", "--json").json()["balance"] == "6650"
    assert home("token", "transfer", "alice", "1000", "--as", "insurer").code == 0
    assert home("claim", "pay-share", view["claim"], "--as", "alice").code == 0
    assert home("token", "balance", "alice", "--json").json()["balance"] == "850"
    dust = "0x000000000000000000000000000000000000dEaD"  # one base unit: a plain decimal, never "1E-18"
    assert home("token", "transfer", dust, "0.000000000000000001", "--as", "insurer").code == 0
    assert home("token", "balance", dust, "--json").json()["balance"] == "0.000000000000000001"
    assert "0.000000000000000001 " in home("token", "balance", dust).out
    assert home("claim", "status", view["claim"], "--json").json()["patient_paid"]


_REVIEW = "The disposition of this service line is pending further review"


def test_a_denied_claim_is_printed_and_exits_11(home: Cli) -> None:
    denied = home(
        "claim", "submit", "--encounter", "Encounter/surgery-1", "--line", "cpt:70450=900", "--class", "imaging",
        "--json",
    )  # fmt: skip
    assert denied.code == 11, denied.err
    assert denied.json()["status"] == "denied"  # the outcome is printed first, for people and scripts alike
    assert "was denied" in denied.err
    assert home("claim", "status", denied.json()["claim"], "--json").json()["status"] == "denied"


def test_bad_claim_input_is_refused_with_a_clear_error(home: Cli) -> None:
    bad_line = home("claim", "submit", "--encounter", "visit-1", "--line", "99213=200")
    assert bad_line.code == 2
    assert "SYSTEM:CODE=AMOUNT" in bad_line.err
    bad_class = home("claim", "submit", "--encounter", "visit-1", "--line", "cpt:99213=200", "--class", "spa")
    assert (bad_class.code, "unknown service class 'spa'" in bad_class.err) == (2, True)
    too_fine = home("claim", "submit", "--encounter", "visit-1", "--line", "cpt:99213=0.0000000000000000001")
    assert (too_fine.code, "finer than the token's 18 decimals" in too_fine.err) == (2, True)
    assert home("claim", "status", "visit-1").code == 2  # an Encounter, not a Claim
    assert home("claim", "status", "0x" + "ab" * 32).code == 4
    assert home("record", "list", "--type", "Claim", "--json").json() == []


def test_a_crash_between_writing_the_claim_and_submitting_it_loses_nothing(home: Cli) -> None:
    home_dir = Home(home.home)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CARELEDGER_CRASH_AT": "claim-written"}
    command = [sys.executable, "-m", "careledger", "--home", str(home.home), "claim", "submit"]
    command += ["--encounter", "visit-1", "--line", "cpt:99213=200", "--json"]
    with open_chain("anvil", chain_dir=home_dir.chain_dir, keep=True):
        crashed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        claims = home("record", "list", "--type", "Claim", "--json").json()
        assert len(claims) == 1  # written, never submitted
        assert home("claim", "status", claims[0]["id"]).code == 4
        again = home("claim", "submit", "--encounter", "visit-1", "--line", "cpt:99213=200", "--json")
        assert again.code == 0, again.err
        assert (again.json()["status"], again.json()["record"]) == ("paid", claims[0]["id"])
        assert home("record", "history", claims[0]["id"], "--json").json()[0]["version"] == 1
