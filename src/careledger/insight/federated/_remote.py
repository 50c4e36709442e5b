"""A run's messages carried over HTTP: the sponsor's grid signs each Flower message into a `StudyRequest` to the
node's `POST /exchange/study` (`{"kind": "federated"}`), and the node answers with its ClientApp's reply.

```
SiteGrid ─► RemoteSite.handle ─ StudyRequest{ask: kind, task, message (Flower protobuf, base64)} signed by the
sponsor ─► node: FederatedDesk.answer ─ signer is the sponsor? fresh? study approved and running? ─► this node's
Site for the run (its ClientApp, its rows through the door) ─► reply protobuf, base64 ─► back to the grid
```

Only the messages of Flower's protocol travel: SecAgg+ keys and shares, masked vectors, and a final evaluation's
numbers; a node's rows stay in its own Site.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flwr.app import Message
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Message as ProtoMessage
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from careledger.errors import ValidationError
from careledger.insight.federated._client import Site, study_site
from careledger.insight.federated._dataset import task_named
from careledger.insight.federated._grid import node_id
from careledger.insight.federated._model import Task
from careledger.research import StudyDesk, StudyRequest

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

FEDERATED = "federated"
_RUNS_KEPT = 8  # a node keeps the state of this many runs (SecAgg+ keys between stages); older ones are dropped


def federated_ask(task: Task, message: Message) -> dict[str, Any]:
    """What a sponsor signs to send one Flower message of a run on `task`."""
    wire = message_to_proto(message).SerializeToString()
    return {"kind": FEDERATED, "task": task.name, "message": base64.b64encode(wire).decode()}


def decoded(text: Any) -> Message:
    """A Flower message from its base64 protobuf; `ValidationError` for anything else."""
    try:
        return message_from_proto(ProtoMessage.FromString(base64.b64decode(str(text), validate=True)))
    except (ValueError, DecodeError) as exc:
        raise ValidationError(f"not a Flower message: {exc}") from None


class FederatedDesk:
    """A node's answers to a sponsor's run: each signed message to this node's Site for the run."""

    def __init__(self, desk: StudyDesk) -> None:
        self._desk = desk
        self._sites: OrderedDict[tuple[int, int], Site] = OrderedDict()

    def answer(self, request: StudyRequest) -> dict[str, Any]:
        """The reply to one message; `Unauthenticated` unless the study's sponsor signed it (fresh, unused),
        `AccessDenied` for a study not approved or ended, `ValidationError` for a message not for this node."""
        ask = request.ask
        if ask.get("kind") != FEDERATED:
            raise ValidationError('a federated run asks {"kind": "federated", "task", "message"}')
        study = self._desk.checked(request)  # before anything is decoded or opened
        task = task_named(str(ask.get("task")))
        message = decoded(ask.get("message"))
        if message.metadata.dst_node_id != node_id(self._desk.address):
            raise ValidationError("the message is for another node")
        reply = self._site(study.study_id, message.metadata.run_id, task).handle(message)
        wire = message_to_proto(reply).SerializeToString()
        return {"custodian": self._desk.address, "message": base64.b64encode(wire).decode()}

    def _site(self, study_id: int, run_id: int, task: Task) -> Site:
        key = (study_id, run_id)
        if key not in self._sites:
            self._sites[key] = study_site(self._desk, study_id, task)
            while len(self._sites) > _RUNS_KEPT:
                self._sites.popitem(last=False)
        return self._sites[key]


class RemoteSite:
    """A node reached over HTTP, as the sponsor's grid sees it: `handle` signs and sends, and returns the reply."""

    def __init__(
        self, address: str, task: Task, study_id: int, send: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        self.address = address
        self.task = task
        self.study_id = study_id
        self._send = send  # signs {ask} into a StudyRequest to this node and posts it; the node's JSON answer

    def prepare(self) -> None:
        """Nothing to open here: the node opens its rows when the run's first message reaches it."""

    def handle(self, message: Message) -> Message:
        """The node's reply to `message`; `ValidationError` if it answers with anything but a Flower message."""
        answer = self._send(federated_ask(self.task, message))
        if "problem" in answer:
            raise ValidationError(f"{self.address}: {answer['problem']}")
        return decoded(answer.get("message"))


def remote_site(
    study_id: int, custodian: str, endpoint: str, task: Task, account: LocalAccount, chain_id: int, registry: str
) -> RemoteSite:
    """The node `custodian` at `endpoint` for a run of study `study_id`, each message signed by the sponsor's
    `account` for the network of `chain_id` and its IdentityRegistry `registry`."""
    from careledger.client import FhirClient  # httpx: imported for a remote run only

    def send(ask: dict[str, Any]) -> dict[str, Any]:
        """`ask` signed afresh (single use) and posted to the node; its JSON answer."""
        request = StudyRequest.new(study_id, custodian, ask).signed(account, chain_id, registry)
        with FhirClient(endpoint) as client:
            answer: dict[str, Any] = client.study(request.to_json())
            return answer

    return RemoteSite(custodian, task, study_id, send)
