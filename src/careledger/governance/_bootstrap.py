"""Bootstrap: the deploying node seats the council and hands it every admin role of every contract.

```
deployer ──deploy──► Council(members, k, delay, voting period)
         ──grant───► DEFAULT_ADMIN_ROLE (IdentityRegistry, RecordAnchor, Claims): it also deactivates removed nodes
         ──hand────► CareToken's ownership (its own unbounded minting ends)
         ──renounce► its DEFAULT_ADMIN_ROLEs and ISSUER_ROLE
```

The member roles every member node holds (REGISTRAR_ROLE to register its own patients and practitioners,
ANCHORER_ROLE to anchor) stay with the deployer, which is one member node among others: the council grants and
revokes them from now on. Each step is skipped when it is done already, so an interrupted bootstrap is finished
by running it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from careledger.chain import Call, ContractFacade, holds_role
from careledger.governance._actions import DEFAULT_ADMIN_ROLE, ISSUER_ROLE, ROLE_NAMES, Targets

# The contracts administered through snekmate `access_control`: who holds DEFAULT_ADMIN_ROLE may grant any role.
ACCESS_CONTROLLED = ("IdentityRegistry", "RecordAnchor", "Claims")


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
    administered: list[ContractFacade] = [on.identity, on.anchor, on.claims]
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
    renounced = [(on.identity, ISSUER_ROLE)] + [(f, DEFAULT_ADMIN_ROLE) for f in administered]
    steps += [
        Step(
            f"{f.contract_name}: the deployer renounces {ROLE_NAMES[role]}",
            Call.of(f, "renounceRole", role, deployer),
            _lacks(f, role, deployer),
        )
        for f, role in renounced
    ]
    return steps
