"""Who acts for this node's supply chain: one rule for the EPCIS service and the pharmacy's counter alike.

```
action                                            who may
supply.recall · supply.admit                      this node (its operator), or a person holding a live
                                                  `supply-officer` credential this node attested
anything else: reads (events, trace, stock,       this node, or its staff: a person holding a live
verify) and custody steps (capture, commission,   `affiliation` this node attested (its care team)
pack, ship, receive, dispense, quarantine, …)
```

A recall cannot be undone and reaches every pharmacy holding the lot; at a regulator's node it reaches any
manufacturer's lots, and admitting a manufacturer lets it commission packs everyone will take as genuine. So those
two take more than an affiliation, as acting for a node on the council does (`Governance.may_act`): the officer's
credential is the node's own word (another issuer's attestation does not count), judged by the chain each time.
Anyone else is refused (`AccessDenied`), the refusal audited under the action, never with what was asked.
"""

from __future__ import annotations

from collections.abc import Callable

from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.errors import AccessDenied
from careledger.identity import SUPPLY_OFFICER

OFFICERS_ONLY = frozenset({"supply.recall", "supply.admit"})  # the actions that take a supply officer


class SupplyRoles:
    """Whether an actor may take a supply-chain action for this node, and the audited refusal if not."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        here: str,
        care_team: Callable[[str], bool],
        officer: Callable[[str], bool],
    ) -> None:
        """`care_team(actor)`: a live affiliation this node attested her; `officer(actor)`: a live `supply-officer`
        credential this node attested her (the IdentityRegistry's `valid_credential_from`)."""
        self._audit = audit
        self.here = here
        self._care_team = care_team
        self._officer = officer

    def may(self, by: str, action: str) -> bool:
        """Whether `by` may take `action` for this node (module docstring)."""
        if by.lower() == self.here.lower():
            return True
        return self._officer(by) if action in OFFICERS_ONLY else self._care_team(by)

    def require(self, by: str, action: str, *, granted: bool = True) -> None:
        """`AccessDenied` (audited under `action`) unless `by` may take `action` for this node. `granted`: whether
        what she presents allows it at all (an API token's scopes: one an app was granted may cover less than she
        may do), judged first: a refusal either way is this node's, audited alike."""
        if not granted:
            self._audit.record(Access(Action.EXECUTE, action, Outcome.DENIED, by, detail="beyond the token's scopes"))
            raise AccessDenied(f"the token's scopes do not cover {action}: sign in for a token that does")
        if self.may(by, action):
            return
        if action in OFFICERS_ONLY:
            detail = f"not this node's {SUPPLY_OFFICER}"
            said = f"{by} holds no {SUPPLY_OFFICER} credential of this node: {action} takes its operator or one"
        else:
            detail = "not this node's staff"
            said = f"{by} is not of this node's staff: only its operator and staff act for its supply chain"
        self._audit.record(Access(Action.EXECUTE, action, Outcome.DENIED, by, detail=detail))
        raise AccessDenied(said)
