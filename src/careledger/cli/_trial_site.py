"""`careledger trial ...` as a site's staff run it: eligibility, enrolment and consent, withdrawal, the visit list,
CRFs and their corrections, adverse events, and the milestone payments the node settles.

Each command acts as this node, or with `--as` as a member of its care team (a wallet kept here whose affiliation
the node attested); the service decides who may, and reads her record through that caller's guarded repository.
A PATIENT is her Patient record here (`Patient/<id>` or its id); on chain she is only a salted participant id.
"""

from __future__ import annotations

import sys
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from careledger.access import Accessor
from careledger.cli._context import acts_as, address_of, as_node, local_record_id, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import print_json, progress
from careledger.cli._trial_view import (
    day,
    eligibility_json,
    print_crf,
    print_eligibility,
    print_enrolment,
    print_history,
    print_visits,
    say,
)
from careledger.errors import Conflict, ValidationError

if TYPE_CHECKING:
    from careledger.services import Operations
    from careledger.trials import CrfEntry, Enrolment

app = typer.Typer()

TrialArgument = Annotated[int, typer.Argument(metavar="ID", help="The trial's id.", min=1)]
PatientArgument = Annotated[str, typer.Argument(metavar="PATIENT", help="Her Patient record: Patient/<id>, or its id.")]
VisitArgument = Annotated[int, typer.Argument(metavar="VISIT", help="The visit's number (1, 2, …).", min=1)]
ResponseArgument = Annotated[
    Path, typer.Argument(metavar="FILE", help="The visit's QuestionnaireResponse (FHIR JSON; - for stdin).")
]
StaffOption = Annotated[
    str | None,
    typer.Option("--as", help="A member of this node's care team: a wallet kept here [default: the node]."),
]
SignatureOption = Annotated[
    str | None,
    typer.Option(
        "--signature", help="Her own wallet's EIP-712 signature (0x…) [default: the node signs as custodian]."
    ),
]
SEVERITIES = ("mild", "moderate", "severe")


PayeeOption = Annotated[
    str | None,
    typer.Option(
        "--payee",
        help="Where her stipends go: an address she gives (written on chain next to the trial, so it is linked to "
        "the trial: a fresh one is best). None: held until she names one (at a re-consent, hers stays).",
    ),
]


def _staff(node: Operations, as_who: str | None) -> Accessor:
    """Who acts: the node, or `--as`'s wallet (the service checks it is of the care team)."""
    return as_node(node) if as_who is None else Accessor(acts_as(node, as_who))


