"""Issue 42's first acceptance item, end to end on one anvil chain: the example trial (HT-3, two arms 1:1, blocks of
2 and 4 stratified by sex and age, three visits, target 60) at two sites with 60 simulated participants.

The sponsor registers it (its budget escrowed) and the ethics board approves it; randomisation and enrolment are
refused until the seed is committed. Each site screens its candidates (the ineligible refused with their reason)
and enrols 30: custodial patients whose consent the node signs with her key (witnessed by the staff member), each
with a fresh payee address she gives, a few with none (their stipends held by the escrow until the site names one),
and one who signs the typed data with her own wallet as an outside wallet would. The sponsor randomises. Every
participant has three visits, each with a CRF; one CRF fails its Questionnaire, one is saved incomplete (its payment
refused) and corrected with a reason (its history says who, when and why). Mid-trial an approved amendment asks for
re-consent: a participant's next visit is refused until she re-consents, and a consent signed to the old version is
refused. A serious adverse event reaches the sponsor's and the board's nodes. Each round of visits is anchored once
per site and settled: every site is paid its fee per visit and every payee her stipend, to the base unit (a held
stipend once her payee is named). Then the sponsor unblinds, and scripts/trial_allocations.py (which imports nothing
of the project) recomputes every allocation from the chain. No participant's address or patient id is in any log of
the Trials contract, nor anywhere at the sponsor's node.

It takes about a minute on the shared 2-core test machine (39 to 62 s measured under other work, and 4 s to set up
the network): each round of visits is anchored in one batch per site and settled at once.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from careledger.access import Accessor
from careledger.errors import Conflict, ValidationError
from careledger.node import Node
from careledger.records import SearchQuery
from careledger.trials import AdverseEventInput, Enrolment
from tests.api.supply import reachable
from tests.trials.conftest import AMENDMENT, BOARD, SPONSOR, TrialNetwork

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "trial_allocations.py"
PER_SITE = 30
VISITS = 3
HELD_EVERY = 10  # every tenth participant a site enrols names no payee: her stipends are held
SERIOUS = AdverseEventInput(
    "http://snomed.info/sct", "267038008", "Oedema", True, "severe", date(2026, 12, 1), "both ankles", "hospitalised"
)
# Candidates each site screens out, and the words that say why.
INELIGIBLE: dict[str, list[tuple[dict[str, Any], str]]] = {
    "a": [({"pregnant": True}, "active pregnancy"), ({"egfr": 22.0}, "eGFR 22"), ({"egfr": None}, "no eGFR on record")],
    "b": [({"hypertension": False}, "no active essential hypertension"), ({"age": 85}, "age 85 is not <= 80")],
}

pytestmark = pytest.mark.anvil


@dataclass
class Participant:
    """One enrolled participant as the test follows her: her site, her Patient id there, her address (custodial or
    her own), what her enrolment said, and the payee her stipends end at (None: held until one is named)."""

    site: Node
    patient_id: str
    address: str
    enrolment: Enrolment
    payee: str | None

    @property
    def participant(self) -> bytes:
        """Her participant id on chain."""
        return bytes.fromhex(self.enrolment.participant[2:])


def test_a_trial_of_sixty_runs_from_registry_to_unblinding_and_an_outside_script_recomputes_it(
    trial_network: TrialNetwork,
) -> None:
    net = trial_network
    token = net.sponsor.contracts.token()
    before = {address: token.balance_of(address) for address in (net.site_a.address, net.site_b.address)}
    # The sponsor's and the board's nodes serve: a site fetches each version's definition from the sponsor's, and
    # a safety report travels to both. The sites are not served, so no background round of theirs settles visits
    # while the test settles them itself.
    with reachable(net.sponsor), reachable(net.board):
        trial_id = _registered_and_approved(net)
        participants = _enrolled(net, trial_id)
        first = _round(net, trial_id, participants, visit=1)
        late = _amended_mid_trial(net, trial_id, participants, first)
        everyone = [*participants, late]
        _round(net, trial_id, everyone, visit=2, late=late)
        _round(net, trial_id, everyone, visit=3, late=late)
        _round(net, trial_id, [late], visit=3)
        _serious_adverse_event(net, trial_id, everyone[-2])
    _held_until_named(net, trial_id, everyone)
    _consents_signed_by_each(net, everyone[0], [1, 2], custodial=True)  # the node signed with her key, twice
    _consents_signed_by_each(net, everyone[-1], [2], custodial=False)  # her own wallet signed
    _paid_to_the_base_unit(net, trial_id, everyone, before)
    _unblinded_and_recomputed_outside(net, trial_id, everyone)
    _nobody_named(net, everyone)


# Registry, approval, seed ---------------------------------------------------------------------


def _registered_and_approved(net: TrialNetwork) -> int:
    """The sponsor registers the example trial at sites A and B, the board approves it, and nothing is randomised or
    enrolled before the seed is committed: the trial's id."""
    registry, protocol = net.sponsor.trial_registry, net.protocol()
    token = net.sponsor.contracts.token()
    held = token.balance_of(net.sponsor_address)
    registered = registry.register(SPONSOR, protocol)
    trial_id = registered.trial_id
    assert (registered.current_version, registered.latest_version, registered.target) == (0, 1, 2 * PER_SITE)
    assert registered.sites == (net.site_a.address, net.site_b.address)
    assert registered.escrow == protocol.budget == 2 * PER_SITE * VISITS * (protocol.site_fee + protocol.stipend)
    assert token.balance_of(net.sponsor_address) == held - protocol.budget
    approved = net.board.trial_registry.approve(BOARD, trial_id)
    assert (approved.current_version, approved.versions[0].approved_by) == (1, net.board_address)
    with pytest.raises(Conflict, match=f"trial {trial_id}'s seed is not committed yet"):
        registry.randomise(SPONSOR, trial_id)
    early = net.patient(net.site_a)
    with pytest.raises(Conflict, match=f"trial {trial_id}'s randomisation seed is not committed yet"):
        net.site_a.trial_site.enrol(net.staff(net.site_a), trial_id, early)
    assert registry.commit_seed(SPONSOR, trial_id).seed_committed
    assert net.sponsor.contracts.trials().trial(trial_id).enrolled == 0
    return trial_id


