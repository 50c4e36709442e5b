"""Governance by members: a council of member organisations decides by k of n votes, behind a timelock, what
the deploying node decides alone before it is bootstrapped (DESIGN.md section 15).

`Governance` is the service: `council()`, `members()`, `proposals()` and `show()` read; `propose`, `vote`,
`execute`, `cancel` and `bootstrap` sign as the node. The actions are the typed decisions a proposal makes;
`admit` is the deployer's own, before there is a council (`chain admit NODE [--issuer]`).
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
from careledger.governance._admission import Admission, admit, issuers
from careledger.governance._service import Bootstrapped, CallView, CouncilView, Governance, ProposalView
from careledger.governance._words import format_duration

__all__ = [
    "Action",
    "Admission",
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
    "admit",
    "format_duration",
    "issuers",
    "parse_address",
    "parse_duration",
]
