"""What a council proposal may do, as typed actions: each checks what it can before any gas is spent, and
says which calls it makes.

An action's calls are made by the council, in order, all or none, once the proposal has its votes and its
timelock has passed: the checks here only refuse early what the contracts would refuse then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_utils import is_address, keccak, to_checksum_address

from careledger.chain import (
    Call,
    CareToken,
    Claims,
    ContractFacade,
    Council,
    IdentityRegistry,
    RecordAnchor,
    Role,
    SupplyChain,
    holds_role,
)
from careledger.claims import amount_text
from careledger.errors import Conflict, NotFound, ValidationError

# The roles the contracts know (snekmate `access_control`), by their ids.
DEFAULT_ADMIN_ROLE = bytes(32)
REGISTRAR_ROLE = keccak(b"REGISTRAR_ROLE")
ISSUER_ROLE = keccak(b"ISSUER_ROLE")
ANCHORER_ROLE = keccak(b"ANCHORER_ROLE")
REGULATOR_ROLE = keccak(b"REGULATOR_ROLE")  # SupplyChain's: admits manufacturers, recalls any lot
ROLE_NAMES = {
    DEFAULT_ADMIN_ROLE: "DEFAULT_ADMIN_ROLE",
    REGISTRAR_ROLE: "REGISTRAR_ROLE",
    ISSUER_ROLE: "ISSUER_ROLE",
    ANCHORER_ROLE: "ANCHORER_ROLE",
    REGULATOR_ROLE: "REGULATOR_ROLE",
}

# The roles of a node of an organisation; a patient's, practitioner's or device's wallet is no node.
_NODE_ROLES = frozenset(Role) - {Role.PATIENT, Role.PRACTITIONER, Role.DEVICE}

# The council's bounds (modules/council_*.vy), checked before a proposal is made: the timelock's delay is an hour
# at least, so every member sees a decision queued before it takes effect.
DELAY_BOUNDS = (3_600, 30 * 86_400)
VOTING_PERIOD_BOUNDS = (3_600, 365 * 86_400)


@dataclass(frozen=True, slots=True)
class Targets:
    """The contracts a proposal calls, read-only: what actions check and encode against."""

    council: Council
    identity: IdentityRegistry
    anchor: RecordAnchor
    claims: Claims
    token: CareToken
    supply: SupplyChain

    def facades(self) -> list[ContractFacade]:
        """Every contract a proposal may call, to read its calls back."""
        return [self.council, self.identity, self.anchor, self.claims, self.token, self.supply]


class Action(Protocol):
    """One kind of decision: its checks and its calls."""

    @property
    def name(self) -> str:
        """The action as `governance propose` names it."""

    def check(self, on: Targets) -> None:
        """Refuse now (`ValidationError`, `Conflict`, `NotFound`) what the calls would refuse when executed."""

    def calls(self, on: Targets) -> list[Call]:
        """The calls the council makes, in order."""

    def summary(self) -> str:
        """The action in a few words, for the proposal's description."""


def parse_address(text: str) -> str:
    """A checksummed address; `ValidationError` for anything else."""
    if not is_address(text.strip()):
        raise ValidationError(f"not an address: {text!r}")
    return to_checksum_address(text.strip())


def check_delay(seconds: int) -> None:
    """Refuse a timelock delay the council would refuse (`ValidationError`): under an hour, a decision could take
    effect before anyone saw it queued; over 30 days, the council could not act in time."""
    low, high = DELAY_BOUNDS
    if not low <= seconds <= high:
        raise ValidationError(f"the delay is an hour to 30 days ({low} to {high} seconds), not {seconds}")


_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3_600, "d": 86_400}


def parse_duration(text: str) -> int:
    """Seconds from `3600`, `90s`, `30min` (or `30m`), `2h` or `7d`; `ValidationError` for anything else."""
    spelled = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if spelled.endswith(unit) and spelled[: -len(unit)].strip().isdigit():
            return int(spelled[: -len(unit)]) * _UNITS[unit]
    if spelled.isdigit():
        return int(spelled)
    raise ValidationError(f"not a duration: {text!r} (seconds, or a number with s, min, h or d: 2h, 7d)")


@dataclass(frozen=True, slots=True)
class AdmitNode:
    """Admit an organisation's node: it may register its patients and practitioners, and anchor."""

    node: str

    @property
    def name(self) -> str:
        """`admit`."""
        return "admit"

    def check(self, on: Targets) -> None:
        """The node registered itself as an organisation and is active; it is not admitted already."""
        actor = on.identity.actor(self.node)
        if actor is None:
            raise NotFound(f"{self.node} is not registered: its node registers itself first (`careledger init`)")
        if not actor.active:
            raise Conflict(f"{self.node} was deactivated; a removed node is not admitted again")
        if actor.role not in _NODE_ROLES:
            raise ValidationError(f"{self.node} is a {actor.role.label}, not an organisation's node")
        if on.identity.is_role_holder("REGISTRAR_ROLE", self.node) and on.anchor.is_anchorer(self.node):
            raise Conflict(f"{self.node} is admitted already")

    def calls(self, on: Targets) -> list[Call]:
        """REGISTRAR_ROLE on the IdentityRegistry, ANCHORER_ROLE on RecordAnchor."""
        return [
            Call.of(on.identity, "grantRole", REGISTRAR_ROLE, self.node),
            Call.of(on.anchor, "grantRole", ANCHORER_ROLE, self.node),
        ]

    def summary(self) -> str:
        """The action in a few words."""
        return f"admit node {self.node}"


