"""Deploy step: promote ``challenger`` to ``champion`` only when it is at least as good.

Both versions are scored on the same holdout rows with the configured metric. The decision and
both scores are recorded as tags on the challenger version. Running the step again changes
nothing: a challenger that already is the champion, or that already lost to the current champion,
is left alone.

Deploy records the champion it replaces on the version it promotes (``previous_champion_version``),
which is where ``rollback`` finds the version to return to. A version that was rolled back is
never promoted again: a rollback is a decision a person made, and the next scheduled retraining
must not silently undo it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

from .evaluate import evaluate_version
from .platform import Platform
from .registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION_TAG,
    ROLLBACK_REASON_TAG,
    ROLLED_BACK_TAG,
    TRUE,
    set_version_tags,
    version_for_alias,
)
from .settings import PromotionPolicy
from .validate import load_holdout

logger = logging.getLogger(__name__)

DECISION_TAG = "deployment_decision"
COMPARED_WITH_TAG = "deployment_compared_with"
PROMOTED = "PROMOTED"
REJECTED = "REJECTED"
NO_CHAMPION = "none"


class NoChallengerError(LookupError):
    """There is no validated version to deploy."""


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger became champion, and the evidence."""

    model_name: str
    challenger_version: str
    champion_version: str | None
    challenger_score: float | None
    champion_score: float | None
    promoted: bool
    reason: str
    changed: bool = True


def decide(
    challenger_score: float, champion_score: float | None, policy: PromotionPolicy
) -> tuple[bool, str]:
    """Apply the promotion policy to two scores; return (promote, reason)."""
    if champion_score is None:
        return True, "no champion yet"
    required = champion_score + policy.min_improvement
    if challenger_score >= required:
        return True, f"{policy.metric} {challenger_score:.4f} >= {required:.4f} required"
    return False, f"{policy.metric} {challenger_score:.4f} < {required:.4f} required"


def rollback_refusal(tags: Mapping[str, str]) -> str | None:
    """Return why a version's tags keep it from becoming champion again; None if nothing does.

    A version that ``rollback`` took ``champion`` away from stays out until a new version
    replaces it: promoting it again would silently undo the rollback.
    """
    if tags.get(ROLLED_BACK_TAG, "").strip().lower() != TRUE:
        return None
    reason = tags.get(ROLLBACK_REASON_TAG) or "no reason recorded"
    return f"rolled back from champion earlier: {reason}"


def deploy(platform: Platform) -> PromotionDecision:
    """Compare challenger with champion and move ``champion`` if the policy says so."""
    settings = platform.settings
    platform.configure_mlflow()
    client = MlflowClient()
    name = settings.registered_model_name
    challenger = version_for_alias(client, name, CHALLENGER)
    if challenger is None:
        raise NoChallengerError(f"{name} has no {CHALLENGER!r} alias: run the validate step first.")
    champion = version_for_alias(client, name, CHAMPION)

    if challenger == champion:
        return PromotionDecision(
            name, challenger, champion, None, None, True, "already champion", changed=False
        )
    compared_with = champion or NO_CHAMPION
    tags = client.get_model_version(name, challenger).tags
    if tags.get(DECISION_TAG) == REJECTED and tags.get(COMPARED_WITH_TAG) == compared_with:
        return PromotionDecision(
            name, challenger, champion, None, None, False, "already rejected", changed=False
        )
    refusal = rollback_refusal(tags)
    if refusal is not None:
        return _refuse(client, name, challenger, champion, refusal)

    metric = settings.promotion.metric
    holdout = load_holdout(platform)
    with mlflow.start_run(run_name=f"deploy-v{challenger}"):
        challenger_score = evaluate_version(name, challenger, holdout)[metric]
        champion_score = None
        if champion is not None:
            champion_score = evaluate_version(name, champion, holdout)[metric]
        promoted, reason = decide(challenger_score, champion_score, settings.promotion)
        evidence: dict[str, object] = {
            DECISION_TAG: PROMOTED if promoted else REJECTED,
            COMPARED_WITH_TAG: compared_with,
            "deployment_reason": reason,
            f"deployment_challenger_{metric}": round(challenger_score, 6),
        }
        if champion_score is not None:
            evidence[f"deployment_champion_{metric}"] = round(champion_score, 6)
        if promoted and champion is not None:
            evidence[PREVIOUS_CHAMPION_TAG] = champion  # where a rollback returns to
        mlflow.set_tags(evidence)

    set_version_tags(client, name, challenger, evidence)
    if promoted and champion is None and PREVIOUS_CHAMPION_TAG in tags:
        # Champion before, then the alias was removed: nothing to return to now.
        client.delete_model_version_tag(name, challenger, PREVIOUS_CHAMPION_TAG)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, challenger)
    logger.info(
        "%s version %s %s: %s", name, challenger, "promoted" if promoted else "kept out", reason
    )
    return PromotionDecision(
        name, challenger, champion, challenger_score, champion_score, promoted, reason
    )


def _refuse(
    client: MlflowClient, name: str, challenger: str, champion: str | None, reason: str
) -> PromotionDecision:
    """Record a rejection that needs no scores (a rolled-back challenger); move nothing."""
    evidence: dict[str, object] = {
        DECISION_TAG: REJECTED,
        COMPARED_WITH_TAG: champion or NO_CHAMPION,
        "deployment_reason": reason,
    }
    with mlflow.start_run(run_name=f"deploy-v{challenger}"):
        mlflow.set_tags(evidence)
    set_version_tags(client, name, challenger, evidence)
    logger.info("%s version %s kept out: %s", name, challenger, reason)
    return PromotionDecision(name, challenger, champion, None, None, False, reason)