@app.command()
def eligible(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Whether a patient is eligible for a trial, each criterion checked against her record and said in words (met,
    failed, or unknown: missing data is never guessed). Exit 0 if she is, else 6 after the verdict."""
    with open_node(ctx) as node:
        patient_id = local_record_id(node, patient)
        verdict = node.trial_site.eligibility(_staff(node, as_who), trial_id, patient_id)
    if json:
        print_json(eligibility_json(verdict, trial_id, f"Patient/{patient_id}"))
    else:
        print_eligibility(verdict, trial_id, f"Patient/{patient_id}")
    if not verdict.eligible:
        reasons = verdict.failed + verdict.unknown
        raise Conflict(f"Patient/{patient_id} is not eligible for trial {trial_id}: {'; '.join(reasons)}")


@app.command()
def enrol(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    payee: PayeeOption = None,
    signature: SignatureOption = None,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Enrol an eligible patient with her consent to the current version: signed by her own wallet (--signature,
    over the typed data the portal shows her), or for a custodial patient taken in person: signed by this node with
    her custodial key, you its witness (recorded with her Consent and in the audit). Without --payee her stipends
    are held in the escrow until one is named (`trial payee`)."""
    with open_node(ctx) as node:
        to = address_of(node, payee) if payee is not None else None
        enrolled = node.trial_site.enrol(
            _staff(node, as_who), trial_id, local_record_id(node, patient), payee=to, signature=signature
        )
    _enrolment(enrolled, json, "enrolled")


@app.command("consent-request")
def consent_request(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    payee: PayeeOption = None,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """The consent of the trial's current version as EIP-712 typed data (`TrialConsent`), for a patient's own wallet
    to sign (eth_signTypedData_v4); her participant id and salt are kept here. Then `trial enrol` or `trial
    reconsent` with --signature. Refused unless she is eligible. Prints the typed data as JSON either way."""
    with open_node(ctx) as node:
        to = address_of(node, payee) if payee is not None else None
        typed = node.trial_site.consent_request(_staff(node, as_who), trial_id, local_record_id(node, patient), to)
    print_json(typed)
    if not json:
        progress.print("her wallet signs this; then `careledger trial enrol ID PATIENT --signature 0x…`", markup=False)


@app.command()
def payee(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="The address she gives for her stipends.")],
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Name the address a participant gives for her stipends: what was held for her is paid to it at once (said,
    and `released` in CARE in the JSON), later stipends go to it. Tell her first: the address is written on the public
    chain next to the trial, linking it to the trial (a fresh address, used for nothing else, is best)."""
    with open_node(ctx) as node:
        to = address_of(node, address)
        held = node.trial_registry.payments(trial_id).to_json()["held_stipends"]  # what the naming pays out
        named = node.trial_site.name_payee(_staff(node, as_who), trial_id, local_record_id(node, patient), to)
    released = held.get(named.participant, "0")
    if json:
        print_json({**named.to_json(), "released": released})
        return
    print_enrolment(named, "payee named for")
    if released == "0":
        say("  nothing was held for her; her later stipends go to the payee")
    else:
        say(f"  {released} CARE held for her paid out to the payee; her later stipends go to it too")


@app.command()
def reconsent(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    signature: SignatureOption = None,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Record a participant's consent to the trial's current version after an amendment that asks for it: until
    then her next visit waits."""
    with open_node(ctx) as node:
        done = node.trial_site.reconsent(
            _staff(node, as_who), trial_id, local_record_id(node, patient), signature=signature
        )
    _enrolment(done, json, "re-consented")


@app.command()
def withdraw(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    yes: Annotated[bool, typer.Option("--yes", help="She confirmed, having been told what happens to her data.")] = (
        False
    ),
    signature: SignatureOption = None,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Withdraw a participant from a trial, at her wish: says first what happens to her data (from the trial's
    definition), then asks to confirm (without a terminal, --yes). No visit of hers is paid after it."""
    with open_node(ctx) as node:
        patient_id = local_record_id(node, patient)
        told = node.trial_registry.protocol(trial_id).data_on_withdrawal
        progress.print(f"What happens to her data if she withdraws from trial {trial_id}: {told}", markup=False)
        if not yes:
            if not sys.stdin.isatty():
                raise ValidationError("nothing done: confirm in a terminal, or pass --yes once she has confirmed")
            typer.confirm(f"Withdraw Patient/{patient_id} from trial {trial_id}?", abort=True, err=True)
        done = node.trial_site.withdraw(_staff(node, as_who), trial_id, patient_id, signature=signature)
    if json:
        print_json({**done.to_json(), "data_on_withdrawal": told})
    else:
        print_enrolment(done, "withdrew")


@app.command()
def visits(ctx: typer.Context, trial_id: TrialArgument, as_who: StaffOption = None, json: JsonFlag = False) -> None:
    """This site's visit list for a trial: each participant's visits, when due, and their status (due, blocked:
    re-consent, blocked: not randomised, withdrawn, entered, paid)."""
    with open_node(ctx) as node:
        rows = node.trial_site.visits(_staff(node, as_who), trial_id)
    if json:
        print_json([row.to_json() for row in rows])
    else:
        print_visits(rows, trial_id)


@app.command()
def crf(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    visit: VisitArgument,
    file: ResponseArgument,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Enter a visit's CRF: the QuestionnaireResponse in FILE, checked against the visit's Questionnaire, stored as
    her record and anchored; says whether it is complete and where it differs from her record (source data
    verification). Refused before randomisation and while she owes a re-consent."""
    response = _response(file)
    with open_node(ctx) as node:
        staff = _staff(node, as_who)
        entry = node.trial_site.enter_crf(staff, trial_id, local_record_id(node, patient), visit, response)
        rows = node.trial_site.visits(staff, trial_id)
    _crf(entry, json, "entered")
    row = next((r for r in rows if (r.participant, r.visit) == (entry.participant, entry.visit)), None)
    if row is not None and row.due is not None:
        _warn_outside_window(row.due, row.window_days, entry.visit, _visit_day(response))


@app.command()
def correct(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    visit: VisitArgument,
    file: ResponseArgument,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is corrected (kept in its audit trail).")] = (
        None
    ),
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Correct a visit's CRF: FILE becomes its new version, with who, when and --reason in a Provenance; the earlier
    versions stay (`trial history`)."""
    if reason is None or not reason.strip():
        raise ValidationError("a correction needs its reason (--reason TEXT): nothing was changed")
    response = _response(file)
    with open_node(ctx) as node:
        entry = node.trial_site.correct_crf(
            _staff(node, as_who), trial_id, local_record_id(node, patient), visit, response, reason.strip()
        )
    _crf(entry, json, "corrected")


@app.command()
def history(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    visit: VisitArgument,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """A visit's CRF audit trail: each version, who stored it, when and why."""
    with open_node(ctx) as node:
        versions = node.trial_site.crf_history(_staff(node, as_who), trial_id, local_record_id(node, patient), visit)
    if json:
        print_json([version.to_json() for version in versions])
    else:
        print_history(versions)


@app.command("adverse-event")
def adverse_event(
    ctx: typer.Context,
    trial_id: TrialArgument,
    patient: PatientArgument,
    code: Annotated[str, typer.Option("--code", help="What happened, coded: SYSTEM|CODE (e.g. SNOMED CT, MedDRA).")],
    display: Annotated[str, typer.Option("--display", help="The code's words.")],
    serious: Annotated[
        bool, typer.Option("--serious/--not-serious", help="Serious: sent at once to the sponsor and ethics boards.")
    ],
    severity: Annotated[str, typer.Option("--severity", help="mild, moderate or severe.")],
    when: Annotated[str | None, typer.Option("--date", help="When it happened (YYYY-MM-DD) [default: today].")] = None,
    description: Annotated[str, typer.Option("--description", help="What happened, for her record here.")] = "",
    narrative: Annotated[
        str | None, typer.Option("--narrative", help="Words to send with a serious one's report (default: codes only).")
    ] = None,
    as_who: StaffOption = None,
    json: JsonFlag = False,
) -> None:
    """Report an adverse event of a participant: an AdverseEvent in her record; a serious one also goes at once,
    signed, to the node the sponsor and each approving ethics board chose (her id on chain, no name): said for each
    reader, delivered or waiting (a warning on stderr; it is sent again until it arrives)."""
    from careledger.trials import AdverseEventInput

    system, _, coded = code.rpartition("|")
    if not system or not coded:
        raise ValidationError(f"--code: SYSTEM|CODE, e.g. http://snomed.info/sct|230690007, not {code[:60]!r}")
    if severity not in SEVERITIES:
        raise ValidationError(f"--severity: one of {', '.join(SEVERITIES)}, not {severity[:20]!r}")
    happened = day(when, "--date") if when is not None else datetime.now(UTC).date()
    given = AdverseEventInput(system, coded, display, serious, severity, happened, description, narrative)
    with open_node(ctx) as node:
        event = node.trial_site.report_adverse_event(
            _staff(node, as_who), trial_id, local_record_id(node, patient), given
        )
    if json:
        print_json(event.to_json())
    else:
        say(f"reported AdverseEvent/{event.event.get('id', '?')} ({'serious' if serious else 'not serious'})")
        for delivery in event.deliveries:
            where = "delivered" if delivery.delivered else f"waiting, sent again until it arrives: {delivery.waiting}"
            say(f"  safety report to {delivery.reader}: {where}")
    for delivery in event.waiting:
        # One line each, however narrow the terminal: a script reads who was not reached.
        warning = f"warning: the safety report has not reached {delivery.reader} yet"
        progress.print(warning, markup=False, soft_wrap=True)


@app.command()
def settle(
    ctx: typer.Context,
    trial_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="Only this trial.", min=1)] = None,
    json: JsonFlag = False,
) -> None:
    """Pay, from the escrow, every visit this site entered whose CRF is complete and anchored: the site's fee to
    this node and her stipend to her payee (`serve` does it in its rounds)."""
    with open_node(ctx) as node:
        paid = node.trial_site.settle(trial_id)
    if json:
        print_json([payment.to_json() for payment in paid])
        return
    if not paid:
        say("nothing to pay: no complete, anchored CRF waits")
    for payment in paid:
        data = payment.to_json()
        say(
            f"paid visit {data['visit']} of participant {data['participant']}: "
            f"{data['site_fee']} CARE to the site, {data['stipend']} CARE stipend  tx {data['tx']}"
        )


