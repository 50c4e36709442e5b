"""`careledger insight train STUDY`: as the study's sponsor, train its model across every serving node of the
network (this one in process, the others over HTTP) by Flower SecAgg+ with DP, then register it on chain.

Its numbers are checked here, as click reads them (exit 2 naming the flag): rounds from 1 to `MAX_ROUNDS`, and
a noise multiplier and clipping norm above zero (no run without DP). The service checks the rest in this order:
the task, that `--as` is the study's sponsor (exit 5), the study's ε budget (exit 2), then the nodes."""

from __future__ import annotations

from typing import Annotated

import typer

from careledger.cli._context import open_node, wallet_of
from careledger.cli._insight_models import model_view
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.insight.federated import CLIPPING_NORM, MAX_ROUNDS, NOISE_MULTIPLIER, ROUNDS, task_named


def _positive(value: float) -> float:
    """A noise multiplier or clipping norm: above zero and finite (zero noise is no DP; zero clipping no update)."""
    if not 0 < value < float("inf"):
        raise typer.BadParameter(f"must be above 0, not {value:g}")
    return value


def train_study(
    ctx: typer.Context,
    study: Annotated[int, typer.Argument(help="The study's id on chain (approved by an ethics board).", min=1)],
    sponsor: Annotated[str, typer.Option("--as", help="The study sponsor's wallet kept here: it signs and registers.")],
    rounds: Annotated[
        int, typer.Option("--rounds", help=f"Federated rounds (1 to {MAX_ROUNDS}).", min=1, max=MAX_ROUNDS)
    ] = ROUNDS,
    noise: Annotated[
        float,
        typer.Option("--noise-multiplier", help="Gaussian noise multiplier (DP), above 0.", callback=_positive),
    ] = NOISE_MULTIPLIER,
    clip: Annotated[
        float,
        typer.Option("--clipping-norm", help="Each update is clipped to this norm, above 0.", callback=_positive),
    ] = CLIPPING_NORM,
    task: Annotated[str, typer.Option("--task", help="What the study's protocol trains.")] = "breast-cancer",
    json: JsonFlag = False,
) -> None:
    """Each node trains on its own participants; only clipped, masked updates travel; the model is registered."""
    task_named(task)  # an unknown task is refused before the node is opened
    with open_node(ctx) as node:
        model, registered = node.federated_runs.train(
            wallet_of(node, sponsor).name, study, task=task, rounds=rounds, noise_multiplier=noise, clipping_norm=clip
        )
    if json:
        print_json(model_view(registered))
        return
    console.print(f"registered {registered.model_id} (study {study} v{registered.version})", markup=False)
    console.print(
        f"epsilon {model.privacy.epsilon:.2f} at delta {model.privacy.delta:g}, {rounds} rounds", markup=False
    )
    for m in model.metrics:
        auroc = "n/a" if m.auroc is None else f"{m.auroc:.3f}"
        console.print(f"{m.node}  trained on {m.trained_on}, held out {m.held_out}, AUROC {auroc}", markup=False)
