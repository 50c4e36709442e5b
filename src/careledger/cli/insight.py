"""`careledger insight ...`: scores from a patient's record, models, training, CDS clients."""

from __future__ import annotations

import typer

from careledger.cli import _insight_cds, _insight_models, _insight_score, _insight_train

app = typer.Typer(help="Insight: validated risk scores, models and decision support.", no_args_is_help=True)
app.command("score")(_insight_score.score)
app.command("train")(_insight_train.train_study)
app.add_typer(_insight_models.app, name="models")
app.add_typer(_insight_cds.app, name="cds-client")
