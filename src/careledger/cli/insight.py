"""`careledger insight ...`: scores from a patient's record, models, training, CDS clients."""

from __future__ import annotations

import typer

from careledger.cli import _insight_models

app = typer.Typer(help="Insight: validated risk scores, models and decision support.", no_args_is_help=True)
app.add_typer(_insight_models.app, name="models")
