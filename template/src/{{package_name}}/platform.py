"""The one module that knows where the pipeline runs: this machine, or Databricks.

Every other module receives a ``Platform`` and asks it for Spark, for tables and for MLflow, so the
training and scoring code is identical in both places. Locally, a table ``catalog.schema.name`` is a
Parquet directory under ``<local_dir>/tables/catalog/schema/name`` and MLflow keeps its tracking and
registry store in SQLite under ``local_dir``; on Databricks, tables live in Unity Catalog and models
are registered in Unity Catalog.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Literal, Protocol

import mlflow
from pyspark.sql import DataFrame, SparkSession

from .settings import Settings

logger = logging.getLogger(__name__)

WriteMode = Literal["append", "overwrite"]


class TableNotFoundError(LookupError):
    """A step needs a table that no earlier step has written."""


class NotOnDatabricksError(RuntimeError):
    """A Databricks environment was asked for where neither Databricks nor its Connect client is."""


class DatabricksOnlyError(RuntimeError):
    """The step means something only on Databricks; locally there is nothing for it to do."""


class TaskValues(Protocol):
    """The part of ``dbutils.jobs.taskValues`` the pipeline uses."""

    def set(self, key: str, value: object) -> None:
        """Make ``value`` readable by later tasks of the same job run."""


class Platform(Protocol):
    """What a pipeline step may ask of the place it runs in."""

    settings: Settings

    @property
    def spark(self) -> SparkSession:
        """The Spark session to read and write tables with."""

    def read_table(self, name: str) -> DataFrame:
        """Read a table by its three-part name."""

    def write_table(self, df: DataFrame, name: str, mode: WriteMode) -> None:
        """Write a table by its three-part name."""

    def table_exists(self, name: str) -> bool:
        """Whether a table exists."""

    def configure_mlflow(self) -> None:
        """Point MLflow at this platform's tracking server, registry and experiment."""

    def publish_task_value(self, key: str, value: object) -> None:
        """Pass a value to later tasks of the same job run."""

    def describe(self) -> str:
        """Say where data and models live, for people reading the output."""


# Where local steps publish task values: the local job runner installs its store here for the
# length of one task, as Databricks gives each task its own ``dbutils.jobs.taskValues``.
_LOCAL_TASK_VALUES: ContextVar[TaskValues | None] = ContextVar("local_task_values", default=None)


@contextmanager
def local_task_values(store: TaskValues) -> Iterator[None]:
    """Send the task values that local steps publish within the block to ``store``."""
    token = _LOCAL_TASK_VALUES.set(store)
    try:
        yield
    finally:
        _LOCAL_TASK_VALUES.reset(token)


# MLflow exports the URIs it is given as MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, so a value
# found there may be a default this module chose for an earlier platform in the same process
# rather than the user's choice. Remembering the defaults chosen here tells the two apart.
_DEFAULTS_CHOSEN_HERE: dict[str, set[str]] = {
    "MLFLOW_TRACKING_URI": set(),
    "MLFLOW_REGISTRY_URI": set(),
}


def _user_setting(variable: str) -> str | None:
    """Return the user's value of an MLflow URI variable; None if unset or a default of ours."""
    value = os.environ.get(variable)
    return value if value and value not in _DEFAULTS_CHOSEN_HERE[variable] else None


def _set_mlflow_uris(tracking_uri: str, registry_uri: str) -> None:
    """Point MLflow at the given URIs, remembering those that are not the user's own."""
    for variable, uri in (
        ("MLFLOW_TRACKING_URI", tracking_uri),
        ("MLFLOW_REGISTRY_URI", registry_uri),
    ):
        if uri != _user_setting(variable):
            _DEFAULTS_CHOSEN_HERE[variable].add(uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)


class LocalPlatform:
    """Local Spark, Parquet tables and a SQLite MLflow store, all under ``settings.local_dir``."""

    def __init__(self, settings: Settings, spark: SparkSession | None = None) -> None:
        if settings.local_dir is None:
            raise ValueError(
                f"Environment {settings.env!r} has no local_dir; it cannot run locally."
            )
        self.settings = settings
        self.root = settings.local_dir.resolve()
        self._spark = spark

    @property
    def spark(self) -> SparkSession:
        """A ``local[*]`` session, started on first use (it takes a few seconds)."""
        if self._spark is None:
            self._spark = local_spark_session()
        return self._spark

    @property
    def tracking_uri(self) -> str:
        """The SQLite store MLflow uses unless ``MLFLOW_TRACKING_URI`` says otherwise."""
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        """Where run artifacts (models, plots) are written for the local experiment."""
        return (self.root / "mlartifacts").as_uri()

    def table_path(self, name: str) -> Path:
        """Return the Parquet directory that stands in for Unity Catalog table ``name``."""
        parts = name.split(".")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"Table names have three parts (catalog.schema.table), got {name!r}.")
        return self.root.joinpath("tables", *parts)

    def table_exists(self, name: str) -> bool:
        """Whether an earlier step wrote ``name``."""
        return self.table_path(name).is_dir()

    def read_table(self, name: str) -> DataFrame:
        """Read ``name``, or fail with the step that should have written it in mind."""
        if not self.table_exists(name):
            raise TableNotFoundError(f"Table {name} does not exist yet ({self.table_path(name)}).")
        return self.spark.read.parquet(str(self.table_path(name)))

    def write_table(self, df: DataFrame, name: str, mode: WriteMode) -> None:
        """Write ``df`` to ``name``; ``append`` keeps every earlier row.

        An overwrite is written beside the table and swapped in afterwards, so ``df`` may be
        computed from the very table it replaces (Delta tables on Databricks allow that too).
        """
        path = self.table_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "append":
            df.write.mode("append").parquet(str(path))
            return
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        df.write.parquet(str(staging))
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)

    def configure_mlflow(self) -> None:
        """Point MLflow at the local store (env vars win) and select the project's experiment."""
        self.root.mkdir(parents=True, exist_ok=True)
        tracking_uri = _user_setting("MLFLOW_TRACKING_URI") or self.tracking_uri
        _set_mlflow_uris(tracking_uri, _user_setting("MLFLOW_REGISTRY_URI") or tracking_uri)
        name = self.settings.experiment_name
        if mlflow.get_experiment_by_name(name) is None:
            mlflow.create_experiment(name, artifact_location=self.artifact_location)
        mlflow.set_experiment(name)

    def publish_task_value(self, key: str, value: object) -> None:
        """Hand ``value`` to later tasks when the local job runner runs this step."""
        store = _LOCAL_TASK_VALUES.get()
        if store is None:
            logger.debug("task value %s=%s (not run as a job task: not published)", key, value)
            return
        store.set(key, value)

    def describe(self) -> str:
        """Where this run keeps its data and MLflow store, for people reading the output."""
        return (
            f"tables under {self.root / 'tables'}; "
            f"MLflow store {mlflow.get_tracking_uri()} "
            f"(browse it with: mlflow ui --backend-store-uri {self.tracking_uri})"
        )


