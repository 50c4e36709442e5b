"""`careledger trial ...` on the homes of a trial network sharing one anvil chain (tests/trials/conftest.py): the
sponsor registers a trial from its definition file, the ethics board approves it, the sponsor commits the seed; site
A checks a patient's eligibility, enrols her, enters and corrects a CRF (refused without a reason), reports a serious
adverse event that reaches the sponsor, settles the visit; the sponsor randomises, reads payments and the forecast,
and unblinds. The sponsor tops up a trial's escrow, removes a site, and takes back what the escrow holds beyond what
is owed after unblinding. Then refusals, each one line with its exit code, and --json shapes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from careledger.chain import Role
from careledger.cli import _output as output
from careledger.testdata import PASSPHRASE
from tests.cli.conftest import Cli, clis
from tests.trials.conftest import AMENDMENT, BOARD, EXAMPLE, SPONSOR, TrialNetwork, trial_network

__all__ = ["trial_network"]  # the network fixture, shared with tests/trials

pytestmark = pytest.mark.anvil


@pytest.fixture
def run(
    trial_network: TrialNetwork, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Cli]:
    net = trial_network
    # Tables' cells (addresses, statuses) read whole: 200 columns whatever width the console was made with, which
    # COLUMNS decides only when the first test of the process builds it (80 under CI, where a cell then wraps).
    monkeypatch.setattr(output.console, "_width", 200)
    homes = {"sponsor": net.sponsor, "board": net.board, "a": net.site_a, "b": net.site_b}
    return clis({name: node.home.path for name, node in homes.items()}, capsys, monkeypatch)


@pytest.fixture(scope="module")
def definition(trial_network: TrialNetwork, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example definition with the network's sites A and B, as a file a sponsor would write."""
    return _with_sites(trial_network, EXAMPLE, tmp_path_factory.mktemp("definitions") / "trial.json")


def _with_sites(net: TrialNetwork, example: Path, path: Path) -> Path:
    """An example definition with the network's sites A and B, written to `path`."""
    data = json.loads(example.read_text())
    data["sites"] = [net.site_a.address, net.site_b.address]
    return _write(path, data)


