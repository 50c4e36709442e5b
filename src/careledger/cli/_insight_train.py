"""`careledger insight train STUDY`: train a study's model across nodes (this one and the homes `--with` names on
this machine) by Flower SecAgg+ with DP, then register it on chain as the sponsor."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._context import open_node, passphrase_source, wallet_of
from careledger.cli._insight_models import model_view
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.config import Home, load_settings
from careledger.insight.federated import register_trained, study_site, task_named, train
from careledger.services import open_operations


def train_study(
    ctx: typer.Context,
    study: Annotated[int, typer.Argument(help="The study's id on chain (approved by an ethics board).", min=1)],
    sponsor: Annotated[str, typer.Option("--as", help="The study sponsor's wallet kept here: it registers the model.")],
    homes: Annotated[
        list[Path] | None, typer.Option("--with", help="Another node's home on this machine that takes part (repeat).")
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="Federated rounds (1 to 100).")] = 10,
    noise: Annotated[float, typer.Option("--noise-multiplier", help="Gaussian noise multiplier (DP).")] = 0.3,
    clip: Annotated[float, typer.Option("--clipping-norm", help="Each node's update is clipped to this norm.")] = 2.0,
    task: Annotated[str, typer.Option("--task", help="What the study's protocol trains.")] = "breast-cancer",
    json: JsonFlag = False,
) -> None:
    """Each node trains on its own participants; only clipped, masked updates travel; the model is registered."""
    learnt = task_named(task)  # an unknown task is refused before any node is opened
    with ExitStack() as stack:
        node = stack.enter_context(open_node(ctx))
        others = [
            stack.enter_context(open_operations(Home(path), load_settings(Home(path)), passphrase_source(), lazy=True))
            for path in homes or []
        ]
        sites = [study_site(n.study_desk, study, learnt) for n in [node, *others]]
        model = train(study, sites, rounds=rounds, noise_multiplier=noise, clipping_norm=clip)
        registered = register_trained(node.models, wallet_of(node, sponsor).name, model)
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
