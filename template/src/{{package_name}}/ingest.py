"""Ingest step: write the generated training data, scoring batch and its labels to their tables.

This is the seam where a real project connects its own sources. Until then, the bundled generator
fills the tables so that every later step runs on realistic data, locally and in dev or test
workspaces. The labels of the scoring batch stand in for ground truth that, in production, arrives
weeks after the predictions; monitoring joins them to the predictions by customer id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .data import ID_COLUMN, LABEL_COLUMN, generate_customers
from .labels import flip_labels
from .platform import Platform

logger = logging.getLogger(__name__)

# Scoring customers get ids after every plausible training id, so the two never overlap.
SCORING_FIRST_ID = 10_000_000


@dataclass(frozen=True)
class IngestResult:
    """Which tables were written, and with how many rows."""

    training_table: str
    training_rows: int
    scoring_table: str
    scoring_rows: int


def ingest(
    platform: Platform, *, shift: float | None = None, batch_seed: int | None = None
) -> IngestResult:
    """Replace the training table, the scoring batch and its labels with freshly generated rows.

    Args:
        platform: where to write.
        shift: distribution shift of the scoring batch (0 = like the training data); defaults to
            the settings' ``scoring_shift``. The settings' ``flipped_label_fraction`` of its labels
            are then flipped.
        batch_seed: seed of the scoring batch; defaults to one derived from the settings' seed.

    """
    settings = platform.settings
    spark = platform.spark
    shift = settings.data.scoring_shift if shift is None else shift
    training = generate_customers(settings.data.training_rows, settings.data.seed)
    seed = settings.data.seed + 1 if batch_seed is None else batch_seed
    batch = generate_customers(
        settings.data.scoring_rows, seed, shift=shift, first_id=SCORING_FIRST_ID
    )
    scoring, labels = batch.drop(columns=[LABEL_COLUMN]), batch[[ID_COLUMN, LABEL_COLUMN]]
    training_table = settings.table(settings.tables.training_data)
    scoring_table = settings.table(settings.tables.scoring_input)
    labels_table = settings.table(settings.tables.labels)
    platform.write_table(spark.createDataFrame(training), training_table, mode="overwrite")
    platform.write_table(spark.createDataFrame(scoring), scoring_table, mode="overwrite")
    platform.write_table(spark.createDataFrame(labels), labels_table, mode="overwrite")
    if settings.data.flipped_label_fraction:
        flip_labels(platform, settings.data.flipped_label_fraction, seed=settings.data.seed)
    logger.info(
        "Wrote %d rows to %s, %d to %s and their labels to %s",
        len(training),
        training_table,
        len(scoring),
        scoring_table,
        labels_table,
    )
    return IngestResult(training_table, len(training), scoring_table, len(scoring))
