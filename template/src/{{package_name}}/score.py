"""Score step: batch inference with the champion, appended to the inference table.

Every prediction row carries the batch it belongs to, the model version that made it and when,
and rows are only ever appended: the inference table is the history that monitoring compares with
the training data. Only batches without predictions are scored, so a rerun appends nothing twice.
The input is checked first, so a batch with a missing or mistyped column is rejected before
anything is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow import MlflowClient
from pyspark.sql import functions as F

from .batches import BATCH_COLUMN, batch_ids, unscored
from .data import ID_COLUMN
from .feature_source import PREDICTION_COLUMN, check_scoring_input, score_batch
from .features import FEATURE_COLUMNS
from .platform import Platform
from .progress import StepProgress
from .registry import CHAMPION, version_for_alias, version_uri

logger = logging.getLogger(__name__)

MODEL_VERSION_COLUMN = "model_version"
SCORED_AT_COLUMN = "scored_at"


class NoChampionError(LookupError):
    """No version has been promoted to champion yet, so there is nothing to score or serve with."""


def champion_version(client: MlflowClient, name: str) -> str:
    """Return the version ``@champion`` points at now.

    Raises:
        NoChampionError: nothing has been promoted yet.

    """
    version = version_for_alias(client, name, CHAMPION)
    if version is None:
        raise NoChampionError(f"{name} has no {CHAMPION!r} alias: run validate and deploy first.")
    return version


@dataclass(frozen=True)
class ScoringResult:
    """What one scoring run appended."""

    table: str
    rows: int
    model_version: str | None  # None when there was nothing new to score
    batches: tuple[str, ...] = ()


def score(platform: Platform) -> ScoringResult:
    """Score the batches not scored yet with the champion; append them to the predictions table.

    ``@champion`` is resolved to a version number once, and that version is loaded, so the version
    recorded with each prediction is the one that made it even if the alias moves meanwhile.
    """
    settings = platform.settings
    platform.configure_mlflow()
    name = settings.registered_model_name
    table = settings.table(settings.tables.predictions)
    progress = StepProgress("score", parts=2)
    with progress.part(f"finding the batches that have no predictions in {table}"):
        batch = platform.read_table(settings.source_table("scoring_input"))
        check_scoring_input(batch)
        pending = unscored(platform, batch, table).cache()
        new_batches = tuple(batch_ids(pending))
        rows = pending.count() if new_batches else 0
    if not new_batches:
        logger.info("Every batch already has predictions in %s: nothing to score", table)
        return ScoringResult(table=table, rows=0, model_version=None)

    version = champion_version(MlflowClient(), name)
    with progress.part(f"scoring {rows:,} new rows with version {version}"):
        scored = score_batch(platform, pending, version_uri(name, version))
        predictions = scored.select(
            BATCH_COLUMN,
            ID_COLUMN,
            *FEATURE_COLUMNS,
            F.col(PREDICTION_COLUMN).cast("int").alias(PREDICTION_COLUMN),
            F.lit(version).alias(MODEL_VERSION_COLUMN),
            F.current_timestamp().alias(SCORED_AT_COLUMN),
        )
        platform.write_table(predictions, table, mode="append")
    logger.info(
        "Appended %d predictions of %s version %s for batches %s to %s",
        rows,
        name,
        version,
        ", ".join(new_batches),
        table,
    )
    return ScoringResult(table=table, rows=rows, model_version=version, batches=new_batches)
