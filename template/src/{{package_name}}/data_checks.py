"""Data checks: expectations the training data must meet before a model may learn from it.

A model trained on broken data can still pass validation, because the holdout rows come from the
same broken table. So the train step checks the rows first, against the expectations declared in
``[common.data_checks]`` of ``settings.toml``: the schema, enough rows, few nulls, values within
their ranges, and both outcomes present in a usable balance. Every broken expectation is named in
one message, and the result is logged with the training run whether it passed or not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
from pandas.api import types

from .data import LABEL_COLUMN
from .features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from .settings import DataChecks

LABEL_VALUES = frozenset({0, 1})


class DataCheckError(ValueError):
    """The training data broke at least one expectation; nothing was trained."""


@dataclass(frozen=True)
class Expectation:
    """One expectation and whether the data met it."""

    name: str
    passed: bool
    observed: str  # what the data showed, e.g. "3 rows" or "12.5% null"


@dataclass(frozen=True)
class DataCheckResult:
    """Every expectation checked on one training frame."""

    expectations: tuple[Expectation, ...]

    @property
    def passed(self) -> bool:
        """Whether every expectation was met."""
        return all(expectation.passed for expectation in self.expectations)

    @property
    def broken(self) -> tuple[Expectation, ...]:
        """The expectations the data did not meet."""
        return tuple(e for e in self.expectations if not e.passed)

    def describe_failures(self) -> str:
        """One message naming each broken expectation and what the data showed."""
        return "; ".join(f"{e.name} ({e.observed})" for e in self.broken)

    def as_dict(self) -> dict[str, object]:
        """Return the result as JSON-ready data, for the run's ``data_check.json``."""
        return {
            "passed": self.passed,
            "expectations": [asdict(expectation) for expectation in self.expectations],
        }


def schema_expectations(frame: pd.DataFrame) -> list[Expectation]:
    """Each feature and the label exist with a usable type; the label is 0 or 1."""
    checks = []
    kinds = {
        **{column: ("numeric", types.is_numeric_dtype) for column in NUMERIC_FEATURES},
        **{column: ("text", _is_text) for column in CATEGORICAL_FEATURES},
    }
    for column, (kind, is_kind) in kinds.items():
        if column not in frame.columns:
            checks.append(Expectation(f"column {column} is {kind}", False, "missing"))
        else:
            dtype = frame[column].dtype
            checks.append(Expectation(f"column {column} is {kind}", is_kind(dtype), str(dtype)))
    if LABEL_COLUMN not in frame.columns:
        checks.append(Expectation(f"label {LABEL_COLUMN} is 0 or 1", False, "missing"))
    else:
        values = set(frame[LABEL_COLUMN].dropna().unique().tolist())
        unexpected = sorted(map(str, values - LABEL_VALUES))
        observed = f"other values: {', '.join(unexpected[:5])}" if unexpected else "0 and 1 only"
        checks.append(Expectation(f"label {LABEL_COLUMN} is 0 or 1", not unexpected, observed))
    return checks


def _is_text(dtype: object) -> bool:
    return types.is_string_dtype(dtype) or types.is_object_dtype(dtype)


def row_expectation(frame: pd.DataFrame, checks: DataChecks) -> Expectation:
    """At least ``min_rows`` rows to learn from."""
    return Expectation(
        f"at least {checks.min_rows} rows", len(frame) >= checks.min_rows, f"{len(frame)} rows"
    )


def null_expectations(frame: pd.DataFrame, checks: DataChecks) -> list[Expectation]:
    """No column of the model's input is null more often than ``max_null_fraction``."""
    columns = [c for c in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES, LABEL_COLUMN) if c in frame]
    limit = checks.max_null_fraction
    expectations = []
    for column in columns:
        fraction = float(frame[column].isna().mean()) if len(frame) else 0.0
        name = f"{column} null in at most {limit * 100:.1f}% of rows"
        expectations.append(Expectation(name, fraction <= limit, f"{fraction * 100:.1f}% null"))
    return expectations


def range_expectations(frame: pd.DataFrame, checks: DataChecks) -> list[Expectation]:
    """Every value of a ranged column lies within its declared ``[low, high]``."""
    expectations = []
    for column, (low, high) in checks.ranges.items():
        name = f"{column} within [{low:g}, {high:g}]"
        if column not in frame or not types.is_numeric_dtype(frame[column].dtype):
            expectations.append(Expectation(name, False, "no numeric column"))
            continue
        values = frame[column].dropna()
        outside = int(((values < low) | (values > high)).sum())
        observed = f"{outside} outside, from {values.min():g} to {values.max():g}"
        expectations.append(Expectation(name, outside == 0, observed if len(values) else "empty"))
    return expectations


def balance_expectation(frame: pd.DataFrame, checks: DataChecks) -> Expectation:
    """Each outcome is at least ``min_label_fraction`` of the labelled rows."""
    limit = checks.min_label_fraction
    name = f"each outcome of {LABEL_COLUMN} in at least {limit * 100:.1f}% of rows"
    labels = frame[LABEL_COLUMN].dropna() if LABEL_COLUMN in frame else pd.Series(dtype=int)
    if labels.empty:
        return Expectation(name, False, "no labelled rows")
    churn = float((labels == 1).mean())
    rarest = min(churn, 1 - churn)
    return Expectation(name, rarest >= limit, f"{churn * 100:.1f}% churned")


def check_training_data(frame: pd.DataFrame, checks: DataChecks) -> DataCheckResult:
    """Check ``frame`` against every declared expectation."""
    return DataCheckResult(
        (
            *schema_expectations(frame),
            row_expectation(frame, checks),
            *null_expectations(frame, checks),
            *range_expectations(frame, checks),
            balance_expectation(frame, checks),
        )
    )
