"""Simulated concept drift: labels that stop agreeing with what the model learned.

Shifting the generator's inputs (``--shift``) shows feature drift. A model can also go stale while
its inputs look as usual, when what drives the outcome changes; only model quality, measured once
the labels arrive, can see that. Flipping a share of the labels table simulates it, on generated
labels or real ones alike.
"""

from __future__ import annotations

import logging

from pyspark.sql import functions as F

from .data import LABEL_COLUMN
from .platform import Platform

logger = logging.getLogger(__name__)


def flip_labels(platform: Platform, fraction: float, seed: int) -> str:
    """Flip about ``fraction`` of the binary labels in the labels table; return its name.

    The same seed flips the same rows of the same table, so a run can be repeated.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"The fraction of labels to flip must be in [0, 1], got {fraction}.")
    table = platform.settings.table(platform.settings.tables.labels)
    labels = platform.read_table(table)
    flipped = labels.withColumn(
        LABEL_COLUMN,
        F.when(F.rand(seed) < fraction, 1 - F.col(LABEL_COLUMN)).otherwise(F.col(LABEL_COLUMN)),
    )
    platform.write_table(flipped, table, mode="overwrite")
    logger.info("Flipped about %.0f %% of the labels in %s", 100 * fraction, table)
    return table
