"""The whole lifecycle on this machine: the bundle's jobs, one after the other.

Which steps run in which order is defined once, by the jobs in ``resources/``; ``run-pipeline``
runs these jobs through the local job runner (``jobs.py``) rather than restating their tasks here.
The monitoring job runs the training job again when monitoring calls for retraining.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from .platform import Platform
from .registry import CHAMPION, version_for_alias

# The jobs of resources/ that make up one turn of the lifecycle, in the order they run.
PIPELINE_JOBS = ("model_training_job", "batch_inference_job", "monitoring_job")


@dataclass(frozen=True)
class ChampionSummary:
    """The version serving predictions after the run, with the metrics it was validated with."""

    model_name: str
    version: str
    metrics: dict[str, str]


def champion_summary(platform: Platform) -> ChampionSummary:
    """Read the champion's version and its recorded validation metrics from the registry."""
    platform.configure_mlflow()
    name = platform.settings.registered_model_name
    client = MlflowClient()
    version = version_for_alias(client, name, CHAMPION)
    if version is None:
        raise LookupError(f"{name} has no champion after deployment.")
    tags = client.get_model_version(name, version).tags
    metrics = {key: value for key, value in sorted(tags.items()) if key.startswith("validation_")}
    return ChampionSummary(name, version, metrics)
