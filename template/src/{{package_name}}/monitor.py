"""Monitoring step: compare recent predictions with the training data and say when to retrain.

A run takes the predictions of the last ``window_hours`` made by the newest model version among
them, and compares them with the training split of the feature table, the data that version
learned from:

- feature drift: PSI for every feature, the Kolmogorov-Smirnov statistic for numeric features and
  the Jensen-Shannon distance for categorical ones; the p-values of the KS and chi-square tests are
  recorded as evidence but never alert, since with thousands of rows every harmless shift is
  "significant";
- prediction drift: the same for the predicted class, against the version's own predictions on the
  training rows (not the labels: a classifier's positive rate is not the base rate);
- data quality: missing values, numbers outside the training range, categories never seen;
- model quality, once labels have arrived for enough predictions: accuracy, F1, precision, recall;
- on Databricks, the drift that Lakehouse Monitoring computed for the same table, held to the same
  thresholds.

Every metric is appended to the metrics table with its threshold and whether it was breached. Any
breach means the model needs retraining: the step publishes the task value ``retraining_needed``
that the monitoring job's condition task reads, and the command exits with its own status. A report
(HTML, with plots of the drifted columns) is logged to MLflow in a run tagged with the monitored
version, and the version is tagged with that run.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import mlflow
import numpy as np
import pandas as pd
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from mlflow import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from .batches import BATCH_COLUMN
from .data import ID_COLUMN, LABEL_COLUMN
from .feature_source import labelled_features, model_uri_for_evaluation
from .features import FEATURE_COLUMNS, NUMERIC_FEATURES, split_train_holdout
from .lakehouse import QualityMonitorError, default_drift_metrics_table, drift_metrics_table
from .lineage import read_lineage
from .platform import Platform
from .progress import StepProgress
from .registry import set_version_tags, version_uri
from .report import format_value, write_report
from .score import MODEL_VERSION_COLUMN, PREDICTION_COLUMN, SCORED_AT_COLUMN
from .settings import MonitoringSettings, Settings

logger = logging.getLogger(__name__)

# PSI compares histograms over the baseline's deciles.
PSI_BINS = 10
# An empty bin or category would make PSI infinite; this floor keeps one new category large but
# finite (about 0.1 to 0.9 for 1 to 10 % of the rows).
MIN_PROPORTION = 1e-4
# The metrics that measure drift (as opposed to data quality, model quality, row counts).
DRIFT_METRICS = frozenset(
    {
        "psi",
        "ks_statistic",
        "js_distance",
        "lakehouse_psi",
        "lakehouse_ks_statistic",
        "lakehouse_js_distance",
    }
)

METRICS_SCHEMA = T.StructType(
    [
        T.StructField("window_start", T.TimestampType(), nullable=False),
        T.StructField("window_end", T.TimestampType(), nullable=False),
        T.StructField("model_version", T.StringType(), nullable=False),
        T.StructField("metric", T.StringType(), nullable=False),
        T.StructField("feature", T.StringType(), nullable=True),
        T.StructField("value", T.DoubleType(), nullable=True),
        T.StructField("threshold", T.DoubleType(), nullable=True),
        T.StructField("breached", T.BooleanType(), nullable=False),
        T.StructField("computed_at", T.TimestampType(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Metric:
    """One measurement of one column (or of the whole window) and its threshold, if it has one.

    ``feature`` is the column measured: a feature, ``prediction`` for prediction drift and model
    quality, or None for counts of the window. ``bound`` says whether the threshold is a maximum
    or a minimum; a metric without one is recorded for context and never breached.
    """

    name: str
    feature: str | None
    value: float
    threshold: float | None = None
    bound: Literal["max", "min"] | None = None

    def __post_init__(self) -> None:
        # Counts, numpy scalars and floats alike: the metrics table stores doubles.
        object.__setattr__(self, "value", float(self.value))

    @classmethod
    def at_most(cls, name: str, feature: str | None, value: float, limit: float) -> Metric:
        """Make a metric that is breached above ``limit``."""
        return cls(name, feature, value, limit, "max")

    @classmethod
    def at_least(cls, name: str, feature: str | None, value: float, limit: float) -> Metric:
        """Make a metric that is breached below ``limit``."""
        return cls(name, feature, value, limit, "min")

    @property
    def breached(self) -> bool:
        """Whether the value lies beyond its threshold."""
        if self.threshold is None or math.isnan(self.value):
            return False
        if self.bound == "max":
            return self.value > self.threshold
        return self.value < self.threshold

    def describe(self) -> str:
        """Say what was measured against what, e.g. ``contract: psi 0.4702 > 0.2``."""
        where = f"{self.feature}: " if self.feature else ""
        if self.threshold is None:
            return f"{where}{self.name} {format_value(self.value)}"
        if self.bound == "max":
            relation = ">" if self.breached else "<="
        else:
            relation = "<" if self.breached else ">="
        shown = format_value(self.value)
        if shown == format_value(self.threshold) and self.value != self.threshold:
            shown = f"{self.value:.6f}"  # not "psi 0.2000 > 0.2"
        return f"{where}{self.name} {shown} {relation} {self.threshold:g}"


@dataclass(frozen=True)
class MonitoringWindow:
    """The time range of predictions a run looks at (UTC, both ends included)."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, end: datetime, hours: int) -> MonitoringWindow:
        """Make the window of the ``hours`` up to ``end``."""
        return cls(end - timedelta(hours=hours), end)

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class MonitoringResult:
    """What a monitoring run found; ``model_version`` is None when there was nothing to monitor."""

    window: MonitoringWindow
    model_version: str | None
    metrics: tuple[Metric, ...] = ()
    message: str = ""
    metrics_table: str | None = None
    report_path: Path | None = None
    run_id: str | None = None

    @property
    def breaches(self) -> tuple[Metric, ...]:
        """The metrics beyond their thresholds."""
        return tuple(metric for metric in self.metrics if metric.breached)

    @property
    def retraining_needed(self) -> bool:
        """Whether any threshold was crossed."""
        return bool(self.breaches)

    @property
    def drifted_features(self) -> set[str]:
        """Columns (features, or ``prediction``) with a breached drift metric."""
        return {
            metric.feature
            for metric in self.breaches
            if metric.name in DRIFT_METRICS and metric.feature is not None
        }

    def value(self, name: str, feature: str | None = None) -> float:
        """Return the value of one metric, e.g. ``value("psi", "contract")``."""
        for metric in self.metrics:
            if metric.name == name and metric.feature == feature:
                return metric.value
        raise KeyError(f"no metric {name!r} for {feature!r}")


