"""Global feature importance of a trained model, logged with its version for reviewers.

Permutation importance: how much ROC AUC drops when one input column's values are shuffled. It
works on the whole pipeline and its raw input columns, so the table names the columns a caller
sends, not encoded ones, and it needs nothing beyond scikit-learn. It is measured on a sample of
the training rows, so it says what the model relies on, not how well it generalises (the holdout
metrics of validation say that).
"""

from __future__ import annotations

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from .data import LABEL_COLUMN
from .features import FEATURE_COLUMNS

IMPORTANCE_TABLE = "explanation/feature_importance.json"
IMPORTANCE_PLOT = "explanation/feature_importance.png"
SAMPLE_ROWS = 2000  # enough for stable ranks; permutation cost grows with rows x columns x repeats
REPEATS = 5


def feature_importance(model: Pipeline, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Mean and spread of the ROC AUC lost when each input column is shuffled, largest first."""
    sample = frame.sample(n=min(SAMPLE_ROWS, len(frame)), random_state=seed)
    result = permutation_importance(
        model,
        sample[list(FEATURE_COLUMNS)],
        sample[LABEL_COLUMN],
        scoring="roc_auc",
        n_repeats=REPEATS,
        random_state=seed,
    )
    table = pd.DataFrame(
        {
            "feature": list(FEATURE_COLUMNS),
            "importance": result.importances_mean,
            "std": result.importances_std,
        }
    )
    return table.sort_values("importance", ascending=False, ignore_index=True)


def importance_plot(importance: pd.DataFrame) -> Figure:
    """Draw a bar per column, the most important on top, with its spread over the repeats."""
    figure = Figure(figsize=(7, 0.4 * len(importance) + 1.2))
    axes = figure.subplots()
    ordered = importance.iloc[::-1]
    axes.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"], color="#4c72b0")
    axes.set_xlabel("ROC AUC lost when the column is shuffled")
    axes.set_title("Permutation feature importance")
    figure.tight_layout()
    return figure


def log_feature_importance(importance: pd.DataFrame) -> None:
    """Log the table and the plot to the active run, next to the model."""
    mlflow.log_table(importance, IMPORTANCE_TABLE)
    mlflow.log_figure(importance_plot(importance), IMPORTANCE_PLOT)
