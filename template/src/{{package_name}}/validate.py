"""Validate step: gate a new model version before it may compete for ``champion``.

A version passes when it carries its description and required tags, its holdout metrics reach the
absolute thresholds, its metric on every configured slice of the holdout set (e.g. each contract
type) reaches the slice floor, and, if a champion exists, it is not worse than the champion by
more than the allowed drop. The version is tagged ``PENDING`` while it is evaluated, then
``PASSED`` or ``FAILED``, and the result is written into its model card. A pass moves
``challenger`` to the version. A failure removes ``challenger`` wherever it points, so that no
later deploy can promote an older candidate that this one was meant to replace, and never
touches ``champion``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from .evaluate import SliceScore, evaluate_version, slice_scores
from .feature_source import labelled_features, training_table
from .features import split_train_holdout
from .model_card import markdown_table, record_validation
from .platform import Platform
from .registry import (
    CHALLENGER,
    CHAMPION,
    FAILED,
    PASSED,
    PENDING,
    VALIDATION_STATUS_TAG,
    remove_alias,
    set_version_tags,
    version_for_alias,
)
from .settings import SliceGate, ValidationThresholds

logger = logging.getLogger(__name__)


class ValidationFailedError(RuntimeError):
    """The model version did not pass validation; no alias was changed."""


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one version, with the evidence."""

    model_name: str
    version: str
    metrics: dict[str, float]
    champion_version: str | None = None
    champion_metrics: dict[str, float] | None = None
    failures: list[str] = field(default_factory=list)
    slices: tuple[SliceScore, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return not self.failures


def check_thresholds(
    metrics: dict[str, float],
    thresholds: ValidationThresholds,
    champion_metrics: dict[str, float] | None = None,
) -> list[str]:
    """Return a readable reason for each gate the metrics miss; empty means the version passes."""
    failures = []
    if metrics["roc_auc"] < thresholds.min_roc_auc:
        failures.append(f"roc_auc {metrics['roc_auc']:.4f} < minimum {thresholds.min_roc_auc}")
    if metrics["accuracy_score"] < thresholds.min_accuracy:
        failures.append(
            f"accuracy {metrics['accuracy_score']:.4f} < minimum {thresholds.min_accuracy}"
        )
    if champion_metrics is not None:
        floor = champion_metrics["roc_auc"] - thresholds.max_roc_auc_drop_vs_champion
        if metrics["roc_auc"] < floor:
            failures.append(
                f"roc_auc {metrics['roc_auc']:.4f} is more than "
                f"{thresholds.max_roc_auc_drop_vs_champion} below the champion's "
                f"{champion_metrics['roc_auc']:.4f}"
            )
    return failures


def check_metadata(version: ModelVersion, required_tags: tuple[str, ...]) -> list[str]:
    """Return what the version lacks of its description and required tags; empty if nothing."""
    failures = []
    if not (version.description or "").strip():
        failures.append("no description")
    missing = [tag for tag in required_tags if not str(version.tags.get(tag, "")).strip()]
    if missing:
        failures.append(f"missing required tags: {', '.join(missing)}")
    return failures


def check_slices(slices: list[SliceScore], gate: SliceGate) -> list[str]:
    """Return a reason for each slice, large enough to judge, that scores below the floor."""
    return [
        f"slice {s.name}: {gate.metric} {s.score:.4f} < minimum {gate.min_score} ({s.rows} rows)"
        for s in slices
        if s.rows >= gate.min_rows and s.score < gate.min_score
    ]


def card_section(report: ValidationReport, gate: SliceGate) -> str:
    """Write the model card's validation section: the verdict, the scores and every slice."""
    verdict = "PASSED" if report.passed else "FAILED: " + "; ".join(report.failures)
    scores = ", ".join(f"{key} {value:.4f}" for key, value in report.metrics.items())
    lines = [f"**{verdict}**", "", f"- On the holdout set: {scores}."]
    if report.champion_version is not None and report.champion_metrics is not None:
        champion = report.champion_metrics.get("roc_auc", float("nan"))
        lines.append(f"- Champion version {report.champion_version}: roc_auc {champion:.4f}.")
    if report.slices:
        table = pd.DataFrame(
            [(s.name, s.rows, s.score) for s in report.slices],
            columns=["Slice", "Rows", gate.metric],
        )
        floor = f"minimum {gate.min_score} on slices of at least {gate.min_rows} rows"
        lines += ["", f"Slices ({floor}):", "", markdown_table(table)]
    return "\n".join(lines)


def load_holdout(platform: Platform) -> pd.DataFrame:
    """Load the holdout part of the labelled features as pandas: the same rows for every version."""
    settings = platform.settings
    labelled = labelled_features(platform, training_table(settings), version=None)
    _, holdout = split_train_holdout(labelled, settings.data.holdout_fraction)
    return holdout.toPandas()


def validate(platform: Platform, version: str) -> ValidationReport:
    """Evaluate ``version`` against the thresholds (and the champion); tag it and move aliases.

    Raises:
        ValidationFailedError: the version failed; it is tagged FAILED and has no challenger.

    """
    settings = platform.settings
    platform.configure_mlflow()
    client = MlflowClient()
    name = settings.registered_model_name
    client.get_model_version(name, version)  # fail early, and clearly, on an unknown version
    set_version_tags(client, name, version, {VALIDATION_STATUS_TAG: PENDING})
    try:
        report = evaluate_against_gates(platform, client, version)
    except Exception:
        # A version whose evaluation broke is not validated either.
        reject(client, name, version)
        raise
    set_version_tags(
        client,
        name,
        version,
        {
            "validation_roc_auc": round(report.metrics["roc_auc"], 6),
            "validation_accuracy": round(report.metrics["accuracy_score"], 6),
        },
    )
    if not report.passed:
        reject(client, name, version)
        raise ValidationFailedError(
            f"{name} version {version} failed validation: " + "; ".join(report.failures)
        )
    set_version_tags(client, name, version, {VALIDATION_STATUS_TAG: PASSED})
    client.set_registered_model_alias(name, CHALLENGER, version)
    logger.info("%s version %s passed validation and is now %s", name, version, CHALLENGER)
    return report


def evaluate_against_gates(
    platform: Platform, client: MlflowClient, version: str
) -> ValidationReport:
    """Score ``version`` (and the champion) on the holdout rows and apply the thresholds."""
    settings = platform.settings
    name = settings.registered_model_name
    holdout = load_holdout(platform)
    champion = version_for_alias(client, name, CHAMPION)
    gate = settings.validation.slices
    with mlflow.start_run(run_name=f"validate-v{version}"):
        failures = check_metadata(
            client.get_model_version(name, version), settings.validation.required_tags
        )
        metrics = evaluate_version(name, version, holdout)
        champion_metrics = None
        if champion is not None and champion != version:
            champion_metrics = evaluate_version(name, champion, holdout)
        failures += check_thresholds(metrics, settings.validation, champion_metrics)
        slices = slice_scores(name, version, holdout, gate.columns, gate.metric)
        failures += check_slices(slices, gate)
        if slices:
            mlflow.log_table(pd.DataFrame([vars(s) for s in slices]), artifact_file="slices.json")
        mlflow.log_metrics({f"candidate_{key}": value for key, value in metrics.items()})
        if champion_metrics is not None:
            mlflow.log_metrics({f"champion_{key}": val for key, val in champion_metrics.items()})
            mlflow.set_tag("champion_version", champion)
        mlflow.set_tags(
            {"model_version": version, VALIDATION_STATUS_TAG: FAILED if failures else PASSED}
        )
    report = ValidationReport(
        name, version, metrics, champion, champion_metrics, failures, tuple(slices)
    )
    record_validation(client, name, version, card_section(report, gate))
    return report


def reject(client: MlflowClient, name: str, version: str) -> None:
    """Tag ``version`` FAILED and take ``challenger`` away; ``champion`` stays where it is."""
    set_version_tags(client, name, version, {VALIDATION_STATUS_TAG: FAILED})
    remove_alias(client, name, CHALLENGER)