def _write(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    return path


def test_a_trial_from_registration_to_unblinding(
    trial_network: TrialNetwork, run: dict[str, Cli], definition: Path, tmp_path: Path
) -> None:
    net, sponsor, board, a = trial_network, run["sponsor"], run["board"], run["a"]
    registered = sponsor("trial", "register", str(definition), "--as", SPONSOR, "--json")
    assert registered.code == 0, registered.err
    view = registered.json()
    trial = view["id"]
    assert (view["current_version"], view["pending_version"], view["seed_committed"]) == (0, 1, False)
    assert (view["site_fee"], view["stipend"], view["budget"], view["escrow"]) == ("40", "15", "9900", "9900")
    assert view["sites"] == [net.site_a.address, net.site_b.address]
    approved = board("trial", "approve", str(trial), "--as", BOARD)
    assert approved.code == 0, approved.err
    # the board's node holds no definition of it: the chain's arms, numbered
    assert f"approved trial {trial}: approved; seed not committed" in approved.said
    assert "arms arm 0, arm 1; 3 visits; target 60" in approved.said
    assert "enrolled 0 (0 withdrawn) at 2 sites" in approved.said
    assert "warning: approved without its definition: this node holds none" in approved.err
    seeded = sponsor("trial", "commit-seed", str(trial), "--as", SPONSOR)
    assert seeded.code == 0, seeded.err
    assert f"seed committed for trial {trial} (HT-3" in seeded.said
    assert "recruiting" in seeded.said
    brought = tmp_path / "definition-v1.json"  # by hand: what the sponsor registered, byte for byte
    brought.write_bytes(net.sponsor.trial_registry.definition(trial, 1))
    adopted = a("trial", "adopt", str(trial), str(brought), "--json")
    assert (adopted.code, adopted.json()) == (0, {"trial": trial, "version": 1}), adopted.err
    refused = a("trial", "adopt", str(trial), str(definition))  # not the canonical bytes: no version's hash
    assert (refused.code, len(refused.err.strip().splitlines())) == (2, 1), refused.err
    assert "protocol hash of no version" in refused.err

    patient = net.patient(net.site_a, sex="male", age=64)
    eligible = a("trial", "eligible", str(trial), patient, "--as", "staff-a")
    assert eligible.code == 0, eligible.err
    assert f"Patient/{patient}: eligible for trial {trial}" in eligible.said
    enrolled = a("trial", "enrol", str(trial), patient, "--json")
    assert enrolled.code == 0, enrolled.err
    subject = enrolled.json()
    participant = subject["participant"]
    assert (subject["status"], subject["consented_version"], subject["index"]) == ("on-study", 1, 0)
    assert (subject["stipends_held"], subject["witness"]) == (
        True,
        f"did:pkh:eip155:{net.site_a.chain_id}:{net.site_a.address}",
    )
    assert subject["patient"] == patient
    assert patient not in participant  # on chain she is a salted commitment
    blocked = a("trial", "visits", str(trial), "--json").json()
    assert [(row["visit"], row["status"]) for row in blocked] == [
        (1, "blocked: not randomised"),
        (2, "blocked: not randomised"),
        (3, "blocked: not randomised"),
    ]

    randomised = sponsor("trial", "randomise", str(trial), "--as", SPONSOR)
    assert (randomised.code, randomised.out.strip()) == (0, f"allocated 1 participant of trial {trial} (blinded)")
    listed = a("trial", "visits", str(trial))
    assert listed.code == 0, listed.err
    assert f"Patient/{patient}" in listed.out
    assert "due" in listed.out

    failing = _write(tmp_path / "failing.json", net.crf(1, systolic=400, diastolic=None))
    refused = a("trial", "crf", str(trial), patient, "1", str(failing))
    assert (refused.code, len(refused.err.strip().splitlines())) == (2, 1), refused.err
    assert "systolic" in refused.err
    assert "diastolic" in refused.err
    crf = _write(tmp_path / "visit-1.json", net.crf(1, systolic=152))
    entered = a("trial", "crf", str(trial), patient, "1", str(crf), "--as", "staff-a", "--json")
    assert entered.code == 0, entered.err
    entry = entered.json()
    assert (entry["visit"], entry["version"], entry["complete"], entry["participant"]) == (1, 1, True, participant)
    corrected_crf = _write(tmp_path / "visit-1b.json", net.crf(1, systolic=142))
    unreasoned = a("trial", "correct", str(trial), patient, "1", str(corrected_crf))
    assert (unreasoned.code, len(unreasoned.err.strip().splitlines())) == (2, 1)
    assert "a correction needs its reason" in unreasoned.err
    corrected = a("trial", "correct", str(trial), patient, "1", str(corrected_crf), "--reason", "transcription error")
    assert corrected.code == 0, corrected.err
    assert "corrected visit 1" in corrected.said
    assert "version 2, complete" in corrected.said
    trail = a("trial", "history", str(trial), patient, "1", "--json").json()
    assert [(v["version"], v["complete"]) for v in trail] == [(1, True), (2, True)]
    assert trail[1]["why"] == "transcription error"
    assert all(v["when"] and v["who"] for v in trail)

    with net.served():  # a serious event's report travels to the sponsor's and the board's nodes
        reported = a(
            "trial", "adverse-event", str(trial), patient, "--code", "http://snomed.info/sct|230690007",
            "--display", "Stroke", "--serious", "--severity", "severe", "--date", date.today().isoformat(),
        )  # fmt: skip
    assert reported.code == 0, reported.err
    assert "reported AdverseEvent/" in reported.said
    assert "(serious)" in reported.said
    assert f"safety report to {net.sponsor_address}: delivered" in reported.said
    assert f"safety report to {net.board_address}: delivered" in reported.said
    assert "warning" not in reported.err
    reports = sponsor("trial", "safety-reports", str(trial), "--as", SPONSOR, "--json")
    assert reports.code == 0, reports.err
    [report] = reports.json()
    assert (report["trial"], report["site"]) == (trial, net.site_a.address)
    assert "trial_id" not in report
    assert report["received"].endswith("+00:00")
    assert patient not in json.dumps(report)
    shown = sponsor("trial", "safety-reports", str(trial), "--as", SPONSOR)
    assert net.site_a.address in shown.out
    unheard = a(
        "trial", "adverse-event", str(trial), patient, "--code", "http://snomed.info/sct|271594007",
        "--display", "Syncope", "--serious", "--severity", "moderate", "--json",
    )  # fmt: skip  # no node serving: each report waits at the site, said so
    assert unheard.code == 0, unheard.err
    waiting = unheard.json()["safety_report"]
    assert {(d["reader"], d["delivered"]) for d in waiting} == {
        (net.sponsor_address, False),
        (net.board_address, False),
    }
    assert all(d["waiting"] for d in waiting)
    assert f"warning: the safety report has not reached {net.sponsor_address} yet" in unheard.err

    settled = a("trial", "settle", str(trial), "--json")
    assert settled.code == 0, settled.err
    [paid] = settled.json()
    assert (paid["participant"], paid["visit"], paid["site_fee"], paid["stipend"]) == (participant, 1, "40", "15")
    assert a("trial", "settle", str(trial)).said == "nothing to pay: no complete, anchored CRF waits"
    held = sponsor("trial", "payments", str(trial), "--json").json()
    assert (held["held_stipends"], held["by_participant"]) == ({participant: "15"}, {})  # no payee: held for her
    assert [p["stipend_held"] for p in held["payments"]] == [True]
    assert "held stipends (CARE)" in sponsor("trial", "payments", str(trial)).out
    named = a("trial", "payee", str(trial), patient, Account.create().address, "--json")
    assert (named.code, named.json()["stipends_held"], named.json()["released"]) == (0, False, "15"), named.err
    renamed = a("trial", "payee", str(trial), patient, Account.create().address)
    assert renamed.code == 0, renamed.err
    assert "nothing was held for her; her later stipends go to the payee" in renamed.said
    payments = sponsor("trial", "payments", str(trial), "--json").json()
    assert (payments["paid"], payments["by_site"], payments["by_participant"], payments["held_stipends"]) == (
        "55",
        {net.site_a.address: "40"},
        {participant: "15"},
        {},
    )
    assert (payments["escrow_left"], payments["owed"]) == (str(9900 - 55), str(2 * 55))
    assert "held" not in payments
    said = sponsor("trial", "payments", str(trial))
    assert f"trial {trial}: paid 55 CARE of 9900; escrow left 9845, owed 110" in said.said

    forecast = sponsor("trial", "forecast", str(trial), "--json")
    assert forecast.code == 0, forecast.err
    predicted = forecast.json()
    assert (predicted["enrolled"], predicted["target"], predicted["reached"]) == (1, 60, False)
    assert predicted["low"] <= predicted["median"] <= predicted["high"]
    assert predicted["sites_to_add"] is None  # no deadline asked
    told = sponsor("trial", "forecast", str(trial))
    assert f"trial {trial}: 1 of 60 enrolled; target reached by {predicted['median']} (median)" in told.said
    assert f"90% interval {predicted['low']} to {predicted['high']}" in told.said
    deadline = (date.today() + timedelta(days=3650)).isoformat()
    asked = sponsor("trial", "forecast", str(trial), "--deadline", deadline, "--json")
    assert asked.code == 0, asked.err
    assert (asked.json()["deadline"], asked.json()["sites_to_add"]) == (deadline, 0)  # ten years: enough as it is
    chance = asked.json()["deadline_chance"]
    assert chance >= 0.9
    enough = sponsor("trial", "forecast", str(trial), "--deadline", deadline)
    assert f"chance of reaching the target by {deadline} with the sites open now: {chance:.0%}" in enough.said
    assert f"no site to add: the sites open now reach the target by {deadline} with 90% probability" in enough.said
    soon = (date.today() + timedelta(days=30)).isoformat()
    hurried = sponsor("trial", "forecast", str(trial), "--deadline", soon, "--json").json()
    more = hurried["sites_to_add"]
    assert more > 0
    assert hurried["deadline_chance"] < 0.9
    told = sponsor("trial", "forecast", str(trial), "--deadline", soon)
    assert f"with the sites open now: {hurried['deadline_chance']:.0%}" in told.said
    said = f"to reach the target by {soon} with 90% probability, add {more} site{'' if more == 1 else 's'} opening"
    assert said in told.said

    unblinded = sponsor("trial", "unblind", str(trial), "--as", SPONSOR, "--json")
    assert unblinded.code == 0, unblinded.err
    done = unblinded.json()
    [allocation] = done["allocations"]
    assert (allocation["participant"], allocation["index"], allocation["site"]) == (participant, 0, net.site_a.address)
    assert allocation["arm_code"] in ("combination", "monotherapy")
    assert done["seed"].startswith("0x")
    assert len(done["seed"]) == 66
    after = sponsor("trial", "show", str(trial), "--json").json()
    assert (after["blinded"], after["enrolled"], after["status"]) == (False, 1, "unblinded")
    told = sponsor("trial", "unblind", str(trial), "--as", SPONSOR)  # again: shown from the chain, as it was
    assert told.code == 0, told.err
    assert "1 allocation, each checked against its commitment on chain" in told.said


def test_withdrawal_says_what_happens_to_her_data_and_needs_a_yes(
    trial_network: TrialNetwork, run: dict[str, Cli], tmp_path: Path
) -> None:
    net, a = trial_network, run["a"]
    trial = net.trial()
    patient = net.patient(net.site_a)
    assert a("trial", "enrol", str(trial), patient).code == 0
    unconfirmed = a("trial", "withdraw", str(trial), patient)
    assert unconfirmed.code == 2
    assert "What happens to her data if she withdraws" in unconfirmed.err
    assert "no new study data is collected from you" in " ".join(unconfirmed.err.split())
    assert "nothing done: confirm in a terminal, or pass --yes" in unconfirmed.err
    assert a("trial", "visits", str(trial), "--json").json()[0]["status"] != "withdrawn"

    withdrawn = a("trial", "withdraw", str(trial), patient, "--yes", "--json")
    assert withdrawn.code == 0, withdrawn.err
    view = withdrawn.json()
    assert view["status"] == "withdrawn"
    assert "no new study data is collected" in view["data_on_withdrawal"]
    assert {row["status"] for row in a("trial", "visits", str(trial), "--json").json()} == {"withdrawn"}
    crf = a("trial", "crf", str(trial), patient, "1", str(_write(tmp_path / "crf.json", net.crf(1))))
    assert crf.code == 6
    assert "withdrew from trial" in crf.err


def test_an_amendment_that_asks_for_reconsent_blocks_her_next_visit_until_she_signs(
    trial_network: TrialNetwork, run: dict[str, Cli], tmp_path: Path
) -> None:
    net, sponsor, board, a = trial_network, run["sponsor"], run["board"], run["a"]
    trial = net.trial()
    patient = net.patient(net.site_a)
    assert a("trial", "enrol", str(trial), patient).code == 0
    assert sponsor("trial", "randomise", str(trial), "--as", SPONSOR).code == 0
    amendment = _with_sites(net, AMENDMENT, tmp_path / "amendment.json")
    amended = sponsor("trial", "amend", str(trial), str(amendment), "--reconsent", "--as", SPONSOR, "--json")
    assert amended.code == 0, amended.err
    assert (amended.json()["latest_version"], amended.json()["pending_version"]) == (2, 2)
    assert amended.json()["versions"][1]["reconsent"] is True
    approved = board("trial", "approve", str(trial), "--version", "2", "--as", BOARD)
    assert approved.code == 0, approved.err
    assert "version 2 current" in approved.said
    assert "consent to version 2 or later needed for a visit" in approved.said
    net.site_a.trial_registry.adopt(trial, net.sponsor.trial_registry.definition(trial, 2))

    assert a("trial", "visits", str(trial), "--json").json()[0]["status"] == "blocked: re-consent"
    crf = _write(tmp_path / "crf.json", net.crf(1))
    early = a("trial", "crf", str(trial), patient, "1", str(crf))
    assert early.code == 6, early.err
    assert "her next visit waits for her re-consent" in early.err
    signed = a("trial", "reconsent", str(trial), patient)
    assert signed.code == 0, signed.err
    assert f"re-consented Patient/{patient} in trial {trial}" in signed.said
    assert "consent version 2" in signed.said
    assert a("trial", "visits", str(trial), "--json").json()[0]["status"] == "due"
    first = a("trial", "crf", str(trial), patient, "1", str(crf))
    assert first.code == 0, first.err
    early = a("trial", "crf", str(trial), patient, "2", str(_write(tmp_path / "crf-2.json", net.crf(2))))
    assert early.code == 0, early.err  # windows are shown, not enforced: a word on stderr
    assert "warning: visit 2 is dated" in early.err
    assert "days early for its window" in early.err
    assert "±3 days); it is recorded and paid all the same" in early.err

    added = sponsor("trial", "add-site", str(trial), net.board.address, "--as", SPONSOR, "--json")
    assert added.code == 0, added.err
    assert added.json()["sites"] == [net.site_a.address, net.site_b.address, net.board.address]


def test_her_own_wallet_signs_the_consent_of_the_current_version_only(
    trial_network: TrialNetwork, run: dict[str, Cli]
) -> None:
    net, a = trial_network, run["a"]
    trial = net.trial()
    her = Account.create()
    patient = net.patient(net.site_a, wallet=her)
    asked = a("trial", "consent-request", str(trial), patient, "--payee", her.address, "--json")
    assert asked.code == 0, asked.err
    typed = asked.json()
    assert (typed["primaryType"], typed["message"]["version"], typed["message"]["payee"]) == (
        "TrialConsent",
        1,
        her.address,
    )
    stale = her.sign_typed_data(full_message=typed).signature.to_0x_hex()
    net.amend(trial)  # version 2 approved before she sent her signature of version 1
    refused = a("trial", "enrol", str(trial), patient, "--signature", stale)
    assert refused.code == 2, refused.err
    assert "she signed the consent of version 1, not the current version 2" in refused.err
    assert len(refused.err.strip().splitlines()) == 1

    shown = a("trial", "consent-request", str(trial), patient, "--payee", her.address)
    assert "her wallet signs this" in shown.err
    signature = her.sign_typed_data(full_message=json.loads(shown.out)).signature.to_0x_hex()
    enrolled = a("trial", "enrol", str(trial), patient, "--signature", signature, "--json")
    assert enrolled.code == 0, enrolled.err
    assert (enrolled.json()["status"], enrolled.json()["consented_version"]) == ("on-study", 2)


def test_lists_and_shows_trials_as_tables_and_json(trial_network: TrialNetwork, run: dict[str, Cli]) -> None:
    net, b = trial_network, run["b"]
    trial = net.trial(seed=False)
    listed = b("trial", "list", "--json")
    assert listed.code == 0, listed.err
    mine = next(t for t in listed.json() if t["id"] == trial)
    assert (mine["sponsor"], mine["seed_committed"], mine["blinded"]) == (net.sponsor_address, False, True)
    assert mine["status"] == "approved; seed not committed"  # the words the table shows
    assert mine["title"].startswith("HT-3")  # site B holds the definition, so it names the trial
    table = b("trial", "list")
    assert table.code == 0, table.err
    assert "approved; seed not committed" in table.out
    shown = b("trial", "show", str(trial))
    assert shown.code == 0, shown.err
    assert shown.out.startswith(f"trial {trial} (HT-3")
    assert b("trial", "show", str(trial), "--json").json()["status"] == "approved; seed not committed"
    assert net.board_address in shown.out  # the version's approver, in the versions table
    assert f"sites: {net.site_a.address}, {net.site_b.address}" in shown.said


@pytest.mark.parametrize(
    ("home", "args", "code", "says"),
    [
        ("sponsor", ["show", "9999"], 4, "9999"),
        ("sponsor", ["register", "/nonexistent/trial.json", "--as", SPONSOR], 2, "cannot be read"),
        ("sponsor", ["register", "{bad-definition}", "--as", SPONSOR], 2, "target"),
        ("sponsor", ["forecast", "1", "--deadline", "next year"], 2, "--deadline: not a date"),
        # the amount is read before the node opens: no wallet "nobody" nor trial 9999 is looked for
        ("sponsor", ["top-up", "9999", "--amount", "-1", "--as", "nobody"], 2, "--amount: not an amount: '-1'"),
        ("sponsor", ["top-up", "9999", "--amount", "abc", "--as", "nobody"], 2, "--amount: not an amount: 'abc'"),
        ("sponsor", ["top-up", "9999", "--amount", "1.0000000000000000001", "--as", "nobody"], 2,
         "--amount: 1.0000000000000000001 is finer than the token's 18 decimals"),
        ("sponsor", ["top-up", "9999", "--amount", "0", "--as", "nobody"], 2, "--amount: more than nothing, not '0'"),
        ("a", ["crf", "1", "p", "1", "{not-json}"], 2, "not-json.json"),
        ("a", ["crf", "1", "p", "1", "{patient-json}"], 2, "a QuestionnaireResponse, not Patient"),
        ("a", ["adverse-event", "1", "p", "--code", "230690007", "--display", "Stroke", "--serious",
               "--severity", "severe"], 2, "--code: SYSTEM|CODE"),
        ("a", ["adverse-event", "1", "p", "--code", "http://snomed.info/sct|1", "--display", "x", "--serious",
               "--severity", "grave"], 2, "--severity: one of mild, moderate, severe"),
    ],
)  # fmt: skip
def test_a_wrong_input_is_one_line_and_its_exit_code(
    run: dict[str, Cli], tmp_path: Path, home: str, args: list[str], code: int, says: str
) -> None:
    files = {
        "{bad-definition}": _write(tmp_path / "bad.json", {**json.loads(EXAMPLE.read_text()), "target": 0}),
        "{not-json}": _write(tmp_path / "not-json.json", "{ this is not json"),
        "{patient-json}": _write(tmp_path / "patient.json", {"resourceType": "Patient"}),
    }
    done = run[home]("trial", *[str(files.get(a, a)) for a in args])
    assert done.code == code, done.err
    assert says in done.err
    assert len(done.err.strip().splitlines()) == 1


def test_the_sponsor_tops_up_removes_a_site_and_takes_back_the_escrow_after_unblinding(
    trial_network: TrialNetwork, run: dict[str, Cli]
) -> None:
    net, sponsor, board = trial_network, run["sponsor"], run["board"]
    trial = net.trial()
    topped = sponsor("trial", "top-up", str(trial), "--amount", "12.5", "--as", SPONSOR, "--json")
    assert topped.code == 0, topped.err
    assert (topped.json()["escrow"], topped.json()["budget"], topped.json()["owed"]) == ("9912.5", "9912.5", "0")
    said = sponsor("trial", "top-up", str(trial), "--amount", "0.000000000000000001", "--as", SPONSOR)
    assert said.code == 0, said.err
    assert f"topped up trial {trial} (HT-3" in said.said
    assert "escrow 9912.500000000000000001 of 9912.500000000000000001 CARE left" in said.said

    removed = sponsor("trial", "remove-site", str(trial), net.site_b.address, "--as", SPONSOR, "--json")
    assert (removed.code, removed.json()["sites"]) == (0, [net.site_a.address]), removed.err
    again = sponsor("trial", "remove-site", str(trial), net.site_b.address, "--as", SPONSOR)
    assert (again.code, len(again.err.strip().splitlines())) == (5, 1), again.err
    assert "trials: not a site of the trial" in again.err
    assert sponsor("trial", "show", str(trial), "--json").json()["sites"] == [net.site_a.address]

    patient = net.patient(net.site_a)
    net.site_a.trial_site.enrol(net.staff(net.site_a), trial, patient, payee=Account.create().address)
    early = sponsor("trial", "return-escrow", str(trial), "--as", SPONSOR)
    assert (early.code, len(early.err.strip().splitlines())) == (6, 1), early.err
    assert "trials: not unblinded yet: the escrow is returned after unblinding" in early.err
    net.sponsor.trial_registry.unblind(SPONSOR, trial)
    stranger = board("trial", "return-escrow", str(trial), "--as", BOARD)
    assert (stranger.code, len(stranger.err.strip().splitlines())) == (5, 1), stranger.err
    assert "trials: not the sponsor" in stranger.err
    returned = sponsor("trial", "return-escrow", str(trial), "--as", SPONSOR, "--json")
    assert returned.code == 0, returned.err
    # 3 visits of 40 + 15 owed to her: the rest returns, to the base unit
    assert returned.json() == {"trial": trial, "returned": "9747.500000000000000001", "escrow_left": "165"}
    twice = sponsor("trial", "return-escrow", str(trial), "--as", SPONSOR)
    assert (twice.code, len(twice.err.strip().splitlines())) == (6, 1), twice.err
    assert "trials: nothing to return: the escrow holds nothing beyond what is owed" in twice.err
    assert sponsor("trial", "top-up", str(trial), "--amount", "2", "--as", SPONSOR).code == 0  # taken after too
    told = sponsor("trial", "return-escrow", str(trial), "--as", SPONSOR)
    assert told.code == 0, told.err
    assert told.said == (
        f"returned 2 CARE of trial {trial}'s escrow to {net.sponsor_address}; it keeps 165 CARE for the visits ahead"
    )
    books = sponsor("trial", "payments", str(trial))  # both returns beside what is left: the budget accounted for
    assert books.code == 0, books.err
    assert books.said.startswith(
        f"trial {trial}: paid 0 CARE of 9914.500000000000000001; escrow left 165, owed 165; "
        "returned to the sponsor 9749.500000000000000001"
    )


def test_refusals_of_the_chain_and_the_site_name_their_reason(trial_network: TrialNetwork, run: dict[str, Cli]) -> None:
    net, sponsor, board, a = trial_network, run["sponsor"], run["board"], run["a"]
    unseeded = net.trial(seed=False)
    early = sponsor("trial", "randomise", str(unseeded), "--as", SPONSOR)
    assert early.code == 6, early.err
    assert "seed is not committed" in early.err
    again = board("trial", "approve", str(unseeded), "--as", BOARD)  # nothing is pending any more
    assert again.code != 0
    assert len(again.err.strip().splitlines()) == 1
    net.site_a.wallets.create("visitor", Role.PRACTITIONER, PASSPHRASE)  # a wallet here, not of its care team
    stranger = a("trial", "visits", str(unseeded), "--as", "visitor")
    assert stranger.code == 5, stranger.err
    assert "is not of this site's care team" in stranger.err
    unknown = a("trial", "eligible", str(unseeded), "Patient/nobody")
    assert unknown.code == 4, unknown.err
    untold = net.patient(net.site_a, egfr=None)
    verdict = a("trial", "eligible", str(unseeded), f"Patient/{untold}")
    assert verdict.code == 6, verdict.err
    assert f"Patient/{untold}: NOT eligible for trial {unseeded}" in verdict.said
    assert "unknown" in verdict.out  # no eGFR on record: never guessed
    assert f"Patient/{untold} is not eligible for trial {unseeded}: no eGFR" in verdict.err
    assert len(verdict.err.strip().splitlines()) == 1
