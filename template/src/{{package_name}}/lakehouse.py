"""Lakehouse Monitoring: a quality monitor on the target's own inference table (Databricks only).

The monitoring job creates the monitor, or merges settings.toml into it, and refreshes it before
the ``monitor`` step reads its drift table. It is not a bundle resource on purpose: Databricks
creates a monitor only on an existing table, and the inference table exists only after the first
batch inference run, so a bundle resource would fail the first deploy of every new target. The
monitor profiles the inference table as an inference log (model version, prediction, timestamp)
against the baseline table that the ``monitor`` step writes, with the granularities and alert
emails of settings.toml.

The monitor is managed through the Data Quality Monitors API (``WorkspaceClient.data_quality``),
which addresses a table's monitor by the table's UUID. A run sets only the fields that
settings.toml decides and names exactly those in the update mask: slices, a schedule, custom
metrics or a label column that a team adds in the UI survive every run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.dataquality import (
    AggregationGranularity,
    DataProfilingConfig,
    InferenceLogConfig,
    InferenceProblemType,
    Monitor,
    NotificationDestination,
    NotificationSettings,
    Refresh,
    RefreshState,
)

from .platform import Platform
from .score import MODEL_VERSION_COLUMN, PREDICTION_COLUMN, SCORED_AT_COLUMN
from .settings import Settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 30
# The Data Quality API's object type of a table monitor.
TABLE = "table"
# Unless the monitor names its drift table, the service writes it to the output schema (here the
# inference table's own) under the monitored table's name with this suffix.
DRIFT_METRICS_SUFFIX = "_drift_metrics"
_FINISHED = {
    RefreshState.MONITOR_REFRESH_STATE_SUCCESS,
    RefreshState.MONITOR_REFRESH_STATE_FAILED,
    RefreshState.MONITOR_REFRESH_STATE_CANCELED,
}
_GRANULARITY_PREFIX = "AGGREGATION_GRANULARITY_"
# The fields of a DataProfilingConfig that settings.toml decides, as update mask paths. Every
# other field (slices, schedule, custom metrics, label column, assets_dir...) is the monitor's own.
OWNED_FIELDS = (
    "output_schema_id",
    "baseline_table_name",
    "inference_log.problem_type",
    "inference_log.timestamp_column",
    "inference_log.granularities",
    "inference_log.prediction_column",
    "inference_log.model_id_column",
    "notification_settings.on_failure.email_addresses",
)


class QualityMonitorError(RuntimeError):
    """Lakehouse Monitoring could not refresh the monitor."""


@dataclass(frozen=True)
class QualityMonitorSync:
    """What the sync did to the monitor, and how its refresh ended (None: not waited for)."""

    table: str
    action: Literal["created", "updated", "skipped"]
    refresh_state: str | None = None

    def describe(self) -> str:
        """One line for the job's output."""
        if self.action == "skipped":
            return (
                f"No quality monitor yet: {self.table} does not exist until batch inference "
                "has run; the next monitoring run creates it."
            )
        refreshed = (
            f"refresh {self.refresh_state}"
            if self.refresh_state
            else "refresh still running (the monitor step reads the previous one)"
        )
        return f"Quality monitor on {self.table} {self.action}; {refreshed}"


# --- The monitor's configuration -----------------------------------------------------------------


def aggregation_granularity(window: str) -> AggregationGranularity:
    """Map a window of settings.toml to the API's enum.

    settings.toml keeps the readable form ("1 day") that the deprecated API took, so existing
    settings keep working.
    """
    name = _GRANULARITY_PREFIX + "_".join(window.upper().split())
    try:
        return AggregationGranularity[name]
    except KeyError:
        allowed = ", ".join(f'"{_window(granularity)}"' for granularity in AggregationGranularity)
        raise ValueError(
            f"Unknown Lakehouse Monitoring granularity {window!r} in [common.monitoring]; "
            f"use one of {allowed}."
        ) from None