def _response(file: Path) -> dict[str, Any]:
    """The QuestionnaireResponse in FILE (- for stdin), read before the node is opened; `ValidationError` naming
    the file and what is wrong with it."""
    from careledger.fhir import loads_object

    try:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{file}: cannot be read ({exc.strerror})") from None
    try:
        response = loads_object(raw, what=str(file))
    except ValidationError as exc:
        raise ValidationError(f"{file}: {exc}" if str(file) not in str(exc) else str(exc)) from None
    kind = response.get("resourceType")
    if kind != "QuestionnaireResponse":
        raise ValidationError(f"{file}: a QuestionnaireResponse, not {kind or 'a resource without resourceType'}")
    return response


def _visit_day(response: dict[str, Any]) -> date:
    """The day a visit took place: the day its response was authored, today if it says none (as the site does)."""
    authored = response.get("authored")
    if isinstance(authored, str):
        with suppress(ValueError):
            return date.fromisoformat(authored[:10])
    return datetime.now(UTC).date()


def _warn_outside_window(due: date, window_days: int, visit: int, held_on: date) -> None:
    """A line on stderr when a visit was entered outside its window: the protocol's windows are shown, not enforced
    (the visit is recorded and paid all the same), so the staff should know it was early or late."""
    off = (held_on - due).days
    if abs(off) > window_days:
        progress.print(
            f"warning: visit {visit} is dated {held_on}, {abs(off)} days {'early' if off < 0 else 'late'} for its "
            f"window ({due} ±{window_days} days); it is recorded and paid all the same",
            markup=False,
            soft_wrap=True,
        )


def _enrolment(done: Enrolment, json: bool, verb: str) -> None:
    if json:
        print_json(done.to_json())
    else:
        print_enrolment(done, verb)


def _crf(entry: CrfEntry, json: bool, verb: str) -> None:
    if json:
        print_json(entry.to_json())
    else:
        print_crf(entry, verb)