# --- Statistics on pandas frames (no Spark, no MLflow) -------------------------------------------


def population_stability_index(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """PSI of two histograms over the same bins: sum of (a - e) * ln(a / e) over proportions.

    That is the Kullback-Leibler divergence taken both ways, which scipy's ``rel_entr`` computes.
    """
    expected = np.clip(expected_counts / expected_counts.sum(), MIN_PROPORTION, None)
    actual = np.clip(actual_counts / actual_counts.sum(), MIN_PROPORTION, None)
    return float(np.sum(rel_entr(actual, expected) + rel_entr(expected, actual)))


def decile_edges(baseline: np.ndarray) -> np.ndarray:
    """Inner bin edges at the baseline's deciles; tied deciles (integer features) merge bins."""
    return np.unique(np.quantile(baseline, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count values per bin.

    The outer bins are open-ended, so values beyond the training range land in them instead of
    being dropped.
    """
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def numeric_drift(
    feature: str, baseline: pd.Series, current: pd.Series, limits: MonitoringSettings
) -> list[Metric]:
    """PSI over the baseline's deciles and the two-sample Kolmogorov-Smirnov test."""
    expected = baseline.dropna().to_numpy()
    actual = current.dropna().to_numpy()
    if not len(expected) or not len(actual):
        return []  # nothing to compare; the null fraction reports why
    edges = decile_edges(expected)
    psi = population_stability_index(bin_counts(expected, edges), bin_counts(actual, edges))
    ks = stats.ks_2samp(expected, actual)
    return [
        Metric.at_most("psi", feature, psi, limits.max_psi),
        Metric.at_most("ks_statistic", feature, ks.statistic, limits.max_ks_statistic),
        Metric("ks_p_value", feature, float(ks.pvalue)),
    ]


def categorical_drift(
    feature: str, baseline: pd.Series, current: pd.Series, limits: MonitoringSettings
) -> list[Metric]:
    """PSI and Jensen-Shannon distance of the category frequencies, and the chi-square test."""
    expected = baseline.dropna().astype(str).value_counts()
    actual = current.dropna().astype(str).value_counts()
    if expected.empty or actual.empty:
        return []
    categories = expected.index.union(actual.index)
    table = np.vstack(
        [
            expected.reindex(categories, fill_value=0).to_numpy(),
            actual.reindex(categories, fill_value=0).to_numpy(),
        ]
    )
    psi = population_stability_index(table[0], table[1])
    distance = float(jensenshannon(table[0], table[1], base=2))  # normalises the counts itself
    p_value = float(stats.chi2_contingency(table).pvalue)  # 1.0 for a single category
    return [
        Metric.at_most("psi", feature, psi, limits.max_psi),
        Metric.at_most("js_distance", feature, distance, limits.max_js_distance),
        Metric("chi2_p_value", feature, p_value),
    ]


def data_quality(
    feature: str, baseline: pd.Series, current: pd.Series, limits: MonitoringSettings
) -> list[Metric]:
    """Missing values, and for non-missing ones: outside the training range, or never seen."""
    metrics = [
        Metric.at_most("null_fraction", feature, current.isna().mean(), limits.max_null_fraction)
    ]
    present, seen = current.dropna(), baseline.dropna()
    if present.empty or seen.empty:
        return metrics
    if feature in NUMERIC_FEATURES:
        outside = (present < seen.min()) | (present > seen.max())
        metrics.append(
            Metric.at_most(
                "out_of_range_fraction", feature, outside.mean(), limits.max_out_of_range_fraction
            )
        )
    else:
        unseen = ~present.isin(set(seen))
        metrics.append(
            Metric.at_most(
                "unseen_category_fraction",
                feature,
                unseen.mean(),
                limits.max_unseen_category_fraction,
            )
        )
    return metrics


def model_quality(
    labels: pd.Series, predictions: pd.Series, limits: MonitoringSettings
) -> list[Metric]:
    """Accuracy and F1 against their minimums; precision and recall for context.

    A score that would divide by zero is NaN, never breached: precision when no churn was
    predicted, recall when none happened, F1 when neither (a window without churners, all
    predicted as staying, must not call for retraining).
    """
    return [
        Metric.at_least(
            "accuracy", PREDICTION_COLUMN, accuracy_score(labels, predictions), limits.min_accuracy
        ),
        Metric.at_least(
            "f1",
            PREDICTION_COLUMN,
            f1_score(labels, predictions, zero_division=np.nan),
            limits.min_f1,
        ),
        Metric(
            "precision",
            PREDICTION_COLUMN,
            precision_score(labels, predictions, zero_division=np.nan),
        ),
        Metric(
            "recall", PREDICTION_COLUMN, recall_score(labels, predictions, zero_division=np.nan)
        ),
    ]


def compute_metrics(
    baseline: pd.DataFrame, current: pd.DataFrame, limits: MonitoringSettings
) -> list[Metric]:
    """Every metric of one window.

    Args:
        baseline: training rows with the features and the monitored version's ``prediction``.
        current: the window's rows with the features, ``prediction`` and, where it has arrived,
            the label (missing or null where not).
        limits: the thresholds.

    """
    metrics = [
        Metric("row_count", None, len(current)),
        Metric("baseline_row_count", None, len(baseline)),
    ]
    for feature in FEATURE_COLUMNS:
        metrics += data_quality(feature, baseline[feature], current[feature], limits)
        drift = numeric_drift if feature in NUMERIC_FEATURES else categorical_drift
        metrics += drift(feature, baseline[feature], current[feature], limits)

    metrics += categorical_drift(
        PREDICTION_COLUMN, baseline[PREDICTION_COLUMN], current[PREDICTION_COLUMN], limits
    )
    metrics += [
        Metric("positive_rate", PREDICTION_COLUMN, current[PREDICTION_COLUMN].mean()),
        Metric("baseline_positive_rate", PREDICTION_COLUMN, baseline[PREDICTION_COLUMN].mean()),
    ]

    labelled = current.dropna(subset=[LABEL_COLUMN]) if LABEL_COLUMN in current else current[:0]
    metrics.append(Metric("labelled_row_count", None, len(labelled)))
    if len(labelled) >= limits.min_labelled_rows:
        metrics += model_quality(labelled[LABEL_COLUMN], labelled[PREDICTION_COLUMN], limits)
    return metrics


# --- Reading the tables --------------------------------------------------------------------------


def sample_rows(df: DataFrame, max_rows: int, seed: int) -> DataFrame:
    """At most about ``max_rows`` rows of ``df``, the same ones on every run over the same data."""
    rows = df.count()
    if rows <= max_rows:
        return df
    return df.sample(fraction=max_rows / rows, seed=seed)


def recent_predictions(platform: Platform, window: MonitoringWindow) -> tuple[str, DataFrame] | str:
    """Return the window's predictions of its newest model version, or why there are none."""
    table = platform.settings.table(platform.settings.tables.predictions)
    if not platform.table_exists(table):
        return f"the inference table {table} does not exist yet (run the score step first)"
    in_window = platform.read_table(table).filter(
        F.col(SCORED_AT_COLUMN).between(F.lit(window.start), F.lit(window.end))
    )
    newest = in_window.agg(F.max_by(MODEL_VERSION_COLUMN, SCORED_AT_COLUMN)).first()
    if newest is None or newest[0] is None:
        return f"{table} has no predictions scored from {window}"
    version = str(newest[0])
    return version, in_window.filter(F.col(MODEL_VERSION_COLUMN) == version)


def with_labels(platform: Platform, predictions: DataFrame) -> DataFrame:
    """Join the labels that have arrived, by customer and batch; null where none has.

    The batch is part of the key: a customer scored in two batches has two outcomes, and each
    judges the prediction of its own batch.
    """
    labels_table = platform.settings.source_table("labels")
    if not platform.table_exists(labels_table):
        return predictions.withColumn(LABEL_COLUMN, F.lit(None).cast("int"))
    key = [ID_COLUMN, BATCH_COLUMN]
    labels = (
        platform.read_table(labels_table)
        .select(*key, F.col(LABEL_COLUMN).cast("int").alias(LABEL_COLUMN))
        .dropDuplicates(key)
    )
    return predictions.join(labels, on=key, how="left")


def load_baseline(platform: Platform, version: str) -> pd.DataFrame:
    """Return the rows ``version`` was trained on, with its own predictions on them.

    They are read through the version's lineage record (the feature table and its Delta version at
    training time), not from the feature table as it is now: after a retraining whose challenger
    was rejected, the champion is older than the current table.
    """
    settings = platform.settings
    training_data = read_lineage(MlflowClient(), settings.registered_model_name, version)
    labelled = labelled_features(platform, training_data.table, training_data.version)
    train, _ = split_train_holdout(labelled, settings.data.holdout_fraction)
    sample = sample_rows(
        train.select(ID_COLUMN, *FEATURE_COLUMNS), settings.monitoring.max_rows, settings.data.seed
    )
    baseline = sample.toPandas()
    uri = version_uri(settings.registered_model_name, version)
    model = mlflow.pyfunc.load_model(model_uri_for_evaluation(uri))
    baseline[PREDICTION_COLUMN] = np.asarray(model.predict(baseline[list(FEATURE_COLUMNS)]))
    return baseline.astype({PREDICTION_COLUMN: "int32"})


def write_baseline_table(
    platform: Platform, baseline: pd.DataFrame, version: str, computed_at: datetime
) -> str:
    """Save the baseline in the inference table's schema: Lakehouse Monitoring compares with it."""
    settings = platform.settings
    table = settings.table(settings.tables.monitoring_baseline)
    frame = platform.spark.createDataFrame(
        baseline[[ID_COLUMN, *FEATURE_COLUMNS, PREDICTION_COLUMN]]
    )
    rows = frame.select(
        ID_COLUMN,
        *FEATURE_COLUMNS,
        F.col(PREDICTION_COLUMN).cast("int").alias(PREDICTION_COLUMN),
        F.lit(version).alias(MODEL_VERSION_COLUMN),
        F.lit(computed_at).alias(SCORED_AT_COLUMN),
    )
    platform.write_table(rows, table, mode="overwrite")
    return table


def has_column(df: DataFrame, dotted: str) -> bool:
    """Whether ``df`` has the column, or the ``struct.field``, named ``dotted``."""
    column, _, field = dotted.partition(".")
    if column not in df.columns:
        return False
    data_type = df.schema[column].dataType
    return not field or (isinstance(data_type, T.StructType) and field in data_type.fieldNames())


def lakehouse_drift(platform: Platform) -> list[Metric]:
    """Baseline drift from Lakehouse Monitoring's latest window, held to the same thresholds.

    Only on Databricks, once the quality monitor has refreshed: its drift table has a row per
    column, window, slice and model version; the largest drift over model versions counts.
    Measures that the service does not (or no longer) write are skipped instead of failing the run.
    """
    limits = platform.settings.monitoring
    table = lakehouse_drift_table(platform)
    if table is None or not platform.table_exists(table):
        return []
    drift = platform.read_table(table)
    measures = [
        ("lakehouse_psi", "population_stability_index", limits.max_psi),
        ("lakehouse_ks_statistic", "ks_test.statistic", limits.max_ks_statistic),
        ("lakehouse_js_distance", "js_distance", limits.max_js_distance),
    ]
    available = [measure for measure in measures if has_column(drift, measure[1])]
    if not available:
        return []
    baseline_drift = drift.filter(
        (F.col("drift_type") == "BASELINE")
        & F.col("slice_key").isNull()
        & F.col("column_name").isin(*FEATURE_COLUMNS, PREDICTION_COLUMN)
    )
    # None before the first baseline window, and then no row matches it.
    latest = baseline_drift.agg(F.max("window.start")).collect()[0][0]
    per_column = (
        baseline_drift.filter(F.col("window.start") == latest)
        .groupBy("column_name")
        .agg(*(F.max(column).alias(name) for name, column, _ in available))
        .orderBy("column_name")
        .collect()
    )
    return [
        Metric.at_most(name, row["column_name"], row[name], limit)
        for row in per_column
        for name, _, limit in available
        if row[name] is not None
    ]


def lakehouse_drift_table(platform: Platform) -> str | None:
    """Return the table of Lakehouse Monitoring's drift on the inference table; None: no monitor.

    On Databricks the monitor's configuration names it. Locally there is no service, and the
    table is looked for where the service puts it by default. If the monitor cannot be read, the
    default name is tried too: Lakehouse drift adds to the step's own metrics, it must not stop it.
    """
    settings = platform.settings
    predictions = settings.table(settings.tables.predictions)
    if settings.is_local:
        return default_drift_metrics_table(predictions)
    try:
        return drift_metrics_table(WorkspaceClient(), predictions)
    except (DatabricksError, QualityMonitorError) as error:
        logger.warning(
            "Could not read the quality monitor on %s (%s); trying its default drift table.",
            predictions,
            error,
        )
        return default_drift_metrics_table(predictions)


# --- Recording the outcome ------------------------------------------------------------------------


def append_metrics(
    platform: Platform,
    metrics: Sequence[Metric],
    window: MonitoringWindow,
    version: str,
    computed_at: datetime,
) -> str:
    """Append one row per metric to the metrics table; earlier windows are never rewritten."""
    settings = platform.settings
    table = settings.table(settings.tables.monitoring_metrics)
    rows = [
        (
            window.start,
            window.end,
            version,
            metric.name,
            metric.feature,
            metric.value,
            metric.threshold,
            metric.breached,
            computed_at,
        )
        for metric in metrics
    ]
    platform.write_table(platform.spark.createDataFrame(rows, METRICS_SCHEMA), table, "append")
    return table


def report_directory(settings: Settings, computed_at: datetime) -> Path:
    """Locally, reports stay under ``local_dir`` to be opened; elsewhere MLflow keeps them."""
    if settings.local_dir is None:
        return Path(tempfile.mkdtemp(prefix="monitoring-"))
    return settings.local_dir / "reports" / f"monitoring-{computed_at:%Y%m%dT%H%M%SZ}"


def log_monitoring_run(
    settings: Settings, version: str, result: MonitoringResult, report_dir: Path
) -> str:
    """Log the metrics and the report in a run tagged with the version, and tag the version."""
    name = settings.registered_model_name
    with mlflow.start_run(run_name=f"monitor-v{version}") as run:
        mlflow.set_tags(
            {
                "model_name": name,
                "model_version": version,
                "monitoring_window_start": result.window.start.isoformat(),
                "monitoring_window_end": result.window.end.isoformat(),
                "retraining_needed": str(result.retraining_needed).lower(),
            }
        )
        mlflow.log_metrics(
            {
                f"{metric.feature}/{metric.name}" if metric.feature else metric.name: metric.value
                for metric in result.metrics
                if math.isfinite(metric.value)
            }
        )
        mlflow.log_artifacts(str(report_dir), artifact_path="monitoring_report")
    set_version_tags(
        MlflowClient(),
        name,
        version,
        {
            "monitoring_run_id": run.info.run_id,
            "monitoring_window_end": result.window.end.isoformat(),
            "monitoring_retraining_needed": str(result.retraining_needed).lower(),
        },
    )
    return run.info.run_id


# --- The step ------------------------------------------------------------------------------------


def monitor(platform: Platform, *, now: datetime | None = None) -> MonitoringResult:
    """Monitor the window ending ``now``; append metrics, log a report, publish the signal.

    With no inference table, or no predictions in the window, nothing is computed or written and
    the result says why; the signal is still published (false), so the job's condition task can
    always read it.
    """
    settings = platform.settings
    computed_at = now or datetime.now(UTC)
    window = MonitoringWindow.ending_at(computed_at, settings.monitoring.window_hours)
    progress = StepProgress("monitor", parts=4)
    with progress.part(f"reading the predictions of {window}"):
        found = recent_predictions(platform, window)
    if isinstance(found, str):
        platform.publish_task_value("retraining_needed", False)
        message = f"Nothing to monitor: {found}. No metrics were written."
        logger.info(message)
        return MonitoringResult(window, None, message=message)

    version, predictions = found
    platform.configure_mlflow()
    sample_size = settings.monitoring.max_rows
    with progress.part(f"joining labels and sampling up to {sample_size:,} rows"):
        current = sample_rows(
            with_labels(platform, predictions), sample_size, settings.data.seed
        ).toPandas()
    with progress.part(f"comparing {len(current):,} predictions with the baseline"):
        baseline = load_baseline(platform, version)
        metrics = compute_metrics(baseline, current, settings.monitoring)
        metrics += lakehouse_drift(platform)
    result = MonitoringResult(window, version, tuple(metrics))

    with progress.part("writing the report and the metrics"):
        report_dir = report_directory(settings, computed_at)
        report = write_report(report_dir, settings.registered_model_name, result, baseline, current)
        run_id = log_monitoring_run(settings, version, result, report_dir)
        write_baseline_table(platform, baseline, version, computed_at)
        table = append_metrics(platform, metrics, window, version, computed_at)
    platform.publish_task_value("retraining_needed", result.retraining_needed)

    verdict = "retraining needed" if result.retraining_needed else "within thresholds"
    message = f"Monitored {len(current)} predictions of version {version} from {window}: {verdict}"
    logger.info("%s; %d metrics appended to %s", message, len(metrics), table)
    return MonitoringResult(window, version, tuple(metrics), message, table, report, run_id)