# Eligibility, consent, enrolment, randomisation ---------------------------------------------------


def _candidates(net: TrialNetwork, site: Node, count: int) -> Iterator[str]:
    """`count` eligible patients of `site`, spread over the strata: female and male (one other), under and over 60."""
    for n in range(count):
        sex = "other" if n == 7 else ("female", "male")[n % 2]
        yield net.patient(site, sex=sex, age=(45, 66)[(n // 2) % 2], egfr=60.0 + n)


def _enrolled(net: TrialNetwork, trial_id: int) -> list[Participant]:
    """Both sites screen their candidates (the ineligible refused with their reason) and enrol, alternately, 30 at
    site A and 29 at site B, their consent signed by the node with each custodial key; the sponsor randomises them
    in two batches, and a CRF before randomisation is refused."""
    sites = {"a": net.site_a, "b": net.site_b}
    for name, refused in INELIGIBLE.items():
        site, staff = sites[name], net.staff(sites[name])
        for facts, why in refused:
            patient = net.patient(site, **facts)
            verdict = site.trial_site.eligibility(staff, trial_id, patient)
            assert not verdict.eligible
            assert any(why in said for said in [*verdict.failed, *verdict.unknown]), (why, verdict)
            with pytest.raises(ValidationError, match=f"not eligible for trial {trial_id}: .*{re.escape(why)}"):
                site.trial_site.enrol(staff, trial_id, patient)
    at_a, at_b = _candidates(net, net.site_a, PER_SITE), [*_candidates(net, net.site_b, PER_SITE - 1), None]
    queue = zip(at_a, at_b, strict=True)
    enrolled: list[Participant] = []
    for pair in queue:
        for site, patient in zip((net.site_a, net.site_b), pair, strict=True):
            if patient is None:
                continue
            staff = net.staff(site)
            assert site.trial_site.eligibility(staff, trial_id, patient).eligible
            payee = None if len(enrolled) % HELD_EVERY == HELD_EVERY - 1 else Account.create().address
            done = site.trial_site.enrol(staff, trial_id, patient, payee=payee)
            assert (done.index, done.status, done.consented_version, done.site) == (
                len(enrolled),
                "on-study",
                1,
                site.address,
            )
            assert done.payee == payee  # never her own (custodial) address unless she names it
            address = site.maintenance.get(patient).patient_address
            enrolled.append(Participant(site, patient, address, done, payee))
        if len(enrolled) == PER_SITE:
            assert net.sponsor.trial_registry.randomise(SPONSOR, trial_id) == PER_SITE
    last = enrolled[-1]
    with pytest.raises(Conflict, match="she is not randomised yet"):
        last.site.trial_site.enter_crf(net.staff(last.site), trial_id, last.patient_id, 1, net.crf(1))
    assert net.sponsor.trial_registry.randomise(SPONSOR, trial_id) == 2 * PER_SITE - 1 - PER_SITE
    return enrolled


# Visits, CRFs, corrections, payments --------------------------------------------------------------


def _crf(net: TrialNetwork, visit: int, number: int) -> dict[str, Any]:
    """Her CRF of `visit`: simulated vitals that differ between participants and fall as treatment goes on."""
    systolic, diastolic = 158 - 4 * visit - number % 9, 96 - visit - number % 5
    return net.crf(visit, systolic=systolic, diastolic=diastolic, weight=70.5 + number)


def _round(
    net: TrialNetwork, trial_id: int, participants: list[Participant], *, visit: int, late: Participant | None = None
) -> int:
    """Visit `visit` of each participant (the late one's previous visit), entered at her site, then each site settles
    (its CRFs anchored in one batch): each visit is paid once, in order. In round 1 a CRF out of range is refused,
    and one saved incomplete is refused its payment until it is corrected, with a reason. The number of visits paid."""
    paid = 0
    incomplete = participants[1] if visit == 1 else None  # a site B participant
    for number, who in enumerate(participants):
        this = visit - 1 if who is late else visit
        site, staff = who.site.trial_site, net.staff(who.site)
        if visit == 1 and number == 0:
            with pytest.raises(ValidationError, match="systolic"):
                site.enter_crf(staff, trial_id, who.patient_id, this, net.crf(this, systolic=999))
        response = net.crf(1, status="in-progress", weight=None) if who is incomplete else _crf(net, this, number)
        entered = site.enter_crf(staff, trial_id, who.patient_id, this, response)
        assert (entered.visit, entered.version, entered.complete) == (this, 1, who is not incomplete)
    for site in (net.site_a, net.site_b):
        payments = site.trial_site.settle(trial_id)
        assert all(p.site == site.address for p in payments)
        paid += len(payments)
    if incomplete is not None:
        paid += _corrected(net, trial_id, incomplete)
    assert paid == len(participants)
    trials = net.sponsor.contracts.trials()
    for who in participants:
        on_chain = trials.participant(trial_id, who.participant)
        assert on_chain is not None
        assert on_chain.visits_paid == (visit - 1 if who is late else visit)
    return paid


def _corrected(net: TrialNetwork, trial_id: int, who: Participant) -> int:
    """Her incomplete CRF is refused its payment; corrected with a reason, it is complete and paid, and its history
    says who stored each version, when and why. Visits paid (1)."""
    site, staff = who.site.trial_site, net.staff(who.site)
    with pytest.raises(ValidationError, match="visit 1's CRF is incomplete"):
        site.pay(staff, trial_id, who.patient_id, 1)
    with pytest.raises(ValidationError, match="a correction needs its reason"):
        site.correct_crf(staff, trial_id, who.patient_id, 1, _crf(net, 1, 1), "")
    why = "weight measured after the form was saved"
    corrected = site.correct_crf(staff, trial_id, who.patient_id, 1, _crf(net, 1, 1), why)
    assert (corrected.version, corrected.complete) == (2, True)
    history = site.crf_history(staff, trial_id, who.patient_id, 1)
    assert [(v.version, v.who, v.why, v.complete) for v in history] == [
        (1, staff.address, "entered", False),
        (2, staff.address, why, True),
    ]
    assert history[0].when <= history[1].when
    (payment,) = site.settle(trial_id)
    assert (payment.participant, payment.visit) == (who.enrolment.participant, 1)
    return 1


# The amendment, re-consent, a consent to an old version, her own wallet ---------------------------


def _signed(wallet: LocalAccount, typed: dict[str, object]) -> str:
    """What an outside wallet does with `eth_signTypedData_v4`: the typed data as JSON in, a signature out."""
    message = encode_typed_data(full_message=json.loads(json.dumps(typed)))
    return "0x" + bytes(wallet.sign_message(message).signature).hex()


def _amended_mid_trial(net: TrialNetwork, trial_id: int, participants: list[Participant], paid: int) -> Participant:
    """After visit 1, an amendment asking for re-consent is approved: a participant's next visit is refused until
    she re-consents; the 60th candidate, who signed version 1's consent with her own wallet, is refused and signs
    version 2's; every other participant re-consents. The 60th, randomised."""
    sponsor, site_b = net.sponsor.trial_registry, net.site_b
    wallet = Account.create()
    her = Accessor(wallet.address)
    patient = net.patient(site_b, sex="female", age=62, wallet=wallet)
    old = _signed(wallet, site_b.trial_participant.consent_typed_data(her, trial_id, wallet.address))
    amended = sponsor.amend(SPONSOR, trial_id, net.protocol(AMENDMENT), reconsent=True)
    assert (amended.current_version, amended.latest_version) == (1, 2)
    approved = net.board.trial_registry.approve(BOARD, trial_id)
    assert (approved.current_version, approved.reconsent_from) == (2, 2)
    assert approved.escrow == approved.budget - paid * (approved.site_fee + approved.stipend)

    blocked = participants[0]
    site, staff = blocked.site.trial_site, net.staff(blocked.site)
    statuses = {r.visit: r.status for r in site.visits(staff, trial_id) if r.patient_id == blocked.patient_id}
    assert statuses == {1: "paid", 2: "blocked: re-consent", 3: "blocked: re-consent"}
    with pytest.raises(Conflict, match="her next visit waits for her re-consent"):
        site.enter_crf(staff, trial_id, blocked.patient_id, 2, _crf(net, 2, 0))

    with pytest.raises(ValidationError, match="she signed the consent of version 1, not the current version 2"):
        site_b.trial_participant.sign(her, trial_id, old)
    document = site_b.trial_participant.consent_document(her, trial_id)
    assert (document.version, document.hash) == (2, approved.versions[1].consent_hash)
    assert "New in this version" in document.text
    typed = site_b.trial_participant.consent_typed_data(her, trial_id, wallet.address)
    assert typed["message"]["version"] == 2
    joined = site_b.trial_participant.sign(her, trial_id, _signed(wallet, typed))
    assert (joined.index, joined.consented_version, joined.payee) == (2 * PER_SITE - 1, 2, wallet.address)

    for who in participants:
        again = who.site.trial_site.reconsent(net.staff(who.site), trial_id, who.patient_id)
        assert again.consented_version == 2
    assert sponsor.randomise(SPONSOR, trial_id) == 1
    return Participant(site_b, patient, wallet.address, joined, wallet.address)


def _consents_signed_by_each(net: TrialNetwork, who: Participant, versions: list[int], *, custodial: bool) -> None:
    """Her Consent records, one per version she signed, each carrying the typed data and a signature that recovers
    (outside the project, with eth_account) to her address: custodial (its key held by her site) or her own."""
    door = who.site.access.for_caller(net.staff(who.site))
    consents = door.search(SearchQuery(resource_type="Consent", patient_id=who.patient_id))
    signed = [json.loads(base64.b64decode(c["sourceAttachment"]["data"])) for c in consents]
    assert sorted(s["typedData"]["message"]["version"] for s in signed) == versions
    for evidence in signed:
        message = encode_typed_data(full_message=evidence["typedData"])
        assert Account.recover_message(message, signature=evidence["signature"]) == who.address
    assert who.site.custodial.holds(who.address) is custodial


# A serious adverse event -------------------------------------------------------------------------


def _serious_adverse_event(net: TrialNetwork, trial_id: int, who: Participant) -> None:
    """A serious adverse event at her site reaches the sponsor's and the board's nodes at once, naming her only by
    her participant id."""
    who.site.trial_site.report_adverse_event(net.staff(who.site), trial_id, who.patient_id, SERIOUS)
    seen = {
        "sponsor": net.sponsor.trial_registry.safety_reports(trial_id, net.sponsor_address),
        "board": net.board.trial_registry.safety_reports(trial_id, net.board_address),
    }
    for reader, reports in seen.items():
        assert len(reports) == 1, reader
        (report,) = reports
        assert (report["participant"], report["site"], report["serious"]) == (
            who.enrolment.participant,
            who.site.address,
            True,
        )
        assert report["event"]["code"] == "267038008"
        told = json.dumps(report)
        for named in ("Trialist", "Patient/", who.patient_id, who.address[2:].lower(), "both ankles"):
            assert named.lower() not in told.lower(), (reader, named)


# Payments, unblinding, the outside check, privacy -------------------------------------------------


def _held_until_named(net: TrialNetwork, trial_id: int, everyone: list[Participant]) -> None:
    """Those who named no payee had every stipend held (the sites were paid); once her site names the payee she gives,
    all of it is paid to that address at once, and nothing is held any more."""
    stipend = net.protocol().stipend
    held = [who for who in everyone if who.payee is None]
    assert len(held) == (2 * PER_SITE - 1) // HELD_EVERY  # of the 59 the sites enrolled (the 60th signed herself)
    payments = net.sponsor.trial_registry.payments(trial_id)
    assert payments.held_stipends == {who.enrolment.participant: stipend * VISITS for who in held}
    assert sum(p.held for p in payments.payments) == len(held) * VISITS
    token = net.sponsor.contracts.token()
    for who in held:
        who.payee = Account.create().address
        named = who.site.trial_site.name_payee(net.staff(who.site), trial_id, who.patient_id, who.payee)
        assert named.payee == who.payee
        assert token.balance_of(who.payee) == stipend * VISITS  # everything held, paid out at once
    assert net.sponsor.trial_registry.payments(trial_id).held_stipends == {}


def _paid_to_the_base_unit(
    net: TrialNetwork, trial_id: int, everyone: list[Participant], before: dict[str, int]
) -> None:
    """Each site is paid its fee per visit and each payee her stipend per visit, exactly; the escrow holds the budget
    less what it paid."""
    payments = net.sponsor.trial_registry.payments(trial_id)
    fee, stipend = net.protocol().site_fee, net.protocol().stipend
    per_site = Counter(who.site.address for who in everyone)
    assert per_site == {net.site_a.address: PER_SITE, net.site_b.address: PER_SITE}
    assert payments.paid_by_site == {site: fee * VISITS * count for site, count in per_site.items()}
    assert payments.paid_by_participant == {who.enrolment.participant: stipend * VISITS for who in everyone}
    assert len(payments.payments) == len(everyone) * VISITS
    assert payments.held == payments.budget - len(everyone) * VISITS * (fee + stipend) == 0
    assert payments.owed == 0
    token = net.sponsor.contracts.token()
    for site, count in per_site.items():
        assert token.balance_of(site) - before[site] == fee * VISITS * count
    for who in everyone:
        assert who.payee is not None
        assert token.balance_of(who.payee) == stipend * VISITS
    (hers,) = everyone[-1].site.trial_participant.trials(Accessor(everyone[-1].address))
    assert (hers.trial_id, hers.visits_paid, hers.consented_version, hers.reconsent_needed) == (trial_id, 3, 2, False)


def _unblinded_and_recomputed_outside(net: TrialNetwork, trial_id: int, everyone: list[Participant]) -> None:
    """The sponsor unblinds; the independent script recomputes the same 60 allocations from the chain and the
    revealed seed, and within each stratum the arms are balanced as blocks of at most 4 leave them."""
    unblinding = net.sponsor.trial_registry.unblind(SPONSOR, trial_id)
    assert not net.sponsor.trial_registry.show(trial_id).blinded
    arms = {a.participant: a.arm for a in unblinding.allocations}
    assert sorted(arms) == sorted(who.enrolment.participant for who in everyone)
    trials = net.sponsor.contracts.trials()
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), net.sponsor.settings.chain, trials.address, str(trial_id), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert checked.returncode == 0, checked.stderr
    verdict = json.loads(checked.stdout)
    assert (verdict["ok"], verdict["problems"], verdict["seed"]) == (True, [], unblinding.seed)
    assert len(verdict["allocations"]) == len(everyone)
    assert {row["participant"]: row["arm"] for row in verdict["allocations"]} == arms
    assert [row["index"] for row in verdict["allocations"]] == list(range(len(everyone)))
    by_stratum: dict[int, Counter[int]] = defaultdict(Counter)
    for allocation in unblinding.allocations:
        by_stratum[allocation.stratum][allocation.arm] += 1
    assert len(by_stratum) >= 4
    for stratum, counts in by_stratum.items():
        assert abs(counts[0] - counts[1]) <= 2, (stratum, counts)  # 1:1 in blocks of 2 or 4


def _nobody_named(net: TrialNetwork, everyone: list[Participant]) -> None:
    """No participant's address or patient id is in any log of the Trials contract, nor anywhere in the sponsor's
    home (its database and files): the sponsor holds no patient record."""
    w3 = net.sponsor.chain.w3
    trials = net.sponsor.contracts.trials().address
    logs = w3.eth.get_logs({"address": trials, "fromBlock": 0, "toBlock": "latest"})
    scanned = b"".join(bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"]) for log in logs)
    assert len(logs) > len(everyone) * (VISITS + 2)  # enrolled, allocated, three visits paid each, and more
    assert all(who.participant in scanned for who in everyone)  # the scan sees each participant's id
    files = [path.read_bytes() for path in net.sponsor.home.path.rglob("*") if path.is_file()]
    at_sponsor = b"".join(files) + b"".join(files).lower()  # hex, however it is cased
    assert net.sponsor_address[2:].lower().encode() in at_sponsor  # the scan sees its wallets' keystores
    for who in everyone:
        needles = (bytes.fromhex(who.address[2:]), who.address[2:].lower().encode(), who.patient_id.encode())
        for needle in needles:
            assert needle not in scanned, (who.patient_id, needle)
            assert needle not in at_sponsor, (who.patient_id, needle)
    assert [r for r in net.sponsor.maintenance.listing() if r.patient_id or r.resource_type == "Patient"] == []
    assert list(net.sponsor.custodial.addresses()) == []
