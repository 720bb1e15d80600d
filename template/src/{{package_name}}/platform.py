"""The one module that knows where the pipeline runs: this machine, or Databricks.

Every other module receives a ``Platform`` and asks it for Spark, for tables and for MLflow, so the
training and scoring code is identical in both places. Locally, a table ``catalog.schema.name`` is a
Delta table (written with ``deltalake``, delta-rs) under ``<local_dir>/tables/catalog/schema/name``
and MLflow keeps its tracking and registry store in SQLite under ``local_dir``; on Databricks,
tables live in Unity Catalog and models are registered in Unity Catalog.

Both places apply Delta's rules, so what a laptop accepts the workspace accepts too:

- an append must fit the table: no column the table lacks, no column of another type (columns
  the table has and the data lacks are filled with nulls);
- an overwrite that changes the schema needs ``overwrite_schema=True`` (Delta's
  ``overwriteSchema`` option);
- each write makes a new table version, readable later by ``read_table(name, version=...)``;
- the project overwrites only tables it created: it marks each table it creates, and refuses to
  overwrite a table without that mark.

Local runs of one project take a lock on its store (``exclusive``), so two of them never interleave
their writes and model promotions; on Databricks, a job's ``max_concurrent_runs`` does that.
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import logging
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import mlflow
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, StructType

from .settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

try:  # POSIX; elsewhere local runs are not serialized (see LocalPlatform.exclusive)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

WriteMode = Literal["append", "overwrite"]

PACKAGE = __package__ or "pipeline"
# How the project marks the tables it creates: the local Delta table's description, and the
# Unity Catalog table's property. It overwrites no table without the mark.
CREATED_BY = f"created by {PACKAGE}"
CREATED_BY_PROPERTY = f"{PACKAGE}.created_by"
# The local Spark driver's log configuration, packaged beside this module.
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties").as_uri()


class TableNotFoundError(LookupError):
    """A step needs a table (or a version of one) that no earlier step has written."""


class TableSchemaError(ValueError):
    """A write does not fit the table's schema; Delta in Unity Catalog refuses it too."""


class ForeignTableError(PermissionError):
    """A write would overwrite a table the project did not create."""


