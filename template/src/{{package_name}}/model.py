"""The model: how features become a churn classifier. Replace this with your own model.

Only ``build_model`` and ``fit_model`` are called by the pipeline, so a different estimator (or a
different library with an MLflow flavor) changes this file and nothing else.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from .data import LABEL_COLUMN
from .features import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from .settings import ModelParams

# How MLflow stores the fitted model, passed wherever a model is logged or saved, so that a version
# logged on this machine and one logged by a Databricks job are the same kind of artifact. Left to
# itself MLflow picks per place: its newer releases default to skops off Databricks and cloudpickle
# on it, and the MLflow that Databricks ships (3.8 on serverless environment 5) has no skops at all.
# cloudpickle runs code when a model is loaded: load models only from your own registry.
SERIALIZATION_FORMAT = "cloudpickle"


def build_model(params: ModelParams, seed: int) -> Pipeline:
    """One-hot encode categoricals, pass numerics through, fit gradient-boosted trees."""
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(CATEGORICAL_FEATURES),
            ),
            ("numeric", "passthrough", list(NUMERIC_FEATURES)),
        ]
    )
    classifier = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_depth=params.max_depth,
        l2_regularization=params.l2_regularization,
        early_stopping=False,  # deterministic: the same data and params give the same model
        random_state=seed,
    )
    return Pipeline([("encode", encode), ("classify", classifier)])


def fit_model(train: pd.DataFrame, params: ModelParams, seed: int) -> Pipeline:
    """Fit a fresh model on a pandas frame of features and label."""
    model = build_model(params, seed)
    model.fit(train[list(FEATURE_COLUMNS)], train[LABEL_COLUMN])
    return model