@dataclass(frozen=True, slots=True)
class RemoveNode:
    """Remove a node: its roles revoked and its organisation deactivated, so its requests and credentials stop."""

    node: str

    @property
    def name(self) -> str:
        """`remove`."""
        return "remove"

    def check(self, on: Targets) -> None:
        """The node is registered and active."""
        actor = on.identity.actor(self.node)
        if actor is None or not actor.active:
            raise NotFound(f"{self.node} is not an active member node")

    def calls(self, on: Targets) -> list[Call]:
        """Both roles revoked, then the actor deactivated (the council, the registry's admin, may)."""
        return [
            Call.of(on.identity, "revokeRole", REGISTRAR_ROLE, self.node),
            Call.of(on.anchor, "revokeRole", ANCHORER_ROLE, self.node),
            Call.of(on.identity, "deactivate", self.node),
        ]

    def summary(self) -> str:
        """The action in a few words."""
        return f"remove node {self.node}"


@dataclass(frozen=True, slots=True)
class AppointIssuer:
    """Let a licensing board, regulator or other body attest credentials (or, `appoint=False`, no longer)."""

    issuer: str
    appoint: bool = True

    @property
    def name(self) -> str:
        """`appoint-issuer` or `remove-issuer`."""
        return "appoint-issuer" if self.appoint else "remove-issuer"

    def check(self, on: Targets) -> None:
        """Not appointed already (or, to remove, appointed)."""
        held = on.identity.is_role_holder("ISSUER_ROLE", self.issuer)
        if held == self.appoint:
            raise Conflict(f"{self.issuer} {'is' if held else 'is not'} an issuer already")

    def calls(self, on: Targets) -> list[Call]:
        """ISSUER_ROLE granted or revoked; a removed issuer's credentials stop being valid."""
        return [Call.of(on.identity, "grantRole" if self.appoint else "revokeRole", ISSUER_ROLE, self.issuer)]

    def summary(self) -> str:
        """The action in a few words."""
        return f"{'appoint' if self.appoint else 'remove'} credential issuer {self.issuer}"


