"""X12 claim adjustment reason codes (CARC): the words behind the numbers Claims.vy records.

Only the codes CareLedger assigns or an insurer commonly gives on review are named; any
other code an insurer uses is shown as its number.
"""

from __future__ import annotations

from careledger.fhir import systems

CARC_SYSTEM = systems.CARC

DEDUCTIBLE = 1
COINSURANCE = 2
OVER_FEE_SCHEDULE = 45

REASONS = {
    DEDUCTIBLE: "Deductible amount",
    COINSURANCE: "Coinsurance amount",
    15: "The authorization number is missing, invalid, or does not apply to the billed services or provider",
    18: "Exact duplicate claim/service",
    26: "Expenses incurred prior to coverage",
    27: "Expenses incurred after coverage terminated",
    29: "The time limit for filing has expired",
    31: "Patient cannot be identified as our insured",
    39: "Services denied at the time authorization/pre-certification was requested",
    OVER_FEE_SCHEDULE: "Charge exceeds fee schedule/maximum allowable",
    50: "These are non-covered services because this is not deemed a 'medical necessity' by the payer",
    96: "Non-covered charge(s)",
    133: "The disposition of this service line is pending further review",
    197: "Precertification/authorization/notification/pre-treatment absent",
    242: "Services not provided by network/primary care providers",
}


def reason_text(code: int) -> str:
    """`code: description`, or the bare code when it is not one of the named ones."""
    return f"{code}: {REASONS[code]}" if code in REASONS else str(code)
