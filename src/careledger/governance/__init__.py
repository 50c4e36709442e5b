"""Governance by members: a council of member organisations decides by k of n votes, behind a timelock, what
the deploying node decides alone before it is bootstrapped (DESIGN.md section 15).

`Governance` is the service: `council()`, `members()`, `proposals()` and `show()` read; `propose`, `vote`,
`execute`, `cancel` and `bootstrap` sign as the node. The actions are the typed decisions a proposal makes.
"""

from careledger.governance._actions import (
    Action,
    AdmitNode,
    AppointIssuer,
    AppointRegulator,
    Pause,
    RemoveNode,
    SetDelay,
    SetMember,
    SetMinter,
    SetThreshold,
    SetVotingPeriod,
    parse_address,
    parse_duration,
)
from careledger.governance._service import Bootstrapped, CallView, CouncilView, Governance, ProposalView
from careledger.governance._words import format_duration

__all__ = [
    "Action",
    "AdmitNode",
    "AppointIssuer",
    "AppointRegulator",
    "Bootstrapped",
    "CallView",
    "CouncilView",
    "Governance",
    "Pause",
    "ProposalView",
    "RemoveNode",
    "SetDelay",
    "SetMember",
    "SetMinter",
    "SetThreshold",
    "SetVotingPeriod",
    "format_duration",
    "parse_address",
    "parse_duration",
]