def _window(granularity: AggregationGranularity) -> str:
    """Return the settings.toml form of a granularity, for error messages."""
    return granularity.name.removeprefix(_GRANULARITY_PREFIX).replace("_", " ").lower()


def monitor_configuration(
    settings: Settings, *, output_schema_id: str, baseline_table: str | None
) -> DataProfilingConfig:
    """Return the monitor settings.toml describes: all of it on creation, OWNED_FIELDS on update.

    Without a baseline table (the monitor step has not written one yet) or alert emails, those
    fields stay unset, so an update leaves the monitor's own values alone.
    """
    monitoring = settings.monitoring
    emails = list(monitoring.alert_emails)
    return DataProfilingConfig(
        output_schema_id=output_schema_id,
        assets_dir=f"{monitoring.assets_dir}/{settings.env}",
        baseline_table_name=baseline_table,
        inference_log=InferenceLogConfig(
            problem_type=InferenceProblemType.INFERENCE_PROBLEM_TYPE_CLASSIFICATION,
            timestamp_column=SCORED_AT_COLUMN,
            granularities=[aggregation_granularity(window) for window in monitoring.granularities],
            prediction_column=PREDICTION_COLUMN,
            model_id_column=MODEL_VERSION_COLUMN,
        ),
        notification_settings=(
            NotificationSettings(on_failure=NotificationDestination(email_addresses=emails))
            if emails
            else None
        ),
    )


def merge_configuration(
    existing: DataProfilingConfig | None, ours: DataProfilingConfig
) -> tuple[DataProfilingConfig, str]:
    """Set the project's fields on the existing configuration; return it and the update mask.

    Everything else is sent back as the monitor has it and left out of the mask, so the service
    keeps it whatever a team changed in the UI.
    """
    merged, mask = existing, []
    for path in OWNED_FIELDS:
        if _field(ours, path) is not None:
            merged = _with_field(merged, ours, path)
            mask.append(f"data_profiling_config.{path}")
    return merged, ",".join(mask)


def _field(config: Any, path: str) -> Any:
    """Return the value at a dotted path; None if any object on the way is missing."""
    for name in path.split("."):
        if config is None:
            return None
        config = getattr(config, name)
    return config


def _with_field(existing: Any, ours: Any, path: str) -> Any:
    """Copy ``existing`` with the value at the dotted ``path`` taken from ``ours``."""
    if existing is None:
        return ours  # nothing to keep: ours holds the project's fields only
    name, _, rest = path.partition(".")
    value = getattr(ours, name)
    if rest:
        value = _with_field(getattr(existing, name), value, rest)
    return replace(existing, **{name: value})


# --- Creating or updating the monitor ------------------------------------------------------------


