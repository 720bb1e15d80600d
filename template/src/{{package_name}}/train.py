"""Train step: fit the model on the training split, log it to MLflow, register a version."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import pandas as pd
import sklearn
from mlflow.models import infer_signature
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from .data import LABEL_COLUMN
from .features import FEATURE_COLUMNS, split_train_holdout
from .model import SKOPS_TRUSTED_TYPES, fit_model
from .platform import Platform
from .settings import ModelParams

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
    model: Pipeline, train: pd.DataFrame, params: ModelParams, registered_model_name: str
) -> TrainingResult:
    """Log params, metrics and the model (signature and input example) and register a version."""
    features = train[list(FEATURE_COLUMNS)]
    train_roc_auc = float(roc_auc_score(train[LABEL_COLUMN], model.predict_proba(features)[:, 1]))
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params(params.model_dump())
        mlflow.log_params({"train_rows": len(train), "features": ",".join(FEATURE_COLUMNS)})
        mlflow.log_metric("train_roc_auc", train_roc_auc)
        example = features.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            registered_model_name=registered_model_name,
            pip_requirements=MODEL_REQUIREMENTS,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
    return TrainingResult(
        model_name=registered_model_name,
        version=str(info.registered_model_version),
        run_id=run.info.run_id,
        train_rows=len(train),
        train_roc_auc=train_roc_auc,
    )


def load_training_split(platform: Platform) -> pd.DataFrame:
    """Load the training part of the feature table as pandas (the model fits on one machine)."""
    settings = platform.settings
    features = platform.read_table(settings.table(settings.tables.features))
    train, _ = split_train_holdout(features, settings.data.holdout_fraction)
    return train.toPandas()


def train(platform: Platform, params: ModelParams | None = None) -> TrainingResult:
    """Run the train step and publish the new version for the job's later tasks."""
    settings = platform.settings
    platform.configure_mlflow()
    params = params or settings.model
    train_frame = load_training_split(platform)
    model = fit_model(train_frame, params, settings.data.seed)
    result = log_and_register(model, train_frame, params, settings.registered_model_name)
    platform.publish_task_value("model_version", result.version)
    logger.info("Registered %s version %s", result.model_name, result.version)
    return result
