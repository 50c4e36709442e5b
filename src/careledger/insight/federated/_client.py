"""One node's part in a federated run: a Flower `ClientApp` over the node's own participants, with Flower's
SecAgg+ and client-side clipping mods, answering each message the aggregator's grid brings it.

```
message from the grid ─► secaggplus_mod (setup, share keys, masked vector, unmask) ─► fixedclipping_mod
  ─► fit on this node's training rows (the door opened them once, for the study's sponsor, audited per patient)
  ◄─ the update clipped to the run's norm ◄─ quantised and masked: only the masked vector leaves
evaluate ─► the model's AUROC on this node's held-out rows (a number, not a row)
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.client import Client, ClientApp, NumPyClient
from flwr.client.mod import fixedclipping_mod, secaggplus_mod
from flwr.common import NDArrays
from sklearn.metrics import roc_auc_score

from careledger.errors import ValidationError
from careledger.insight.federated._data import LocalData, Resource, local_data
from careledger.insight.federated._model import Fitting, Task, fit, initial, log_loss, scores
from careledger.research import StudyDesk

HELD_OUT = 0.25  # the share of a node's participants it measures the model on rather than trains it with


class Participant(Protocol):
    """A node as a run's grid sees it: in this process (`Site`) or over HTTP (`RemoteSite`)."""

    address: str
    task: Task

    def prepare(self) -> object:
        """Get ready for the run (open the rows here), or refuse before anything is sent."""
        ...

    def handle(self, message: Message) -> Message:
        """The node's reply to one message of the run."""
        ...


def study_site(desk: StudyDesk, study_id: int, task: Task, *, held_out: float = HELD_OUT) -> Site:
    """A node's site for a run of study `study_id`: its study desk opens the participants' records for the sponsor
    (refusing a study not approved or ended), through the door, audited per patient."""
    return Site(desk.address, lambda: desk.open_for_training(study_id), task, held_out=held_out)


class Site:
    """A node taking part in a run: its address, and how it opens its participants' records (the door, once)."""

    def __init__(
        self,
        address: str,
        open_records: Callable[[], Iterable[Resource]],
        task: Task,
        *,
        held_out: float = HELD_OUT,
        fitting: Fitting | None = None,
    ) -> None:
        self.address = address
        self._open = open_records
        self.task = task
        self._held_out = held_out
        self._fitting = fitting or Fitting()
        self._data: LocalData | None = None
        self._contexts: dict[int, Context] = {}
        # secaggplus_mod outermost: it masks what fixedclipping_mod has clipped (Flower's order for DP with SecAgg+).
        self.app = ClientApp(client_fn=self._client, mods=[secaggplus_mod, fixedclipping_mod])

    def prepare(self) -> LocalData:
        """Open the participants' records and make the rows (once per run); `ValidationError` if too few to train."""
        if self._data is None:
            data = local_data(self._open(), self.task)
            if len(data.part(False, self._held_out)) < 2:
                raise ValidationError(f"node {self.address} has fewer than two participants' rows to train on")
            self._data = data
        return self._data

    @property
    def training(self) -> LocalData:
        """The rows this node trains on."""
        return self.prepare().part(False, self._held_out)

    @property
    def held(self) -> LocalData:
        """The rows this node holds out to measure the model on."""
        return self.prepare().part(True, self._held_out)

    def handle(self, message: Message) -> Message:
        """The reply to one message of the run: the ClientApp with this run's state kept between messages."""
        run_id = message.metadata.run_id
        if run_id not in self._contexts:
            self._contexts[run_id] = Context(run_id, message.metadata.dst_node_id, {}, RecordDict(), {})
        return self.app(message, self._contexts[run_id])

    def _client(self, _context: Context) -> Client:
        return _Learner(self, self._fitting).to_client()


class _Learner(NumPyClient):
    """Flower's client interface over a site's rows."""

    def __init__(self, site: Site, fitting: Fitting) -> None:
        self._site = site
        self._fitting = fitting

    def get_parameters(self, config: dict[str, Any]) -> NDArrays:  # noqa: ARG002 - Flower's signature
        return list(initial(self._site.task))

    def fit(self, parameters: NDArrays, config: dict[str, Any]) -> tuple[NDArrays, int, dict[str, Any]]:  # noqa: ARG002
        rows = self._site.training
        return list(fit(list(parameters), rows.x, rows.y, self._fitting)), len(rows), {}

    def evaluate(self, parameters: NDArrays, config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:  # noqa: ARG002
        rows = self._site.held
        metrics: dict[str, Any] = {"trained_on": len(self._site.training)}
        if 0 < rows.y.sum() < len(rows):  # an AUROC needs both classes
            metrics["auroc"] = float(roc_auc_score(rows.y, scores(list(parameters), rows.x)))
        loss = log_loss(list(parameters), rows.x, rows.y) if len(rows) else float(np.nan)
        return loss, len(rows), metrics
