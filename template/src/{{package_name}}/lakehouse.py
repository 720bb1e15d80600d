"""Lakehouse Monitoring: a quality monitor on the target's own inference table (Databricks only).

The monitoring job creates the monitor, or brings it in line with settings.toml, and refreshes it
before the ``monitor`` step reads its drift table. It is not a bundle resource on purpose:
Databricks creates a monitor only on an existing table, and the inference table exists only after
the first batch inference run, so a bundle resource would fail the first deploy of every new
target. The monitor profiles the inference table as an inference log (model version, prediction,
timestamp) against the baseline table that the ``monitor`` step writes, with the granularities and
alert emails of settings.toml.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.catalog import (
    MonitorDestination,
    MonitorInferenceLog,
    MonitorInferenceLogProblemType,
    MonitorNotifications,
    MonitorRefreshInfoState,
)

from .platform import Platform
from .score import MODEL_VERSION_COLUMN, PREDICTION_COLUMN, SCORED_AT_COLUMN
from .settings import Settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 30
_FINISHED = {
    MonitorRefreshInfoState.SUCCESS,
    MonitorRefreshInfoState.FAILED,
    MonitorRefreshInfoState.CANCELED,
}


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


def monitor_configuration(settings: Settings, baseline_table: str | None) -> dict[str, object]:
    """Return the monitor's settings that both create and update take."""
    monitoring = settings.monitoring
    emails = list(monitoring.alert_emails)
    return {
        "output_schema_name": f"{settings.catalog}.{settings.schema_}",
        "baseline_table_name": baseline_table,
        "inference_log": MonitorInferenceLog(
            problem_type=MonitorInferenceLogProblemType.PROBLEM_TYPE_CLASSIFICATION,
            timestamp_col=SCORED_AT_COLUMN,
            granularities=list(monitoring.granularities),
            prediction_col=PREDICTION_COLUMN,
            model_id_col=MODEL_VERSION_COLUMN,
        ),
        "notifications": (
            MonitorNotifications(on_failure=MonitorDestination(email_addresses=emails))
            if emails
            else None
        ),
    }


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
    config = monitor_configuration(settings, baseline if platform.table_exists(baseline) else None)
    monitors = client.quality_monitors
    try:
        monitors.get(table_name=table)
    except NotFound:
        assets_dir = f"{settings.monitoring.assets_dir}/{settings.env}"
        monitors.create(table_name=table, assets_dir=assets_dir, **config)
        action: Literal["created", "updated"] = "created"
    else:
        monitors.update(table_name=table, **config)
        action = "updated"
    state = _wait_for_refresh(client, table, _start_refresh(client, table), settings, sleep, clock)
    sync = QualityMonitorSync(table, action, state)
    logger.info(sync.describe())
    return sync


def _start_refresh(client: WorkspaceClient, table: str) -> int:
    """Follow a refresh already under way (creating a monitor starts one), or start one."""
    listed = client.quality_monitors.list_refreshes(table_name=table).refreshes or []
    running = [refresh for refresh in listed if refresh.state not in _FINISHED]
    if running:
        return max(running, key=lambda refresh: refresh.start_time_ms).refresh_id
    return client.quality_monitors.run_refresh(table_name=table).refresh_id


def _wait_for_refresh(
    client: WorkspaceClient,
    table: str,
    refresh_id: int,
    settings: Settings,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> str | None:
    """Poll the refresh until it finishes; None if it is still running at the timeout."""
    deadline = clock() + 60 * settings.monitoring.refresh_timeout_minutes
    while True:
        refresh = client.quality_monitors.get_refresh(table_name=table, refresh_id=refresh_id)
        if refresh.state in _FINISHED:
            break
        if clock() >= deadline:
            return None
        sleep(POLL_SECONDS)
    if refresh.state != MonitorRefreshInfoState.SUCCESS:
        raise QualityMonitorError(
            f"Refresh {refresh_id} of the quality monitor on {table} ended "
            f"{refresh.state.value}: {refresh.message or 'no message'}"
        )
    return refresh.state.value