class ProjectBusyError(RuntimeError):
    """Another local run of the project holds its local store."""


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

    def read_table(self, name: str, version: int | None = None) -> DataFrame:
        """Read a table by its three-part name; ``version`` reads an earlier Delta version."""

    def write_table(
        self, df: DataFrame, name: str, mode: WriteMode, *, overwrite_schema: bool = False
    ) -> None:
        """Write a table by its three-part name, by Delta's rules (see the module's docstring)."""

    def table_exists(self, name: str) -> bool:
        """Whether a table exists."""

    def table_version(self, name: str) -> int | None:
        """Return the table's current Delta version; None if it does not exist."""

    def exclusive(self, command: str) -> AbstractContextManager[None]:
        """Hold the project for ``command``: a second local run is refused meanwhile."""

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
    """Local Spark, Delta tables and a SQLite MLflow store, all under ``settings.local_dir``."""

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

    @property
    def lock_path(self) -> Path:
        """The file whose lock says which local run holds the project (see ``exclusive``)."""
        return self.root / ".lock"

    def table_path(self, name: str) -> Path:
        """Return the Delta table directory that stands in for Unity Catalog table ``name``."""
        parts = name.split(".")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"Table names have three parts (catalog.schema.table), got {name!r}.")
        return self.root.joinpath("tables", *parts)

    def table_exists(self, name: str) -> bool:
        """Whether an earlier step wrote ``name``."""
        return self.table_path(name).is_dir()

    def table_version(self, name: str) -> int | None:
        """Return the current Delta version of ``name`` (0 after its first write), or None."""
        table = self._delta_table(name)
        return None if table is None else table.version()

    def read_table(self, name: str, version: int | None = None) -> DataFrame:
        """Read ``name`` (its ``version``, if given), or fail naming the table.

        The rows are read lazily by Spark from the Parquet files of that Delta version; Delta
        keeps replaced files, so the frame stays readable after the table is overwritten.
        """
        table = self._delta_table(name)
        if table is None:
            raise TableNotFoundError(f"Table {name} does not exist yet ({self.table_path(name)}).")
        if version is not None:
            latest = table.version()
            if not 0 <= version <= latest:
                raise TableNotFoundError(
                    f"Table {name} has no version {version}; its versions are 0 to {latest}."
                )
            table.load_as_version(version)
        schema = _spark_schema(table)
        files = table.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        return self.spark.read.schema(schema).parquet(*files)

    def write_table(
        self, df: DataFrame, name: str, mode: WriteMode, *, overwrite_schema: bool = False
    ) -> None:
        """Write ``df`` to the Delta table ``name`` as Unity Catalog would take it.

        ``append`` keeps every earlier row; ``overwrite`` replaces them in one new version, and
        ``df`` may be computed from the very table it replaces. See ``write_arrow``.
        """
        self.write_arrow(_to_arrow(df), name, mode, overwrite_schema=overwrite_schema)

    def write_arrow(
        self, data: pa.Table, name: str, mode: WriteMode, *, overwrite_schema: bool = False
    ) -> None:
        """Write Arrow ``data`` to the Delta table ``name``: ``write_table`` without Spark.

        Each write is one Delta commit, so concurrent appends, from any number of processes,
        neither lose nor repeat rows.

        Raises:
            TableSchemaError: ``data`` has a column the table lacks, or one of another type, and
                this is an append or an overwrite without ``overwrite_schema``.
            ForeignTableError: an overwrite of a table the project did not create.

        """
        from deltalake import write_deltalake  # the local store only; Databricks has Delta

        table = self._delta_table(name)
        changes_schema = mode == "overwrite" and overwrite_schema
        if table is not None and mode == "overwrite":
            _check_owned(name, (table.metadata().description or "") == CREATED_BY, local=True)
        if table is not None and not changes_schema:
            data = _conformed(data, table, name, mode)
        path = self.table_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            path,
            data,
            mode=mode,
            schema_mode="overwrite" if changes_schema else None,
            # Metadata of a new table only: an existing one keeps its name and mark.
            name=name if table is None else None,
            description=CREATED_BY if table is None else None,
        )

    def _delta_table(self, name: str) -> DeltaTable | None:
        """Open the Delta table of ``name``; None if there is none (yet)."""
        from deltalake import DeltaTable

        path = self.table_path(name)
        if DeltaTable.is_deltatable(str(path)):
            return DeltaTable(path)
        if (path / "_SUCCESS").is_file():  # a Parquet table of an earlier template release
            self._upgrade_parquet_table(name)
            return DeltaTable(path)
        return None

    def _upgrade_parquet_table(self, name: str) -> None:
        """Rewrite a Parquet table that earlier releases of this store wrote as a Delta table."""
        from deltalake import write_deltalake

        path = self.table_path(name)
        data = _to_arrow(self.spark.read.parquet(str(path)))
        old = path.with_name(f".{path.name}.parquet-{uuid.uuid4().hex}")
        path.rename(old)
        write_deltalake(path, data, name=name, description=CREATED_BY)
        shutil.rmtree(old)
        logger.info("Upgraded the Parquet table %s to a Delta table (%s)", name, path)

    @contextmanager
    def exclusive(self, command: str) -> Iterator[None]:
        """Hold the project's local store for ``command``; re-entrant within this process.

        Takes an exclusive lock on ``<local_dir>/.lock`` and writes this process's id, command and
        start time into it. The lock goes with the process, however that ends.

        Raises:
            ProjectBusyError: another process holds the lock; the message says which one.

        """
        _acquire(self.lock_path, command)
        try:
            yield
        finally:
            _release(self.lock_path)

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
            f"Delta tables under {self.root / 'tables'}; "
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

    def current_user(self) -> str:
        """Return the user name of the identity this step runs as (dev names are per user)."""
        return str(self.spark.sql("SELECT current_user()").collect()[0][0])

    def create_schema(self) -> None:
        """Create the settings' schema if needed: a developer's own dev schema starts empty."""
        schema = _quoted(f"{self.settings.catalog}.{self.settings.schema_}")
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def table_exists(self, name: str) -> bool:
        """Whether the Unity Catalog table exists."""
        return self.spark.catalog.tableExists(name)

    def table_version(self, name: str) -> int | None:
        """Return the table's current Delta version, from its history; None if it does not exist."""
        if not self.table_exists(name):
            return None
        latest = self.spark.sql(f"DESCRIBE HISTORY {_quoted(name)} LIMIT 1").collect()
        return int(latest[0]["version"])

    def read_table(self, name: str, version: int | None = None) -> DataFrame:
        """Read a Unity Catalog table; ``version`` reads an earlier one (Delta time travel)."""
        if not self.table_exists(name):
            raise TableNotFoundError(f"Table {name} does not exist yet in Unity Catalog.")
        if version is None:
            return self.spark.read.table(name)
        return self.spark.read.option("versionAsOf", version).table(name)

    def write_table(
        self, df: DataFrame, name: str, mode: WriteMode, *, overwrite_schema: bool = False
    ) -> None:
        """Write a managed Delta table in Unity Catalog; Delta enforces its schema.

        A table this write creates gets the project's mark (a table property); an overwrite of
        an existing table without it is refused before anything is written.

        Raises:
            ForeignTableError: an overwrite of a table the project did not create.

        """
        exists = self.table_exists(name)
        if exists and mode == "overwrite":
            _check_owned(name, self._created_here(name), local=False)
        writer = df.write.mode(mode)
        if overwrite_schema:
            writer = writer.option("overwriteSchema", "true")
        writer.saveAsTable(name)
        if not exists:
            self.spark.sql(
                f"ALTER TABLE {_quoted(name)} "
                f"SET TBLPROPERTIES ('{CREATED_BY_PROPERTY}' = '{PACKAGE}')"
            )

    def _created_here(self, name: str) -> bool:
        """Whether the table carries the mark the project sets on the tables it creates."""
        properties = self.spark.sql(f"SHOW TBLPROPERTIES {_quoted(name)}").collect()
        return any(row["key"] == CREATED_BY_PROPERTY for row in properties)

    def exclusive(self, command: str) -> AbstractContextManager[None]:
        """Nothing to hold: each job's ``max_concurrent_runs`` keeps its runs apart there."""
        return nullcontext()

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


