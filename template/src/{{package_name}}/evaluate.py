"""Scoring one registered model version on the holdout set with ``mlflow.models.evaluate``.

Validation and deployment both call ``evaluate_version``, so the metrics that let a version become
``challenger`` are computed exactly like the metrics that decide whether it becomes ``champion``.
``slice_scores`` scores the same rows per slice (each value of a column, e.g. each contract type),
where one number over all rows can hide a group the model fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from .data import LABEL_COLUMN
from .feature_source import model_uri_for_evaluation
from .features import FEATURE_COLUMNS
from .registry import version_uri

# Metrics kept from the evaluator's output; the names are MLflow's.
REPORTED_METRICS = ("roc_auc", "accuracy_score", "f1_score", "precision_score", "recall_score")


@dataclass(frozen=True)
class SliceScore:
    """A metric on the holdout rows where ``column`` equals ``value``."""

    column: str
    value: str
    rows: int
    score: float  # NaN where the metric is undefined (e.g. ROC AUC with one outcome only)

    @property
    def name(self) -> str:
        """How messages name the slice, e.g. ``contract=month-to-month``."""
        return f"{self.column}={self.value}"


def score(metric: str, labels: pd.Series, answers: pd.Series, probabilities: pd.Series) -> float:
    """Compute one of ``REPORTED_METRICS`` as MLflow's evaluator does; NaN where undefined.

    ``answers`` are the predicted classes; ``probabilities`` the positive class's probability,
    which only ``roc_auc`` reads (given classes instead, it is the answers' ROC AUC).
    """
    if metric == "roc_auc":
        if labels.nunique() < 2:
            return math.nan
        return float(roc_auc_score(labels, probabilities))
    if labels.empty:
        return math.nan
    if metric == "accuracy_score":
        return float(accuracy_score(labels, answers))
    scorers = {
        "f1_score": f1_score,
        "precision_score": precision_score,
        "recall_score": recall_score,
    }
    return float(scorers[metric](labels, answers, zero_division=np.nan))


def evaluate_version(model_name: str, version: str, holdout: pd.DataFrame) -> dict[str, float]:
    """Evaluate ``version`` on ``holdout`` in a nested MLflow run; return the reported metrics."""
    data = holdout[[*FEATURE_COLUMNS, LABEL_COLUMN]]
    with mlflow.start_run(run_name=f"evaluate-v{version}", nested=True):
        mlflow.set_tag("model_version", version)
        result = mlflow.models.evaluate(
            model=model_uri_for_evaluation(version_uri(model_name, version)),
            data=data,
            targets=LABEL_COLUMN,
            model_type="classifier",
            evaluator_config={"log_model_explainability": False, "pos_label": 1},
        )
    return {name: float(result.metrics[name]) for name in REPORTED_METRICS}


def slice_scores(
    model_name: str, version: str, holdout: pd.DataFrame, columns: tuple[str, ...], metric: str
) -> list[SliceScore]:
    """Score ``version`` with ``metric`` on each value of each of ``columns`` in ``holdout``."""
    if not columns:
        return []
    model = mlflow.sklearn.load_model(model_uri_for_evaluation(version_uri(model_name, version)))
    features = holdout[list(FEATURE_COLUMNS)]
    scored = holdout.assign(
        _answer=model.predict(features), _probability=model.predict_proba(features)[:, 1]
    )
    slices = []
    for column in columns:
        for value, rows in scored.groupby(column, sort=True):
            result = score(metric, rows[LABEL_COLUMN], rows["_answer"], rows["_probability"])
            slices.append(SliceScore(column, str(value), len(rows), result))
    return slices
