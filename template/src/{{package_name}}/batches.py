"""Batch identity: every row to score arrives in a batch, and every prediction names its batch.

A batch is scored once: batch inference scores only the batches that have no predictions yet, so
running it twice on the same input appends nothing the second time. Labels carry the batch too,
so that monitoring attaches each outcome to the prediction it judges, even for a customer scored
in several batches.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .platform import Platform

BATCH_COLUMN = "batch_id"
GENERATED_BATCH_PREFIX = "generated-"


def batch_ids(df: DataFrame) -> list[str]:
    """Return the distinct batch ids of ``df``, sorted."""
    return sorted(row[0] for row in df.select(BATCH_COLUMN).distinct().collect())


def unscored(platform: Platform, batch: DataFrame, predictions_table: str) -> DataFrame:
    """Return the rows of ``batch`` whose batch has no predictions in ``predictions_table`` yet."""
    if not platform.table_exists(predictions_table):
        return batch
    scored = platform.read_table(predictions_table).select(BATCH_COLUMN).distinct()
    return batch.join(F.broadcast(scored), on=BATCH_COLUMN, how="left_anti")


def next_generated_batch(platform: Platform, scoring_table: str) -> tuple[str, int]:
    """Return the id and number of the next generated batch (1 for an empty table)."""
    number = 1
    if platform.table_exists(scoring_table):
        number += len(batch_ids(platform.read_table(scoring_table)))
    return f"{GENERATED_BATCH_PREFIX}{number:04d}", number