def _quoted(name: str) -> str:
    """Quote each part of a three-part name for SQL (a catalog may be named ``dev-ml``)."""
    return ".".join(f"`{part.replace('`', '``')}`" for part in name.split("."))


def _check_owned(name: str, owned: bool, *, local: bool) -> None:
    """Refuse to overwrite ``name`` unless the project created it."""
    if owned:
        return
    if local:
        mark = f"the Delta table description {CREATED_BY!r}"
        fix = "delete the table's directory"
    else:
        mark = f"the table property {CREATED_BY_PROPERTY}"
        fix = (
            f"set that property (ALTER TABLE {name} "
            f"SET TBLPROPERTIES ('{CREATED_BY_PROPERTY}' = '{PACKAGE}'))"
        )
    raise ForeignTableError(
        f"Refusing to overwrite {name}: {PACKAGE} only overwrites tables it created, which it "
        f"marks with {mark}, and this table has no such mark. Point the settings at another "
        f"table; if the project did create this one, {fix}."
    )


def _spark_schema(table: DeltaTable) -> StructType:
    """Return the Spark schema of a Delta table (Delta keeps it in Spark's JSON form)."""
    return StructType.fromJson(json.loads(table.schema().to_json()))


def _comparable(data_type: DataType) -> Any:
    """``data_type`` without nullability, which Delta does not enforce on DataFrame writes."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: strip(item)
                for key, item in value.items()
                if key not in ("nullable", "containsNull", "valueContainsNull", "metadata")
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(data_type.jsonValue())


def _conformed(data: pa.Table, table: DeltaTable, name: str, mode: WriteMode) -> pa.Table:
    """Return ``data`` in the table's columns and order, as Delta writes it, or refuse it.

    Delta matches columns by name, ignoring case, and fills the table's columns that ``data``
    lacks with nulls; a column the table lacks, or of another type, changes the schema.

    Raises:
        TableSchemaError: ``data`` would change the table's schema.

    """
    import pyarrow as pa
    from deltalake import Schema

    schema = _spark_schema(table)
    given = StructType.fromJson(json.loads(Schema.from_arrow(data.schema).to_json()))
    columns = {field.name.lower(): field for field in given.fields}
    table_columns = {field.name.lower() for field in schema.fields}
    problems = [
        f"column {field.name} ({field.dataType.simpleString()}) is not in the table"
        for field in given.fields
        if field.name.lower() not in table_columns
    ]
    for field in schema.fields:
        column = columns.get(field.name.lower())
        if column is not None and _comparable(column.dataType) != _comparable(field.dataType):
            problems.append(
                f"column {field.name} is {column.dataType.simpleString()} "
                f"where the table has {field.dataType.simpleString()}"
            )
    if problems:
        action = f"append to {name}" if mode == "append" else f"overwrite {name}"
        remedy = (
            "an append cannot change a table's schema"
            if mode == "append"
            else "pass overwrite_schema=True to replace the schema (Delta's overwriteSchema)"
        )
        raise TableSchemaError(
            f"Cannot {action}: the data does not fit the table's schema "
            f"({'; '.join(problems)}); {remedy}."
        )
    arrow_schema = pa.schema(table.schema().to_arrow())
    return pa.table(
        [
            data.column(columns[field.name.lower()].name)
            if field.name.lower() in columns
            else pa.nulls(data.num_rows, arrow_schema.field(field.name).type)
            for field in schema.fields
        ],
        names=[field.name for field in schema.fields],
    )


def _to_arrow(df: DataFrame) -> pa.Table:
    """Collect ``df`` as one Arrow chunk, every column nullable (as Delta makes them).

    One chunk keeps the rows in order: delta-rs may write separate chunks in any order.
    """
    import pyarrow as pa

    data = df.toArrow()
    schema = pa.schema([field.with_nullable(True) for field in data.schema])
    return data.cast(schema).combine_chunks()


# The lock files this process holds, with their descriptors and how deeply each is entered: the
# local job runner runs many steps in one process, and each takes the lock again.
_HELD: dict[Path, tuple[int, int]] = {}
_HELD_GUARD = threading.Lock()


def _acquire(path: Path, command: str) -> None:
    """Lock ``path`` for this process, or raise ProjectBusyError naming the process that has it."""
    with _HELD_GUARD:
        if path in _HELD:
            descriptor, depth = _HELD[path]
            _HELD[path] = (descriptor, depth + 1)
            return
        if fcntl is None:  # pragma: no cover - Windows
            logger.warning("No file locks here: concurrent local runs are not kept apart.")
            _HELD[path] = (-1, 1)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(os.pread(descriptor, 4096, 0))
            os.close(descriptor)
            raise ProjectBusyError(
                f"Another run holds this project's local store: {holder}. "
                f"Wait for it to finish, or stop it; the lock ({path}) goes with that process."
            ) from None
        except BaseException:
            os.close(descriptor)
            raise
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        record = {"pid": os.getpid(), "command": command, "since": since}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)
        _HELD[path] = (descriptor, 1)


def _release(path: Path) -> None:
    """Leave one level of ``path``'s lock; the last one unlocks it."""
    with _HELD_GUARD:
        descriptor, depth = _HELD[path]
        if depth > 1:
            _HELD[path] = (descriptor, depth - 1)
            return
        del _HELD[path]
        if descriptor >= 0:
            os.ftruncate(descriptor, 0)
            os.close(descriptor)  # closing releases the lock


