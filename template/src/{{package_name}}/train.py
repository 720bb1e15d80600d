"""Train step: check the data, fit the model, log it to MLflow and register a version.

The training rows are checked first (``data_checks.py``); data that breaks an expectation trains
nothing. The version records its lineage (``lineage.py``): the commit, and the exact Delta version
of the feature table it learned from. Its run also holds its feature importance (``explain.py``)
and its model card (``model_card.py``), so a reviewer sees in the MLflow UI what it learned from
and what it relies on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from .data import LABEL_COLUMN
from .data_checks import DataCheckError, DataCheckResult, check_training_data
from .explain import feature_importance, log_feature_importance
from .feature_source import labelled_features, log_model, training_table
from .features import FEATURE_COLUMNS, split_train_holdout
from .lineage import Lineage, TrainingData, current_git_commit, log_training_input, record_lineage
from .model import SERIALIZATION_FORMAT, fit_model
from .model_card import MODEL_CARD, training_card
from .platform import Platform
from .progress import StepProgress
from .settings import DataChecks, ModelParams

logger = logging.getLogger(__name__)

# Pinned from the training environment so serving and scoring load the model with the same
# libraries; listing them also spares MLflow a slow dependency inference.
MODEL_REQUIREMENTS = [
    f"mlflow=={mlflow.__version__}",
    f"scikit-learn=={sklearn.__version__}",
    f"pandas=={pd.__version__}",
]


@dataclass(frozen=True)
class TrainingResult:
    """What the train step produced."""

    model_name: str
    version: str
    run_id: str
    train_rows: int
    train_roc_auc: float


def log_and_register(
    platform: Platform,
    model: Pipeline,
    train: pd.DataFrame,
    params: ModelParams,
    registered_model_name: str,
    lineage: Lineage,
    data_check: DataCheckResult,
    seed: int,
) -> TrainingResult:
    """Log params, metrics, data, importance and model to the active run; register a version.

    The model is logged with its signature and an input example, and the version gets a
    description and its lineage tags, which validation requires.
    """
    features = train[list(FEATURE_COLUMNS)]
    train_roc_auc = float(roc_auc_score(train[LABEL_COLUMN], model.predict_proba(features)[:, 1]))
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register logs to the active run: start one first.")
    mlflow.log_params(params.model_dump())
    mlflow.log_params({"train_rows": len(train), "features": ",".join(FEATURE_COLUMNS)})
    mlflow.log_metric("train_roc_auc", train_roc_auc)
    mlflow.set_tag("mlflow.source.git.commit", lineage.git_commit)
    log_training_input(train, lineage.training_data)
    importance = feature_importance(model, train, seed)
    log_feature_importance(importance)
    example = features.head(5)
    version = log_model(
        platform,
        model,
        lineage.training_data.version,
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
        registered_model_name=registered_model_name,
        pip_requirements=MODEL_REQUIREMENTS,
        serialization_format=SERIALIZATION_FORMAT,
    )
    client = MlflowClient()
    record_lineage(client, registered_model_name, version, lineage)
    client.update_model_version(
        registered_model_name, version, description=version_description(lineage)
    )
    card = training_card(
        registered_model_name,
        version,
        lineage,
        params.model_dump(),
        {"roc_auc": train_roc_auc},
        data_check,
        float(train[LABEL_COLUMN].mean()),
        importance,
    )
    mlflow.log_text(card, MODEL_CARD)
    return TrainingResult(
        model_name=registered_model_name,
        version=version,
        run_id=run.info.run_id,
        train_rows=len(train),
        train_roc_auc=train_roc_auc,
    )


def version_description(lineage: Lineage) -> str:
    """One sentence on what the version is and what it learned from, for the registry's UI."""
    data = lineage.training_data
    return (
        f"Churn classifier trained on {data.table} (Delta version {data.version}, {data.rows} "
        f"rows) from commit {lineage.git_commit}. See model_card.md in its run."
    )


def require_valid_data(frame: pd.DataFrame, checks: DataChecks) -> DataCheckResult:
    """Check the training rows, log the result to the active run, and stop on a broken one.

    Raises:
        DataCheckError: an expectation is broken; the message names each one.

    """
    result = check_training_data(frame, checks)
    mlflow.log_dict(result.as_dict(), "data_check.json")
    mlflow.set_tag("data_check", "PASSED" if result.passed else "FAILED")
    if not result.passed:
        raise DataCheckError(f"Training data rejected: {result.describe_failures()}.")
    return result


def load_training_split(platform: Platform) -> tuple[pd.DataFrame, TrainingData]:
    """Load the training part of the labelled features as pandas (the model fits on one machine).

    The training table's current Delta version is read and pinned, so the record names exactly
    these rows.
    """
    settings = platform.settings
    table = training_table(settings)
    version = platform.table_version(table)
    labelled = labelled_features(platform, table, version)
    train, _ = split_train_holdout(labelled, settings.data.holdout_fraction)
    frame = train.toPandas()
    return frame, TrainingData(table, version, len(frame))


def lineage_of(platform: Platform, training_data: TrainingData, git_commit: str | None) -> Lineage:
    """Describe where a version trained now on ``training_data`` comes from."""
    source = platform.settings.source_table("training_data")
    return Lineage(
        git_commit=current_git_commit(git_commit),
        training_data=training_data,
        source_table=source,
        source_version=platform.table_version(source),
    )


def train(
    platform: Platform, params: ModelParams | None = None, *, git_commit: str | None = None
) -> TrainingResult:
    """Run the train step and publish the new version for the job's later tasks.

    ``git_commit`` is the commit the jobs were deployed from; locally it defaults to HEAD.
    """
    settings = platform.settings
    platform.configure_mlflow()
    params = params or settings.model
    progress = StepProgress("train", parts=4)
    with progress.part(f"loading the training rows of {training_table(settings)}"):
        train_frame, training_data = load_training_split(platform)
        lineage = lineage_of(platform, training_data, git_commit)
    rows = len(train_frame)
    with mlflow.start_run(run_name="train"):
        with progress.part(f"checking {rows:,} rows against the data checks"):
            data_check = require_valid_data(train_frame, settings.data_checks)
        with progress.part(f"fitting the model on {rows:,} rows"):
            model = fit_model(train_frame, params, settings.data.seed)
        with progress.part("explaining, logging and registering the model"):
            result = log_and_register(
                platform,
                model,
                train_frame,
                params,
                settings.registered_model_name,
                lineage,
                data_check,
                settings.data.seed,
            )
    platform.publish_task_value("model_version", result.version)
    logger.info("Registered %s version %s", result.model_name, result.version)
    return result