class DatabricksPlatform:
    """Unity Catalog tables and models, from a job task on Databricks (serverless or classic)."""

    def __init__(
        self,
        settings: Settings,
        spark: SparkSession | None = None,
        task_values: TaskValues | None = None,
    ) -> None:
        self.settings = settings
        self._spark = spark
        self._task_values = task_values

    @property
    def spark(self) -> SparkSession:
        """The task's session on Databricks, or a Databricks Connect session from a laptop."""
        if self._spark is None:
            if on_databricks():
                self._spark = SparkSession.builder.getOrCreate()
            else:
                from databricks.connect import DatabricksSession  # checked by get_platform

                self._spark = DatabricksSession.builder.getOrCreate()
        return self._spark

    def table_exists(self, name: str) -> bool:
        """Whether the Unity Catalog table exists."""
        return self.spark.catalog.tableExists(name)

    def read_table(self, name: str) -> DataFrame:
        """Read a Unity Catalog table."""
        if not self.table_exists(name):
            raise TableNotFoundError(f"Table {name} does not exist yet in Unity Catalog.")
        return self.spark.read.table(name)

    def write_table(self, df: DataFrame, name: str, mode: WriteMode) -> None:
        """Write a managed Delta table in Unity Catalog."""
        df.write.mode(mode).saveAsTable(name)

    def configure_mlflow(self) -> None:
        """Track in the workspace and register in Unity Catalog (env vars win)."""
        _set_mlflow_uris(
            _user_setting("MLFLOW_TRACKING_URI") or "databricks",
            _user_setting("MLFLOW_REGISTRY_URI") or "databricks-uc",
        )
        mlflow.set_experiment(self.settings.experiment_name)

    def publish_task_value(self, key: str, value: object) -> None:
        """Hand ``value`` to later tasks of this job run (as ``tasks.<task>.values.<key>``)."""
        if self._task_values is None:
            from databricks.sdk.runtime import dbutils  # only importable on Databricks

            self._task_values = dbutils.jobs.taskValues
        self._task_values.set(key, value)

    def describe(self) -> str:
        """Where this run keeps its data and models."""
        return (
            f"Unity Catalog schema {self.settings.catalog}.{self.settings.schema_}; "
            f"experiment {self.settings.experiment_name}"
        )


def local_spark_session() -> SparkSession:
    """Start Spark in ``local[*]`` with settings that suit a laptop and an offline machine."""
    # Workers must use this interpreter, or model UDFs cannot import pandas and mlflow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        SparkSession.builder.master("local[*]")
        .appName(__package__ or "pipeline")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def on_databricks() -> bool:
    """Whether this process runs on Databricks compute (a job task, a notebook, serverless)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def has_databricks_connect() -> bool:
    """Whether Databricks Connect is installed, so Spark can run in a workspace from here."""
    try:
        return importlib.util.find_spec("databricks.connect") is not None
    except ModuleNotFoundError:
        return False


def get_platform(settings: Settings, spark: SparkSession | None = None) -> Platform:
    """Choose the platform from the environment: ``local`` here, every other one on Databricks.

    Raises:
        NotOnDatabricksError: a Databricks environment off Databricks without Databricks Connect;
            failing here, before any work, beats a local Spark session writing next to a
            workspace's registry.

    """
    if settings.is_local:
        return LocalPlatform(settings, spark)
    if spark is None and not on_databricks() and not has_databricks_connect():
        raise NotOnDatabricksError(
            f"--env {settings.env} runs on Databricks, and this is neither Databricks compute nor "
            "a machine with Databricks Connect. Run the job in the workspace "
            f"(databricks bundle run --target {settings.env} <job>), install databricks-connect "
            "to run steps from here against it, or use --env local."
        )
    return DatabricksPlatform(settings, spark)