def _holder(record: bytes) -> str:
    """Describe the lock's holder from what it wrote into the lock file."""
    try:
        holder = json.loads(record)
        return f"pid {holder['pid']} ({holder['command']}), since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


def local_spark_session() -> SparkSession:
    """Start Spark in ``local[*]`` with settings that suit a laptop and an offline machine."""
    # Workers must use this interpreter, or model UDFs cannot import pandas and mlflow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[*]")
        .appName(__package__ or "pipeline")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}")
        # Spark's progress bar for long stages (scoring a large table): only in a terminal, as it
        # redraws its line with carriage returns.
        .config("spark.ui.showConsoleProgress", str(sys.stderr.isatty()).lower())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        # pandas to and from Spark through Arrow, as on Databricks (Spark Connect, which serverless
        # runs, always converts through Arrow): column types survive the trip (int32 stays int).
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Batch scoring hands the model 100,000 rows per call instead of 10,000: on 1,000,000
        # rows the Spark UDF path took 13-14 s instead of 43-46 s (bare predict: 6-10 s).
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        .getOrCreate()
    )
    # The JVM's own warnings follow the "pyspark" logger: quiet unless the command is verbose.
    quiet = logging.getLogger("pyspark").getEffectiveLevel() > logging.WARNING
    session.sparkContext.setLogLevel("ERROR" if quiet else "WARN")
    return session


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
        if settings.is_per_user:
            settings = settings.for_user(getpass.getuser())
        return LocalPlatform(settings, spark)
    if spark is None and not on_databricks() and not has_databricks_connect():
        raise NotOnDatabricksError(
            f"--env {settings.env} runs on Databricks, and this is neither Databricks compute nor "
            "a machine with Databricks Connect. Run the job in the workspace "
            f"(databricks bundle run --target {settings.env} <job>), install databricks-connect "
            "to run steps from here against it, or use --env local."
        )
    platform = DatabricksPlatform(settings, spark)
    if settings.is_per_user:
        platform.settings = settings.for_user(platform.current_user())
        platform.create_schema()
    return platform
