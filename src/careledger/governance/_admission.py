"""Admitting a node that joined the network before the council exists: the deployer's own act.

```
joined node ──init --chain, chain adopt──► uses the network's contracts, can do nothing on them yet
deployer ──chain admit NODE──────────────► ANCHORER_ROLE (RecordAnchor): it anchors its commitments
         ──chain admit NODE --issuer─────► and ISSUER_ROLE (IdentityRegistry): it attests its staff's affiliation
                                           and licences, so a pharmacist or doctor of its own acts at its counter
after `governance bootstrap` ────────────► the council decides: `governance propose admit|appoint-issuer NODE`
```

Nothing is sent unless all of it may be: a refusal leaves the node as it was, and says who decides. An issuer may
attest any credential type to anyone; what a credential is worth is decided by whoever reads it (a node's staff
are those it attested an affiliation itself), so appointing one is the same trust the council's `appoint-issuer`
gives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from careledger.chain import ContractFacade, holds_role
from careledger.errors import AccessDenied
from careledger.governance._actions import DEFAULT_ADMIN_ROLE, ISSUER_ROLE

if TYPE_CHECKING:
    from careledger.chain import Contracts


@dataclass(frozen=True, slots=True)
class Admission:
    """What `chain admit` did: the node may anchor on `anchor` (let now, or already) and, when asked, attest
    credentials on `registry` (`issuer_now`: made an issuer now, or already; None: not asked)."""

    node: str
    anchor: str
    registry: str
    admitted_now: bool
    issuer_now: bool | None

    def to_json(self) -> dict[str, Any]:
        """As `chain admit --json` prints it."""
        return {**asdict(self), "anchorer": True, "issuer": self.issuer_now is not None}


def admit(contracts: Contracts, by: str, wallet: str, member: str, *, issuer: bool = False) -> Admission:
    """Let `member` anchor and, `issuer`, attest credentials, signing as `wallet` of node `by`, which must administer
    each contract that grants a role `member` lacks (the deployer, until the council is bootstrapped); a role held
    already is said so, and nothing is sent."""
    anchor = contracts.record_anchor(write=True)
    registry = contracts.identity_registry(as_wallet=wallet)
    anchoring = not anchor.is_anchorer(member)
    attesting = issuer and not registry.is_role_holder("ISSUER_ROLE", member)
    missing: list[tuple[ContractFacade, str]] = [(anchor, "admit")] if anchoring else []
    missing += [(registry, "appoint-issuer")] if attesting else []
    _require_admin(contracts, by, member, missing)
    if anchoring:
        anchor.grant_anchorer(member)
    if attesting:
        registry.grant_role("ISSUER_ROLE", member)
    return Admission(member, anchor.address, registry.address, anchoring, attesting if issuer else None)


def issuers(contracts: Contracts) -> list[str]:
    """Who may attest credentials (ISSUER_ROLE in the IdentityRegistry) now, in the order they were first made
    issuers: the deployer, the nodes it admitted `--issuer`, and those the council appointed."""
    return role_holders(contracts.identity_registry(), ISSUER_ROLE)


def role_holders(facade: ContractFacade, role: bytes) -> list[str]:
    """The accounts holding `role` on a snekmate `access_control` contract now, in the order they were first
    granted it: each account a RoleGranted log names that holds it still."""
    granted = facade.contract.events.RoleGranted().get_logs(from_block=0)
    named = dict.fromkeys(str(e["args"]["account"]) for e in granted if bytes(e["args"]["role"]) == role)
    return [account for account in named if holds_role(facade, role, account)]


def _require_admin(contracts: Contracts, by: str, member: str, missing: list[tuple[ContractFacade, str]]) -> None:
    """`AccessDenied` unless `by` administers every contract in `missing`, saying who does: the council, proposed
    to (each proposal named), or the deployer."""
    lacking = [(facade, proposal) for facade, proposal in missing if not holds_role(facade, DEFAULT_ADMIN_ROLE, by)]
    if not lacking:
        return
    names = " and ".join(facade.contract_name for facade, _ in lacking)
    council = contracts.council_address()
    if council is not None and all(holds_role(facade, DEFAULT_ADMIN_ROLE, council) for facade, _ in lacking):
        proposals = ", then ".join(f"`careledger governance propose {p} {member} --reason …`" for _, p in lacking)
        raise AccessDenied(f"the council administers {names} since it was bootstrapped: propose it there, {proposals}")
    raise AccessDenied(
        f"this node ({by}) does not administer {names}: the node that deployed the contracts admits nodes until it "
        "bootstraps the council, which decides from then on"
    )
