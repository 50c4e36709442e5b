"""A proposal's calls in words: which contract, what it does and to whom, so members vote on what they read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from careledger.chain import DecodedCall
from careledger.claims import amount_text
from careledger.governance._actions import ROLE_NAMES


def _role(args: dict[str, Any]) -> str:
    """A role's name, or its id in hex."""
    role = bytes(args.get("role", b""))
    return ROLE_NAMES.get(role, "role 0x" + role.hex())


def format_duration(seconds: int) -> str:
    """Seconds as days, hours and minutes (`2 d 4 h`), or seconds under a minute: how the CLI, the portal and
    refusals all say a delay or a period, so a member reads the same words wherever she looks."""
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    return " ".join(parts)


def _cap(args: dict[str, Any]) -> str:
    if not args["allowance"]:
        return f"revoke {args['minter']}'s minting"
    return f"let {args['minter']} mint up to {amount_text(int(args['allowance']), 18)} CARE"


# snekmate `access_control`'s, the same words on every contract that has it (SupplyChain's REGULATOR_ROLE too).
_ROLE_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "grantRole": lambda a: f"grant {_role(a)} to {a['account']}",
    "revokeRole": lambda a: f"revoke {_role(a)} from {a['account']}",
}

_WORDS: dict[tuple[str, str], Callable[[dict[str, Any]], str]] = {
    ("IdentityRegistry", "deactivate"): lambda a: f"deactivate actor {a['actor']}",
    ("Claims", "pause"): lambda _: "pause every state-changing function",
    ("Claims", "unpause"): lambda _: "resume after the pause",
    ("CareToken", "set_minter"): _cap,
    ("CareToken", "transfer_ownership"): lambda a: f"hand the token's ownership to {a['new_owner']}",
    ("Council", "add_member"): lambda a: f"add member {a['member']}",
    ("Council", "remove_member"): lambda a: f"remove member {a['member']}",
    ("Council", "set_threshold"): lambda a: f"require {a['new_threshold']} votes",
    ("Council", "set_delay"): lambda a: f"set the timelock delay to {format_duration(int(a['new_delay']))}",
    ("Council", "set_voting_period"): lambda a: (
        f"let proposals gather votes for {format_duration(int(a['new_period']))}"
    ),
}


def call_words(decoded: DecodedCall) -> str:
    """`Contract: what it does`, or the function and its arguments when there are no better words."""
    if decoded.contract is None:
        return f"call {decoded.call.target} with {len(decoded.call.data)} bytes of calldata"
    if decoded.function is None:
        return f"{decoded.contract}: a call no function of it takes"
    words = _WORDS.get((decoded.contract, decoded.function), _ROLE_WORDS.get(decoded.function))
    if words is None:
        shown = ", ".join(f"{k}={_plain(v)}" for k, v in decoded.args.items())
        text = f"{decoded.function}({shown})"
    else:
        text = words(decoded.args)
    value = f", sending {decoded.call.value} wei" if decoded.call.value else ""
    return f"{decoded.contract}: {text}{value}"


def plain_args(decoded: DecodedCall) -> dict[str, Any]:
    """A call's arguments as JSON holds them (bytes as 0x hex, role ids by name)."""
    return {
        k: ROLE_NAMES.get(bytes(v), "0x" + bytes(v).hex()) if k == "role" else _plain(v)
        for k, v in decoded.args.items()
    }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