@dataclass(frozen=True, slots=True)
class AppointRegulator:
    """Let a medicines regulator admit manufacturers to the supply chain and recall any lot (or, `appoint=False`,
    no longer: the admissions it made stand until a regulator revokes them). Admitting a manufacturer stays the
    regulator's own act, never the council's."""

    regulator: str
    appoint: bool = True

    @property
    def name(self) -> str:
        """`appoint-regulator` or `remove-regulator`."""
        return "appoint-regulator" if self.appoint else "remove-regulator"

    def check(self, on: Targets) -> None:
        """The council administers SupplyChain (a SupplyChain deployed after bootstrap is handed over by running
        bootstrap again), and the regulator is not appointed already (or, to remove, is)."""
        if not holds_role(on.supply, DEFAULT_ADMIN_ROLE, on.council.address):
            raise Conflict(
                f"the council does not administer SupplyChain {on.supply.address} yet: the node that deployed it "
                "hands it over with `careledger governance bootstrap`"
            )
        self.check_held(on.supply)

    def check_held(self, supply: SupplyChain) -> None:
        """Not a regulator already (or, to remove, one): what the council and SupplyChain's admin alike check."""
        held = supply.is_regulator(self.regulator)
        if held == self.appoint:
            raise Conflict(f"{self.regulator} {'is' if held else 'is not'} a regulator already")

    def calls(self, on: Targets) -> list[Call]:
        """REGULATOR_ROLE granted or revoked on SupplyChain."""
        return self.calls_on(on.supply)

    def calls_on(self, supply: SupplyChain) -> list[Call]:
        """The same call whoever makes it: the council, or SupplyChain's admin before there is one."""
        return [Call.of(supply, "grantRole" if self.appoint else "revokeRole", REGULATOR_ROLE, self.regulator)]

    def summary(self) -> str:
        """The action in a few words."""
        return f"{'appoint' if self.appoint else 'remove'} supply chain regulator {self.regulator}"


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop (or, `pause=False`, resume) every state-changing function of Claims, the one contract that pauses."""

    pause: bool = True

    @property
    def name(self) -> str:
        """`pause` or `unpause`."""
        return "pause" if self.pause else "unpause"

    def check(self, on: Targets) -> None:
        """Claims is not paused already (or, to resume, is)."""
        if on.claims.paused() == self.pause:
            raise Conflict(f"Claims is {'paused' if self.pause else 'not paused'} already")

    def calls(self, on: Targets) -> list[Call]:
        """Claims.pause() or unpause()."""
        return [Call.of(on.claims, "pause" if self.pause else "unpause")]

    def summary(self) -> str:
        """The action in a few words."""
        return "pause Claims" if self.pause else "resume Claims"


@dataclass(frozen=True, slots=True)
class SetMinter:
    """Let `minter` mint up to `cap` more CARE (base units); a cap of 0 revokes it."""

    minter: str
    cap: int

    @property
    def name(self) -> str:
        """`grant-minter` or `revoke-minter`."""
        return "grant-minter" if self.cap else "revoke-minter"

    def check(self, on: Targets) -> None:
        """A cap is a whole number of units; a revoked minter mints already nothing."""
        if self.cap < 0 or self.cap >= 2**256:
            raise ValidationError(f"a minting cap is 0 to 2^256-1 units, not {self.cap}")
        if self.cap == 0 and on.token.mint_allowance(self.minter) == 0:
            raise Conflict(f"{self.minter} may not mint already")

    def calls(self, on: Targets) -> list[Call]:
        """CareToken.set_minter(minter, cap)."""
        return [Call.of(on.token, "set_minter", self.minter, self.cap)]

    def summary(self) -> str:
        """The action in a few words."""
        if not self.cap:
            return f"revoke {self.minter}'s minting"
        return f"let {self.minter} mint up to {amount_text(self.cap, 18)} CARE"


@dataclass(frozen=True, slots=True)
class SetMember:
    """Seat (or, `add=False`, unseat) a member of the council."""

    member: str
    add: bool = True

    @property
    def name(self) -> str:
        """`add-member` or `remove-member`."""
        return "add-member" if self.add else "remove-member"

    def check(self, on: Targets) -> None:
        """Not a member already (to add); a member, leaving at least the threshold seated (to remove)."""
        seated = on.council.is_member(self.member)
        if seated == self.add:
            raise Conflict(f"{self.member} {'is' if seated else 'is not'} a member already")
        if not self.add:
            members, threshold = len(on.council.members()), on.council.threshold()
            if members - 1 < threshold:
                raise Conflict(
                    f"removing a member would leave {members - 1} members, fewer than the threshold of {threshold}: "
                    "lower the threshold first"
                )

    def calls(self, on: Targets) -> list[Call]:
        """Council.add_member or remove_member; open proposals must then be proposed again."""
        return [Call.of(on.council, "add_member" if self.add else "remove_member", self.member)]

    def summary(self) -> str:
        """The action in a few words."""
        return f"{'add' if self.add else 'remove'} council member {self.member}"


@dataclass(frozen=True, slots=True)
class SetThreshold:
    """Change how many members' votes a proposal needs."""

    threshold: int

    @property
    def name(self) -> str:
        """`threshold`."""
        return "threshold"

    def check(self, on: Targets) -> None:
        """1 to the number of members, and a change."""
        members = len(on.council.members())
        if not 1 <= self.threshold <= members:
            raise ValidationError(f"the threshold is 1 to the {members} members, not {self.threshold}")
        if self.threshold == on.council.threshold():
            raise Conflict(f"the threshold is {self.threshold} already")

    def calls(self, on: Targets) -> list[Call]:
        """Council.set_threshold."""
        return [Call.of(on.council, "set_threshold", self.threshold)]

    def summary(self) -> str:
        """The action in a few words."""
        return f"require {self.threshold} votes"


@dataclass(frozen=True, slots=True)
class SetDelay:
    """Change the timelock's delay, in seconds."""

    seconds: int

    @property
    def name(self) -> str:
        """`delay`."""
        return "delay"

    def check(self, on: Targets) -> None:  # noqa: ARG002 - the Action protocol's signature
        """An hour to 30 days."""
        check_delay(self.seconds)

    def calls(self, on: Targets) -> list[Call]:
        """Council.set_delay."""
        return [Call.of(on.council, "set_delay", self.seconds)]

    def summary(self) -> str:
        """The action in a few words."""
        return f"set the timelock delay to {self.seconds} s"


@dataclass(frozen=True, slots=True)
class SetVotingPeriod:
    """Change how long a proposal may gather votes, in seconds."""

    seconds: int

    @property
    def name(self) -> str:
        """`voting-period`."""
        return "voting-period"

    def check(self, on: Targets) -> None:  # noqa: ARG002 - the Action protocol's signature
        """An hour to a year."""
        low, high = VOTING_PERIOD_BOUNDS
        if not low <= self.seconds <= high:
            raise ValidationError(f"the voting period is {low} to {high} seconds, not {self.seconds}")

    def calls(self, on: Targets) -> list[Call]:
        """Council.set_voting_period."""
        return [Call.of(on.council, "set_voting_period", self.seconds)]

    def summary(self) -> str:
        """The action in a few words."""
        return f"let proposals gather votes for {self.seconds} s"
