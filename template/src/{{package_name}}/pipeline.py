"""The whole lifecycle in one call, in the order the Databricks jobs run it.

Training job: ingest -> features -> train -> validate -> deploy. Inference job: score. Monitoring
job: monitor (and, when it calls for it, the training job again). ``run-pipeline --env local``
runs all three, with the same functions and settings, on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from .deploy import PromotionDecision, deploy
from .features import write_feature_table
from .ingest import IngestResult, ingest
from .labels import flip_labels
from .monitor import MonitoringResult, monitor
from .platform import Platform
from .registry import CHAMPION, version_for_alias
from .score import ScoringResult, score
from .train import TrainingResult, train
from .validate import ValidationReport, validate


@dataclass(frozen=True)
class ChampionSummary:
    """The version serving predictions after the run, with the metrics it was validated with."""

    version: str
    metrics: dict[str, str]


@dataclass(frozen=True)
class PipelineResult:
    """Everything the run produced, for printing and for tests."""

    ingested: IngestResult
    feature_table: str
    trained: TrainingResult
    validated: ValidationReport
    deployed: PromotionDecision
    scored: ScoringResult
    champion: ChampionSummary
    monitored: MonitoringResult


def run_training(
    platform: Platform,
) -> tuple[str, TrainingResult, ValidationReport, PromotionDecision]:
    """Features, train, validate, deploy: the training job's tasks, in order."""
    feature_table = write_feature_table(platform)
    trained = train(platform)
    validated = validate(platform, trained.version)
    deployed = deploy(platform)
    return feature_table, trained, validated, deployed


def champion_summary(platform: Platform) -> ChampionSummary:
    """Read the champion's version and its recorded validation metrics from the registry."""
    name = platform.settings.registered_model_name
    client = MlflowClient()
    version = version_for_alias(client, name, CHAMPION)
    if version is None:
        raise LookupError(f"{name} has no champion after deployment.")
    tags = client.get_model_version(name, version).tags
    metrics = {key: value for key, value in sorted(tags.items()) if key.startswith("validation_")}
    return ChampionSummary(version, metrics)


def run_pipeline(
    platform: Platform, *, shift: float = 0.0, flip_labels_fraction: float = 0.0
) -> PipelineResult:
    """Ingest data, then run the training job's steps, the inference job's and monitoring.

    ``shift`` moves the scoring batch's inputs away from the training data, and
    ``flip_labels_fraction`` makes that share of its labels contradict the model: either makes
    monitoring call for retraining.
    """
    ingested = ingest(platform, shift=shift)
    if flip_labels_fraction:
        flip_labels(platform, flip_labels_fraction, seed=platform.settings.data.seed)
    feature_table, trained, validated, deployed = run_training(platform)
    scored = score(platform)
    champion = champion_summary(platform)
    monitored = monitor(platform)
    return PipelineResult(
        ingested, feature_table, trained, validated, deployed, scored, champion, monitored
    )
