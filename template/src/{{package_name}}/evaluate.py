"""Scoring one registered model version on the holdout set with ``mlflow.models.evaluate``.

Validation and deployment both call ``evaluate_version``, so the metrics that let a version become
``challenger`` are computed exactly like the metrics that decide whether it becomes ``champion``.
"""

from __future__ import annotations

import mlflow
import pandas as pd

from .data import LABEL_COLUMN
from .features import FEATURE_COLUMNS
from .registry import version_uri

# Metrics kept from the evaluator's output; the names are MLflow's.
REPORTED_METRICS = ("roc_auc", "accuracy_score", "f1_score", "precision_score", "recall_score")


def evaluate_version(model_name: str, version: str, holdout: pd.DataFrame) -> dict[str, float]:
    """Evaluate ``version`` on ``holdout`` in a nested MLflow run; return the reported metrics."""
    data = holdout[[*FEATURE_COLUMNS, LABEL_COLUMN]]
    with mlflow.start_run(run_name=f"evaluate-v{version}", nested=True):
        mlflow.set_tag("model_version", version)
        result = mlflow.models.evaluate(
            model=version_uri(model_name, version),
            data=data,
            targets=LABEL_COLUMN,
            model_type="classifier",
            evaluator_config={"log_model_explainability": False, "pos_label": 1},
        )
    return {name: float(result.metrics[name]) for name in REPORTED_METRICS}
