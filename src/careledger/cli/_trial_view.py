"""How `careledger trial ...` shows what the trial services answer, for people: a line for what was done, a Rich
table for each list. Scripts get each value's own JSON (`to_json()`: amounts in CARE, times in ISO 8601)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.table import Table

from careledger.cli._output import console

if TYPE_CHECKING:
    from careledger.trials import (
        CrfEntry,
        CrfVersion,
        Eligibility,
        Enrolment,
        ForecastView,
        PaymentsView,
        TrialSummary,
        Unblinding,
        VisitRow,
    )


def say(text: str) -> None:
    """One line on stdout, as written (no Rich markup read into it)."""
    console.print(text, markup=False)


def count(number: int, thing: str) -> str:
    """`number` things, the noun in the plural unless there is one ("1 site", "2 sites")."""
    return f"{number} {thing}{'' if number == 1 else 's'}"


def print_summary(trial: TrialSummary, verb: str) -> None:
    """A trial in a few lines: what was done to it (`verb`, none when it is only shown), its terms, its escrow and
    where it stands."""
    data = trial.to_json()
    title = f" ({trial.title}{', ' + trial.phase if trial.phase else ''})" if trial.title else ""
    say(f"{verb} trial {trial.trial_id}{title}: {trial.status}".lstrip())
    say(f"  sponsor {trial.sponsor}")
    say(f"  arms {', '.join(trial.arms)}; {count(trial.visits, 'visit')}; target {trial.target}")
    say(f"  enrolled {trial.enrolled} ({trial.withdrawn} withdrawn) at {count(len(trial.sites), 'site')}")
    say(f"  site fee {data['site_fee']} CARE and stipend {data['stipend']} CARE per visit")
    say(f"  escrow {data['escrow']} of {data['budget']} CARE left; {data['owed']} owed to the visits ahead")
    versions = [f"version {trial.current_version} current" if trial.approved else "no version approved yet"]
    if trial.pending_version is not None:
        versions.append(f"version {trial.pending_version} awaiting approval")
    if trial.reconsent_from:
        versions.append(f"consent to version {trial.reconsent_from} or later needed for a visit")
    say("  " + "; ".join(versions))


def print_trial(trial: TrialSummary) -> None:
    """One trial whole: its summary, its versions and its sites."""
    print_summary(trial, "")
    versions = Table("version", "protocol hash", "consent hash", "re-consent", "approved by", "approved at")
    for v in trial.versions:
        approved_at = v.approved_at.isoformat(timespec="seconds") if v.approved_at else ""
        versions.add_row(
            str(v.version),
            v.protocol_hash,
            v.consent_hash,
            "yes" if v.reconsent else "",
            v.approved_by or "",
            approved_at,
        )
    console.print(versions)
    say("sites: " + (", ".join(trial.sites) or "none"))


def print_trials(trials: list[TrialSummary]) -> None:
    """Trials as a table, the newest first."""
    if not trials:
        say("no trials registered")
        return
    table = Table("id", "title", "sponsor", "enrolled", "version", "escrow (CARE)", "status")
    for trial in trials:
        data = trial.to_json()
        table.add_row(
            str(trial.trial_id),
            trial.title or "",
            trial.sponsor,
            f"{trial.enrolled}/{trial.target}",
            str(trial.current_version or "-"),
            data["escrow"],
            trial.status,
        )
    console.print(table)


def print_unblinding(done: Unblinding) -> None:
    """The seed revealed and each participant's arm, in enrolment order."""
    say(f"unblinded trial {done.trial_id}: seed {done.seed} revealed on chain")
    table = Table("index", "participant", "site", "stratum", "arm")
    for allocation in done.allocations:
        arm = f"{allocation.arm_code} ({allocation.arm_name})"
        table.add_row(str(allocation.index), allocation.participant, allocation.site, str(allocation.stratum), arm)
    console.print(table)
    say(f"{count(len(done.allocations), 'allocation')}, each checked against its commitment on chain")


def print_payments(view: PaymentsView) -> None:
    """What the escrow paid, per site and per participant, what is left in it and owed, and the stipends it holds
    for participants who named no payee yet (the JSON's words: `escrow_left`, `held_stipends`, `stipend_held`)."""
    data = view.to_json()
    say(
        f"trial {view.trial_id}: paid {data['paid']} CARE of {data['budget']}; "
        f"escrow left {data['escrow_left']}, owed {data['owed']}"
        + (f"; returned to the sponsor {data['returned']}" if view.returned else "")
    )
    _amounts("site", "site fees (CARE)", data["by_site"])
    _amounts("participant", "stipends paid (CARE)", data["by_participant"])
    _amounts("participant", "held stipends (CARE)", data["held_stipends"])
    if view.payments:
        table = Table("participant", "visit", "site", "site fee", "stipend", "stipend held", "tx")
        for payment in data["payments"]:
            table.add_row(
                payment["participant"],
                str(payment["visit"]),
                payment["site"],
                payment["site_fee"],
                payment["stipend"],
                "yes" if payment["stipend_held"] else "",
                payment["tx"],
            )
        console.print(table)


def _amounts(who: str, what: str, amounts: Mapping[str, str]) -> None:
    if amounts:
        table = Table(who, what)
        for name, amount in amounts.items():
            table.add_row(name, amount)
        console.print(table)


