"""The model card: one Markdown page per version, among its run's artifacts in the MLflow UI.

A reviewer deciding about a version reads what it learned from, how it scored, what it relies on
and whether it passed validation, in one place. Training writes the card with its validation
section still pending; validation replaces that section with its result and slice scores, so the
card of every validated version is complete.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow import MlflowClient

from .data_checks import DataCheckResult
from .lineage import Lineage

MODEL_CARD = "model_card.md"
VALIDATION_HEADING = "## Validation"
NOT_VALIDATED = "Not validated yet: the validate step writes its result here."


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a small frame as a Markdown table (numbers with 4 decimals)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def training_card(
    model_name: str,
    version: str,
    lineage: Lineage,
    params: dict[str, object],
    metrics: dict[str, float],
    data_check: DataCheckResult,
    churn_rate: float,
    importance: pd.DataFrame,
) -> str:
    """Write the card as training knows it: data, parameters, training metrics, importance."""
    data = lineage.training_data
    params_line = ", ".join(f"{key} {value}" for key, value in params.items())
    metric_line = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
    checks = len(data_check.expectations)
    return "\n".join(
        [
            f"# {model_name} version {version}",
            "",
            "## Data",
            "",
            f"- Trained on `{data.table}` at Delta version {data.version}: {data.rows} rows, "
            f"{churn_rate * 100:.1f}% churned.",
            f"- Data checks: {'all ' + str(checks) + ' passed' if data_check.passed else 'FAILED'}"
            " (`data_check.json`).",
            f"- Code: commit `{lineage.git_commit}`.",
            "",
            "## Training",
            "",
            f"- Parameters: {params_line}.",
            f"- On the training rows: {metric_line}.",
            "",
            "## Feature importance",
            "",
            "ROC AUC lost when the column is shuffled (`explanation/feature_importance.png`):",
            "",
            markdown_table(importance),
            "",
            VALIDATION_HEADING,
            "",
            NOT_VALIDATED,
            "",
        ]
    )


def with_validation(card: str, section: str) -> str:
    """Replace the card's validation section (everything after its heading) with ``section``."""
    head, found, _ = card.partition(VALIDATION_HEADING)
    if not found:
        head = card.rstrip("\n") + "\n\n"
    return f"{head}{VALIDATION_HEADING}\n\n{section.strip()}\n"


def record_validation(client: MlflowClient, model_name: str, version: str, section: str) -> None:
    """Write ``section`` into the card of ``version``, in the run that trained it."""
    run_id = client.get_model_version(model_name, version).run_id
    if not run_id:
        return  # a version registered from files, not from a run, has no card
    try:
        card = mlflow.artifacts.load_text(f"runs:/{run_id}/{MODEL_CARD}")
    except (OSError, mlflow.exceptions.MlflowException):
        card = f"# {model_name} version {version}\n"
    client.log_text(run_id, with_validation(card, section), MODEL_CARD)