def sync_quality_monitor(
    platform: Platform,
    client: WorkspaceClient,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QualityMonitorSync:
    """Create or update the monitor on the inference table, refresh it and wait for the refresh.

    Raises:
        QualityMonitorError: the refresh failed or was cancelled.

    """
    settings = platform.settings
    table = settings.table(settings.tables.predictions)
    if not platform.table_exists(table):
        return QualityMonitorSync(table, "skipped")
    baseline = settings.table(settings.tables.monitoring_baseline)
    config = monitor_configuration(
        settings,
        output_schema_id=_schema_id(client, f"{settings.catalog}.{settings.schema_}"),
        baseline_table=baseline if platform.table_exists(baseline) else None,
    )
    table_id = _table_id(client, table)
    action = _create_or_update(client, table_id, config)
    refresh_id = _start_refresh(client, table_id)
    state = _wait_for_refresh(client, table, table_id, refresh_id, settings, sleep, clock)
    sync = QualityMonitorSync(table, action, state)
    logger.info(sync.describe())
    return sync


def _table_id(client: WorkspaceClient, table: str) -> str:
    """Look up the UUID by which the Data Quality API addresses the table's monitor."""
    table_id = client.tables.get(full_name=table).table_id
    if not table_id:
        raise QualityMonitorError(f"Unity Catalog returned no table_id for {table}")
    return table_id


def _schema_id(client: WorkspaceClient, schema: str) -> str:
    """Look up the UUID of the schema that receives the metric tables."""
    schema_id = client.schemas.get(full_name=schema).schema_id
    if not schema_id:
        raise QualityMonitorError(f"Unity Catalog returned no schema_id for {schema}")
    return schema_id


def _create_or_update(
    client: WorkspaceClient, table_id: str, config: DataProfilingConfig
) -> Literal["created", "updated"]:
    """Create the monitor with the project's configuration, or merge that into the existing one."""
    service = client.data_quality
    try:
        existing = service.get_monitor(object_type=TABLE, object_id=table_id)
    except NotFound:
        service.create_monitor(
            monitor=Monitor(object_type=TABLE, object_id=table_id, data_profiling_config=config)
        )
        return "created"
    merged, mask = merge_configuration(existing.data_profiling_config, config)
    service.update_monitor(
        object_type=TABLE,
        object_id=table_id,
        monitor=Monitor(object_type=TABLE, object_id=table_id, data_profiling_config=merged),
        update_mask=mask,
    )
    return "updated"


# --- Refreshing it -------------------------------------------------------------------------------


def _start_refresh(client: WorkspaceClient, table_id: str) -> int:
    """Follow a refresh already under way (creating a monitor starts one), or start one."""
    service = client.data_quality
    running = [
        refresh
        for refresh in service.list_refresh(object_type=TABLE, object_id=table_id)
        if refresh.state not in _FINISHED
    ]
    if running:
        refresh = max(running, key=lambda refresh: refresh.start_time_ms or 0)
    else:
        refresh = service.create_refresh(
            object_type=TABLE,
            object_id=table_id,
            refresh=Refresh(object_type=TABLE, object_id=table_id),
        )
    if refresh.refresh_id is None:
        raise QualityMonitorError(f"The refresh of the monitor on table {table_id} has no id")
    return refresh.refresh_id


def _wait_for_refresh(
    client: WorkspaceClient,
    table: str,
    table_id: str,
    refresh_id: int,
    settings: Settings,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> str | None:
    """Poll the refresh until it finishes; None if it is still running at the timeout."""
    deadline = clock() + 60 * settings.monitoring.refresh_timeout_minutes
    while True:
        refresh = client.data_quality.get_refresh(
            object_type=TABLE, object_id=table_id, refresh_id=refresh_id
        )
        if refresh.state in _FINISHED:
            break
        if clock() >= deadline:
            return None
        sleep(POLL_SECONDS)
    state = _state_name(refresh.state)
    if refresh.state != RefreshState.MONITOR_REFRESH_STATE_SUCCESS:
        raise QualityMonitorError(
            f"Refresh {refresh_id} of the quality monitor on {table} ended "
            f"{state}: {refresh.message or 'no message'}"
        )
    return state


def _state_name(state: RefreshState | None) -> str:
    """SUCCESS rather than MONITOR_REFRESH_STATE_SUCCESS, for the job's output."""
    return state.value.removeprefix("MONITOR_REFRESH_STATE_") if state else "UNKNOWN"


# --- Reading its output --------------------------------------------------------------------------


def default_drift_metrics_table(table: str) -> str:
    """Return where the service writes the drift of ``table`` unless the monitor says otherwise."""
    return table + DRIFT_METRICS_SUFFIX


def drift_metrics_table(client: WorkspaceClient, table: str) -> str | None:
    """Return the drift metrics table of the monitor on ``table``, as the monitor names it.

    None while the table or its monitor does not exist: there is no drift to read.
    """
    try:
        monitor = client.data_quality.get_monitor(
            object_type=TABLE, object_id=_table_id(client, table)
        )
    except NotFound:
        return None
    config = monitor.data_profiling_config
    named = config.drift_metrics_table_name if config else None
    return named or default_drift_metrics_table(table)
