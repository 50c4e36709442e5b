"""Flower's `Grid` with CareLedger nodes as its nodes: what the aggregator's workflow sends is handed to the
addressed node's `ClientApp`, and the reply kept until the workflow pulls it.

```
ServerApp workflow ─ push ─► SiteGrid ─► node.handle (its ClientApp and mods, here or over HTTP) ─► reply kept ─ pull ─►
```

The grid keeps a log (`carried`) of every message both ways: its type, the SecAgg+ stage, whether it held model
parameters in the clear, and whether it held a masked vector. That is what lets anyone check that the aggregator
never received one node's own update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flwr.app import ConfigRecord, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Message as ProtoMessage
from flwr.serverapp.grid import Grid
from flwr.supercore.run import Run

from careledger.crypto import keccak
from careledger.errors import ValidationError
from careledger.insight.federated._client import Participant


@dataclass(frozen=True, slots=True)
class Carried:
    """One message the grid carried: to a node (`outbound`) or back, its type and SecAgg+ stage, how many arrays
    of parameters it held in the clear, and whether it held a masked vector."""

    outbound: bool
    node: str
    message_type: str
    stage: str | None
    clear_arrays: int
    masked: bool
    size: int  # bytes on the wire
    error: str | None = None


def node_id(address: str) -> int:
    """The Flower node id of a CareLedger node: a number derived from its address (positive, below 2**63)."""
    return int.from_bytes(keccak(address.lower().encode())[:7], "big") + 1


class SiteGrid(Grid):
    """A Grid whose nodes are CareLedger nodes: `Site`s in this process or `RemoteSite`s over HTTP."""

    def __init__(self, sites: Sequence[Participant]) -> None:
        self._sites = {node_id(site.address): site for site in sites}
        self._run: Run | None = None
        self._replies: dict[str, Message] = {}
        self.carried: list[Carried] = []

    @property
    def addresses(self) -> list[str]:
        """The nodes' addresses, in the order they were given."""
        return [site.address for site in self._sites.values()]

    def address_of(self, node: int) -> str:
        """The address of the node with Flower id `node`."""
        return self._sites[node].address

    def set_run(self, run: Run) -> None:
        """The run the workflow's messages belong to."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run set; `ValidationError` before one is."""
        if self._run is None:
            raise ValidationError("the grid has no run: set_run first")
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        """A message to one node (Flower's deprecated helper, kept for workflows that still call it)."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """The Flower ids of the run's nodes."""
        return list(self._sites)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node now; the reply waits for `pull_messages`."""
        ids = []
        for message in messages:
            site = self._sites.get(message.metadata.dst_node_id)
            if site is None:
                raise ValidationError(f"no node {message.metadata.dst_node_id} in this run")
            message.metadata.__dict__["_message_id"] = message.object_id  # as Flower's own grids number them
            stage = _stage(message)
            sent = self._log(True, site, message, stage)
            reply = self._log(False, site, self._answer(site, sent), stage)
            self._replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The replies to `message_ids` that have come (each handed out once)."""
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:  # noqa: ARG002
        """Every reply at once: the nodes answered as they were pushed to (no waiting, so no timeout)."""
        return list(self.pull_messages(list(self.push_messages(messages))))

    def _answer(self, site: Participant, message: Message) -> Message:
        """The node's reply; a node that fails answers with an error, as a Flower SuperNode does, so the workflow
        halts the round instead of the aggregator crashing."""
        try:
            return site.handle(message)
        except Exception as exc:
            return Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, f"{site.address}: {exc}"), reply_to=message)

    def _log(self, outbound: bool, site: Participant, message: Message, stage: str | None) -> Message:
        """Carry `message` over the wire (Flower's protobuf form, as a SuperLink would: each node gets its own
        copy) and log what it held; the message as received."""
        wire = message_to_proto(message).SerializeToString()
        message = message_from_proto(ProtoMessage.FromString(wire))
        error = message.error.reason if message.has_error() else None
        content = message.content if message.has_content() else RecordDict()
        configs = content.config_records.get(RECORD_KEY_CONFIGS) or ConfigRecord()
        clear = sum(len(record) for record in content.array_records.values())
        kind = message.metadata.message_type
        masked = Key.MASKED_PARAMETERS in configs
        self.carried.append(Carried(outbound, site.address, kind, stage, clear, masked, len(wire), error))
        return message


def _stage(message: Message) -> str | None:
    configs = message.content.config_records.get(RECORD_KEY_CONFIGS) if message.has_content() else None
    return None if configs is None else str(configs.get(Key.STAGE))
