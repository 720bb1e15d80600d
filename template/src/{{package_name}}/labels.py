"""Simulated concept drift: labels that stop agreeing with what the model learned.

Shifting the generator's inputs (``--shift``) shows feature drift. A model can also go stale while
its inputs look as usual, when what drives the outcome changes; only model quality, measured once
the labels arrive, can see that. Flipping a share of the labels table simulates it, on generated
labels or real ones alike.
"""

from __future__ import annotations

import logging

from pyspark.sql import functions as F

from .batches import BATCH_COLUMN
from .data import LABEL_COLUMN
from .platform import Platform

logger = logging.getLogger(__name__)


def flip_labels(
    platform: Platform, fraction: float, seed: int, *, batch_id: str | None = None
) -> str:
    """Flip about ``fraction`` of the binary labels (of one batch, if given); return the table.

    The same seed flips the same rows of the same table, so a run can be repeated. Only the
    project's own labels table is ever rewritten: real labels are read, never changed.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"The fraction of labels to flip must be in [0, 1], got {fraction}.")
    table = platform.settings.table(platform.settings.tables.labels)
    labels = platform.read_table(table)
    chosen = F.rand(seed) < fraction
    if batch_id is not None:
        chosen = chosen & (F.col(BATCH_COLUMN) == batch_id)
    flipped = labels.withColumn(
        LABEL_COLUMN, F.when(chosen, 1 - F.col(LABEL_COLUMN)).otherwise(F.col(LABEL_COLUMN))
    )
    platform.write_table(flipped, table, mode="overwrite")
    logger.info("Flipped about %.0f %% of the labels in %s", 100 * fraction, table)
    return table
