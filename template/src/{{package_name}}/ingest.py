"""Ingest steps: the seam where a project's sources come in.

``settings.toml`` says per environment where raw data comes from (``[<env>.sources]``):

- ``generator`` (local, dev and test): the bundled generator stands in for real sources. ``ingest``
  (training job) writes the labelled history; ``ingest-batch`` (batch inference job) appends the
  next batch of customers to score, with the labels that will, in production, arrive weeks later.
  Both write only the project's own tables.
- ``tables`` (always in staging and prod): the steps read your tables where they are. ``ingest``
  and ``ingest-batch`` check that they are named, exist and have the expected columns, and write
  nothing; a missing name stops the run with a message naming the setting.

Replace the generator branch with your own loading code if you copy data in rather than read it
in place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .batches import BATCH_COLUMN, batch_ids, next_generated_batch
from .data import ID_COLUMN, LABEL_COLUMN, generate_customers
from .features import check_input_columns
from .labels import flip_labels
from .platform import Platform

logger = logging.getLogger(__name__)

# Scoring customers get ids after every plausible training id, so the two never overlap.
SCORING_FIRST_ID = 10_000_000
# Ids of one generated batch: batch n takes the block starting at SCORING_FIRST_ID + n * this.
BATCH_ID_BLOCK = 1_000_000


@dataclass(frozen=True)
class IngestResult:
    """Which table holds the data a step will read, and how many rows it has."""

    table: str
    rows: int
    written: bool  # False when the table is a source the project only reads
    batch_id: str | None = None


def ingest(platform: Platform) -> IngestResult:
    """Training job: make the labelled history available (generate it, or check the source)."""
    settings = platform.settings
    table = settings.source_table("training_data")
    if not settings.generates_data:
        return _check_source(platform, table, (LABEL_COLUMN,), with_inputs=True)
    history = generate_customers(settings.data.training_rows, settings.data.seed)
    platform.write_table(platform.spark.createDataFrame(history), table, mode="overwrite")
    logger.info("Wrote %d generated rows to %s", len(history), table)
    return IngestResult(table, len(history), written=True)


def ingest_batch(
    platform: Platform, *, shift: float | None = None, seed: int | None = None
) -> IngestResult:
    """Batch inference job: make the next batch to score available, with its future labels.

    Args:
        platform: where to write.
        shift: distribution shift of a generated batch (0 = like the training data); defaults to
            the settings' ``scoring_shift``. The settings' ``flipped_label_fraction`` of its labels
            are then flipped.
        seed: seed of a generated batch; defaults to one derived from the settings' seed and the
            batch's number, so every batch differs and a rerun from scratch repeats them.

    """
    settings = platform.settings
    scoring_table = settings.source_table("scoring_input")
    labels_table = settings.source_table("labels")
    if not settings.generates_data:
        _check_source(platform, labels_table, (BATCH_COLUMN, ID_COLUMN, LABEL_COLUMN))
        return _check_source(platform, scoring_table, (BATCH_COLUMN,), with_inputs=True)
    batch_id, number = next_generated_batch(platform, scoring_table)
    customers = generate_customers(
        settings.data.scoring_rows,
        settings.data.seed + number if seed is None else seed,
        shift=settings.data.scoring_shift if shift is None else shift,
        first_id=SCORING_FIRST_ID + number * BATCH_ID_BLOCK,
    ).assign(**{BATCH_COLUMN: batch_id})
    spark = platform.spark
    scoring = spark.createDataFrame(customers.drop(columns=[LABEL_COLUMN]))
    labels = spark.createDataFrame(customers[[BATCH_COLUMN, ID_COLUMN, LABEL_COLUMN]])
    platform.write_table(scoring, scoring_table, mode="append")
    platform.write_table(labels, labels_table, mode="append")
    if settings.data.flipped_label_fraction:
        flip_labels(platform, settings.data.flipped_label_fraction, seed=number, batch_id=batch_id)
    logger.info("Appended batch %s: %d rows to %s", batch_id, len(customers), scoring_table)
    return IngestResult(scoring_table, len(customers), written=True, batch_id=batch_id)


def _check_source(
    platform: Platform, table: str, required: tuple[str, ...], *, with_inputs: bool = False
) -> IngestResult:
    """Check that a source table exists with the columns the steps read; write nothing."""
    data = platform.read_table(table)  # a missing table raises, naming it
    missing = [column for column in required if column not in data.columns]
    if missing:
        raise LookupError(f"Source table {table} lacks the column(s) {', '.join(missing)}.")
    if with_inputs:
        check_input_columns(data)
    batches = len(batch_ids(data)) if BATCH_COLUMN in data.columns else None
    logger.info("Reading %s in place (%s batches)", table, batches if batches is not None else "no")
    return IngestResult(table, data.count(), written=False)
