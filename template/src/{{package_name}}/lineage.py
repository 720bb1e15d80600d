"""Lineage: what every model version was made from, recorded on the version itself.

Each version is tagged with the git commit of the code that trained it and the data it learned
from (the feature table, its Delta version and the number of training rows, and the raw source
table behind it), and its training run logs that data as an MLflow dataset input, which Unity
Catalog shows as the model's lineage. Monitoring reads the record back to compare recent
predictions with the very rows the monitored version was trained on.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.delta_dataset_source import DeltaDatasetSource

from .data import LABEL_COLUMN
from .registry import set_version_tags

GIT_COMMIT_TAG = "git_commit"
TRAINING_TABLE_TAG = "training_data_table"
TRAINING_VERSION_TAG = "training_data_version"
TRAINING_ROWS_TAG = "training_rows"
SOURCE_TABLE_TAG = "source_data_table"
SOURCE_VERSION_TAG = "source_data_version"
UNKNOWN = "unknown"


class MissingLineageError(LookupError):
    """A model version has no record of the data it was trained on."""


@dataclass(frozen=True)
class TrainingData:
    """The table (and its Delta version) a model learned from, and how many rows of it."""

    table: str
    version: int | None
    rows: int


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: the code, the training data and the raw data behind it."""

    git_commit: str
    training_data: TrainingData
    source_table: str
    source_version: int | None

    def tags(self) -> dict[str, object]:
        """Return the version tags that record this lineage."""
        return {
            GIT_COMMIT_TAG: self.git_commit,
            TRAINING_TABLE_TAG: self.training_data.table,
            TRAINING_VERSION_TAG: _text(self.training_data.version),
            TRAINING_ROWS_TAG: self.training_data.rows,
            SOURCE_TABLE_TAG: self.source_table,
            SOURCE_VERSION_TAG: _text(self.source_version),
        }


def _text(version: int | None) -> str:
    return UNKNOWN if version is None else str(version)


def current_git_commit(given: str | None = None, directory: Path | None = None) -> str:
    """Return ``given`` (the jobs pass the bundle's commit), else this checkout's HEAD."""
    if given:
        return given
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return found.stdout.strip() or UNKNOWN


def log_training_input(frame: pd.DataFrame, training_data: TrainingData) -> None:
    """Log the training rows as the active run's dataset input, sourced from their Delta table."""
    source = DeltaDatasetSource(
        delta_table_name=training_data.table, delta_table_version=training_data.version
    )
    dataset = mlflow.data.from_pandas(
        frame, source=source, targets=LABEL_COLUMN, name=training_data.table
    )
    mlflow.log_input(dataset, context="training")


def record_lineage(client: MlflowClient, model_name: str, version: str, lineage: Lineage) -> None:
    """Tag a registered version with its lineage."""
    set_version_tags(client, model_name, version, lineage.tags())


def read_lineage(client: MlflowClient, model_name: str, version: str) -> TrainingData:
    """Return the training data recorded on a version.

    Raises:
        MissingLineageError: the version was registered without a record (by an older release
            of this project, or by hand); retrain it to monitor it.

    """
    tags = client.get_model_version(model_name, version).tags
    if TRAINING_TABLE_TAG not in tags:
        raise MissingLineageError(
            f"{model_name} version {version} has no {TRAINING_TABLE_TAG!r} tag, so the data it "
            "learned from is unknown; train a new version to monitor against its own data."
        )
    recorded = tags.get(TRAINING_VERSION_TAG, UNKNOWN)
    return TrainingData(
        table=tags[TRAINING_TABLE_TAG],
        version=None if recorded == UNKNOWN else int(recorded),
        rows=int(tags.get(TRAINING_ROWS_TAG, 0)),
    )