def print_forecast(view: ForecastView) -> None:
    """Enrolment by site, the day the target is forecast (median, 90% interval) and, for a deadline, the chance the
    sites open now meet it and how many sites to add to meet it with 90% probability."""
    predicted = view.forecast
    rates = predicted.site_rates if predicted is not None else {}
    table = Table("site", "opened", "enrolled", "per day (fitted)")
    for site in view.sites:
        rate = f"{rates[site.site]:.3f}" if site.site in rates else ""
        table.add_row(site.site, site.opened.isoformat(), str(site.enrolled), rate)
    console.print(table)
    if predicted is None:
        say(f"trial {view.trial_id}: target {view.target} reached ({view.enrolled} enrolled)")
    else:
        say(
            f"trial {view.trial_id}: {view.enrolled} of {view.target} enrolled; target reached by {predicted.median} "
            f"(median), 90% interval {predicted.low} to {predicted.high}"
        )
        say(f"  {predicted.rate_per_day:.3f} enrolments a day at the open sites (as of {view.today})")
    if view.deadline is not None:
        if view.deadline_chance is not None:
            chance = f"{view.deadline_chance:.0%}"
            say(f"chance of reaching the target by {view.deadline} with the sites open now: {chance}")
        if view.sites_to_add:
            added = f"add {count(view.sites_to_add, 'site')} opening tomorrow"
            say(f"to reach the target by {view.deadline} with 90% probability, {added}")
        else:
            say(f"no site to add: the sites open now reach the target by {view.deadline} with 90% probability")


def print_eligibility(verdict: Eligibility, trial_id: int, patient: str) -> None:
    """The verdict, then each criterion met, failed or that cannot be told, in words."""
    said = "eligible" if verdict.eligible else "NOT eligible"
    console.print(f"{patient}: {said} for trial {trial_id}", markup=False, style="green" if verdict.eligible else "red")
    for mark, criteria in (("met", verdict.met), ("failed", verdict.failed), ("unknown", verdict.unknown)):
        for words in criteria:
            say(f"  {mark:8}{words}")


def eligibility_json(verdict: Eligibility, trial_id: int, patient: str) -> dict[str, Any]:
    """The verdict as JSON."""
    return {
        "trial": trial_id,
        "patient": patient,
        "eligible": verdict.eligible,
        "met": list(verdict.met),
        "failed": list(verdict.failed),
        "unknown": list(verdict.unknown),
    }


def print_enrolment(enrolment: Enrolment, verb: str) -> None:
    """A participant after an enrolment, re-consent or withdrawal: her id on chain and where she stands."""
    place = "" if enrolment.index is None else f", enrolment #{enrolment.index}"
    say(
        f"{verb} Patient/{enrolment.patient_id} in trial {enrolment.trial_id}: participant {enrolment.participant}, "
        f"{enrolment.status}, consent version {enrolment.consented_version}, stratum {enrolment.stratum}{place}"
    )


def print_visits(rows: list[VisitRow], trial_id: int) -> None:
    """A site's visit list as a table: whose, which, when due, and its status."""
    if not rows:
        say(f"no participants of trial {trial_id} at this site")
        return
    table = Table("patient", "participant", "visit", "due", "status")
    for row in rows:
        due = "" if row.due is None else f"{row.due} (±{row.window_days} d)"
        table.add_row(f"Patient/{row.patient_id}", row.participant, f"{row.visit} {row.name}", due, row.status)
    console.print(table)


def print_crf(entry: CrfEntry, verb: str) -> None:
    """A CRF stored: its record and version, whether complete, and where it differs from her record."""
    complete = "complete" if entry.complete else "incomplete (not paid until completed)"
    say(
        f"{verb} visit {entry.visit} of participant {entry.participant}: "
        f"QuestionnaireResponse/{entry.record_id} version {entry.version}, {complete}"
    )
    if entry.discrepancies:
        table = Table("item", "code", "CRF", "her record")
        for found in entry.to_json()["discrepancies"]:
            table.add_row(found["link_id"], str(found["code"]), str(found["crf"]), str(found["record"]))
        say("source data verification: the CRF differs from her record on that day")
        console.print(table)


def print_history(versions: list[CrfVersion]) -> None:
    """A CRF's audit trail: each version, who stored it, when and why."""
    table = Table("version", "who", "when", "why", "complete")
    for version in versions:
        when = version.when.isoformat(timespec="seconds")
        table.add_row(str(version.version), version.who, when, version.why, "yes" if version.complete else "no")
    console.print(table)


def print_reports(reports: Iterable[Mapping[str, Any]], trial_id: int) -> None:
    """Serious adverse events' safety reports received for a trial, a row each."""
    table = Table("received", "site", "participant", "event", "severity", "date")
    count = 0
    for report in reports:
        count += 1
        event = report.get("event") or {}
        table.add_row(
            str(report.get("received", "")),
            str(report.get("site", "")),
            str(report.get("participant", "")),
            str(event.get("display") or event.get("code", "")) if isinstance(event, Mapping) else str(event),
            str(report.get("severity", "")),
            str(report.get("date", "")),
        )
    if count:
        console.print(table)
    else:
        say(f"no safety reports of trial {trial_id} received here")


def day(text: str, option: str) -> date:
    """A date given as YYYY-MM-DD; `ValidationError` naming the option otherwise."""
    from careledger.errors import ValidationError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option}: not a date (YYYY-MM-DD): {text[:40]!r}") from None
