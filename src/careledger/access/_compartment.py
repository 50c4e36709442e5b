"""The compartment of a token that acts for one patient: her records and the node's own, no one else's.

A delegate who chose a patient at a SMART launch holds a token for that patient. The policy says what the
delegate may read (her own records, those of every patient she represents); this narrows it to what that token
may ask for, as a token's scopes narrow what it asks: the chosen patient's records and the node's own resources.
Any other patient's record is withheld as an unknown id is, and a search never selects it.
"""

from __future__ import annotations

from careledger.access._policy import Accessor, Decision, Facts, readable_patients

OUTSIDE_COMPARTMENT = "outside the compartment of the patient the token acts for"


def outside_compartment(accessor: Accessor, patient: str, custodian: str) -> Decision | None:
    """The refusal of `patient`'s records (kept by the node `custodian`) to an accessor that acts for another
    patient; None where the compartment refuses nothing (asked before the policy, which it narrows)."""
    if accessor.compartment is None or patient in (accessor.compartment, custodian):
        return None
    return Decision(False, OUTSIDE_COMPARTMENT)


def within_compartment(accessor: Accessor, patients: frozenset[str] | None, custodian: str) -> frozenset[str] | None:
    """`patients` (None: anyone's) narrowed to the compartment `accessor` acts for and the node's own resources."""
    if accessor.compartment is None:
        return patients
    reached = frozenset({accessor.compartment, custodian})
    return reached if patients is None else patients & reached


def searched_patients(accessor: Accessor, facts: Facts) -> frozenset[str] | None:
    """The patients whose records a search by `accessor` selects (None: anyone's): those the policy could let her
    see (`readable_patients`), within her compartment."""
    return within_compartment(accessor, readable_patients(accessor, facts), facts.custodian)
