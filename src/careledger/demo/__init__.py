"""`careledger demo`: a chain and three nodes as separate processes, and a story they must act out."""

from careledger.demo._network import DemoNetwork, Participant
from careledger.demo._story import KILL_AFTER, StepResult, Story

__all__ = ["KILL_AFTER", "DemoNetwork", "Participant", "StepResult", "Story"]
