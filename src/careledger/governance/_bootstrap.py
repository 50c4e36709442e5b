"""Bootstrap: the deploying node seats the council and hands it every admin role of every contract.

```
deployer ──deploy──► Council(members, k, delay, voting period)
         ──grant───► DEFAULT_ADMIN_ROLE (IdentityRegistry, RecordAnchor, Claims, SupplyChain): it also deactivates
                     removed nodes, and appoints the supply chain's regulators
         ──hand────► CareToken's ownership (its own unbounded minting ends)
         ──renounce► its DEFAULT_ADMIN_ROLEs
```

The member roles every member node holds (REGISTRAR_ROLE to register its own patients and practitioners,
ANCHORER_ROLE to anchor) stay with the deployer, which is one member node among others: the council grants and
revokes them from now on. So does its ISSUER_ROLE: a credential is valid only while its issuer holds that role,
and renouncing it would end at once every licence, affiliation and officer the founder attested. It keeps it as
any issuer the council appoints (no admin role: it grants nothing), until the council removes it (`remove-issuer`).
Each step is skipped when it is done already, so an interrupted bootstrap is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from careledger.chain import Call, ContractFacade, holds_role
from careledger.governance._actions import (
    ANCHORER_ROLE,
    DEFAULT_ADMIN_ROLE,
    ISSUER_ROLE,
    REGISTRAR_ROLE,
    ROLE_NAMES,
    Targets,
)

# The contracts administered through snekmate `access_control`: who holds DEFAULT_ADMIN_ROLE may grant any role.
ACCESS_CONTROLLED = ("IdentityRegistry", "RecordAnchor", "Claims", "SupplyChain")


@dataclass(frozen=True, slots=True)
class Step:
    """One handover transaction, and how to tell it is done already."""

    words: str
    call: Call
    done: Callable[[], bool]


def _has(facade: ContractFacade, role: bytes, account: str) -> Callable[[], bool]:
    return lambda: holds_role(facade, role, account)


def _lacks(facade: ContractFacade, role: bytes, account: str) -> Callable[[], bool]:
    return lambda: not holds_role(facade, role, account)


def handover(on: Targets, council: str, deployer: str) -> list[Step]:
    """The steps that leave the council every admin role and the deployer none, in an order that never leaves a
    contract without an admin."""
    administered: list[ContractFacade] = [on.identity, on.anchor, on.claims, on.supply]
    steps = [
        Step(
            f"{f.contract_name}: grant DEFAULT_ADMIN_ROLE to the council",
            Call.of(f, "grantRole", DEFAULT_ADMIN_ROLE, council),
            _has(f, DEFAULT_ADMIN_ROLE, council),
        )
        for f in administered
    ]
    steps.append(
        Step(
            "CareToken: hand the ownership (setting minters' caps) to the council",
            Call.of(on.token, "transfer_ownership", council),
            lambda: on.token.owner() == council,
        )
    )
    steps += [
        Step(
            f"{f.contract_name}: the deployer renounces DEFAULT_ADMIN_ROLE",
            Call.of(f, "renounceRole", DEFAULT_ADMIN_ROLE, deployer),
            _lacks(f, DEFAULT_ADMIN_ROLE, deployer),
        )
        for f in administered
    ]
    return steps


def kept(on: Targets, deployer: str) -> list[str]:
    """The roles the deployer still holds after the handover, in words: each one the council grants and revokes,
    none an admin role."""
    words = {
        REGISTRAR_ROLE: "a member node's: it registers its own patients, practitioners and devices",
        ANCHORER_ROLE: "a member node's: it anchors its records",
        ISSUER_ROLE: (
            "as an issuer the council appointed: the credentials this node attested (licences, affiliations, "
            "officers) stay valid; the council ends it, and them, with "
            f"`careledger governance propose remove-issuer {deployer}`"
        ),
    }
    held = [(on.identity, REGISTRAR_ROLE), (on.anchor, ANCHORER_ROLE), (on.identity, ISSUER_ROLE)]
    return [
        f"{f.contract_name}: {ROLE_NAMES[role]}, {words[role]}" for f, role in held if holds_role(f, role, deployer)
    ]
