"""Rollback: put ``champion`` back on the version it replaced, and say why.

``deploy`` tags each version it promotes with the champion it replaced
(``previous_champion_version``). Rollback reads that tag on the current champion C, moves
``champion`` back to that version P, and records the decision on both versions: C gets
``rolled_back=true``, ``rollback_reason`` and ``rolled_back_to``, P gets ``restored_from``. If
``challenger`` points at C, it is removed, and ``deploy`` refuses a challenger tagged
``rolled_back`` anyway, so the next training run cannot silently undo the rollback; a newly
trained version that passes validation is promoted by the usual rules.

Each rollback steps back one champion: P's own ``previous_champion_version``, if it has one, is
where a second rollback would go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from .platform import Platform
from .registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION_TAG,
    RESTORED_FROM_TAG,
    ROLLBACK_REASON_TAG,
    ROLLED_BACK_TAG,
    ROLLED_BACK_TO_TAG,
    TRUE,
    remove_alias,
    set_version_tags,
    version_for_alias,
)

logger = logging.getLogger(__name__)


class NothingToRollBackError(LookupError):
    """There is no champion, or no previous champion recorded for it; nothing was changed."""


class MissingReasonError(ValueError):
    """A rollback needs a reason; nothing was changed."""


@dataclass(frozen=True)
class Rollback:
    """What a rollback did: ``champion`` moved from ``rolled_back`` to ``restored``."""

    model_name: str
    rolled_back: str
    restored: str
    reason: str
    removed_challenger: bool


def rollback(platform: Platform, reason: str) -> Rollback:
    """Move ``champion`` back to the version the current champion replaced.

    Raises:
        MissingReasonError: ``reason`` is empty or blank.
        NothingToRollBackError: no champion, no previous champion recorded on it, or that
            version no longer exists. In every error case no alias or tag was changed.

    """
    reason = reason.strip()
    if not reason:
        raise MissingReasonError(
            "A rollback needs a reason: say why the champion is taken back "
            "(--reason, or the job parameter 'reason')."
        )
    platform.configure_mlflow()
    client = MlflowClient()
    name = platform.settings.registered_model_name
    current = version_for_alias(client, name, CHAMPION)
    if current is None:
        raise NothingToRollBackError(f"{name} has no {CHAMPION!r} alias: nothing to roll back.")
    previous = client.get_model_version(name, current).tags.get(PREVIOUS_CHAMPION_TAG)
    if not previous:
        raise NothingToRollBackError(
            f"{name} version {current} is {CHAMPION} but records no previous champion "
            f"(tag {PREVIOUS_CHAMPION_TAG!r}): nothing to roll back to."
        )
    try:
        client.get_model_version(name, previous)
    except MlflowException as error:
        raise NothingToRollBackError(
            f"{name} version {current} replaced version {previous}, which no longer exists."
        ) from error

    # Tag first: should a later call fail, the rolled-back version already cannot be promoted
    # again, and running the rollback again finishes it.
    set_version_tags(
        client,
        name,
        current,
        {ROLLED_BACK_TAG: TRUE, ROLLBACK_REASON_TAG: reason, ROLLED_BACK_TO_TAG: previous},
    )
    removed_challenger = False
    if version_for_alias(client, name, CHALLENGER) == current:
        removed_challenger = remove_alias(client, name, CHALLENGER) is not None
    client.set_registered_model_alias(name, CHAMPION, previous)
    set_version_tags(client, name, previous, {RESTORED_FROM_TAG: current})
    logger.info("%s: %s moved from version %s back to %s", name, CHAMPION, current, previous)
    return Rollback(name, current, previous, reason, removed_challenger)
