"""Feature engineering in Spark, shared by training and batch scoring.

Training and scoring call the same ``build_features``, so a feature can never be computed one way
when the model learns and another way when it predicts. ``check_input_columns`` runs first and
rejects a frame with a missing or mistyped column before anything is computed or written.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .batches import BATCH_COLUMN
from .data import ID_COLUMN, LABEL_COLUMN
from .platform import Platform

# Raw input columns and the kind of Spark type each must have.
INPUT_COLUMNS: dict[str, str] = {
    ID_COLUMN: "integer",
    "tenure_months": "integer",
    "monthly_charges": "numeric",
    "support_calls": "integer",
    "contract": "string",
    "payment_method": "string",
    "internet_service": "string",
}
NUMERIC_FEATURES = ("tenure_months", "monthly_charges", "support_calls", "total_charges")
CATEGORICAL_FEATURES = ("contract", "payment_method", "internet_service")
FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES

_INTEGER_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_NUMERIC_TYPES = (*_INTEGER_TYPES, T.FloatType, T.DoubleType, T.DecimalType)
_KINDS: dict[str, tuple[type[T.DataType], ...]] = {
    "integer": _INTEGER_TYPES,
    "numeric": _NUMERIC_TYPES,
    "string": (T.StringType,),
}


class InputSchemaError(ValueError):
    """Input data lacks a required column or has one of the wrong type."""


def check_input_columns(df: DataFrame) -> None:
    """Raise ``InputSchemaError`` naming every missing or mistyped input column."""
    actual = {field.name: field.dataType for field in df.schema.fields}
    problems = []
    for column, kind in INPUT_COLUMNS.items():
        if column not in actual:
            problems.append(f"missing column {column!r} (expected {kind})")
        elif not isinstance(actual[column], _KINDS[kind]):
            problems.append(
                f"column {column!r} has type {actual[column].simpleString()}, expected {kind}"
            )
    if problems:
        raise InputSchemaError("Input data rejected: " + "; ".join(problems) + ".")


def build_features(df: DataFrame) -> DataFrame:
    """Return id, model features and, when present, the label and batch, with stable types."""
    check_input_columns(df)
    label = (
        [F.col(LABEL_COLUMN).cast("int").alias(LABEL_COLUMN)] if LABEL_COLUMN in df.columns else []
    )
    batch = (
        [F.col(BATCH_COLUMN).cast("string").alias(BATCH_COLUMN)]
        if BATCH_COLUMN in df.columns
        else []
    )
    return df.select(
        F.col(ID_COLUMN).cast("long").alias(ID_COLUMN),
        F.col("tenure_months").cast("double").alias("tenure_months"),
        F.col("monthly_charges").cast("double").alias("monthly_charges"),
        F.col("support_calls").cast("double").alias("support_calls"),
        (F.col("tenure_months") * F.col("monthly_charges")).cast("double").alias("total_charges"),
        F.lower(F.trim("contract")).alias("contract"),
        F.lower(F.trim("payment_method")).alias("payment_method"),
        F.lower(F.trim("internet_service")).alias("internet_service"),
        *label,
        *batch,
    )


def holdout_mask(holdout_fraction: float) -> F.Column:
    """Select holdout rows by a hash of the id, so the split never changes between runs."""
    buckets = 10_000
    return (F.abs(F.xxhash64(F.col(ID_COLUMN))) % buckets) < int(holdout_fraction * buckets)


def split_train_holdout(
    features: DataFrame, holdout_fraction: float
) -> tuple[DataFrame, DataFrame]:
    """Split features into (train, holdout); validation and deployment reuse the same holdout."""
    in_holdout = holdout_mask(holdout_fraction)
    return features.filter(~in_holdout), features.filter(in_holdout)


def write_feature_table(platform: Platform) -> str:
    """Features step: rebuild the feature table from the training data; return its name."""
    settings = platform.settings
    source = platform.read_table(settings.source_table("training_data"))
    target = settings.table(settings.tables.features)
    platform.write_table(build_features(source), target, mode="overwrite")
    return target
