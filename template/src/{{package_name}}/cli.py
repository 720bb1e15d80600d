"""Command line: one subcommand per pipeline step, each taking ``--env``.

The Databricks jobs call these same subcommands as wheel entry points, so what runs in a job is
what a developer runs here: ``<command> train --env dev`` on Databricks, ``--env local`` locally.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence

from mlflow import MlflowClient

from .deploy import PromotionDecision, deploy
from .features import InputSchemaError, write_feature_table
from .ingest import ingest
from .labels import flip_labels
from .lakehouse import sync_quality_monitor
from .monitor import MonitoringResult, monitor
from .pipeline import PipelineResult, run_pipeline
from .platform import Platform, get_platform
from .registry import latest_version
from .score import score
from .settings import ENVIRONMENTS, SettingsError, load_settings
from .train import train
from .validate import ValidationFailedError, ValidationReport, validate

# Exit statuses a scheduler or CI can tell apart.
EXIT_OK = 0
EXIT_VALIDATION_FAILED = 1
EXIT_USAGE = 2
EXIT_PRECONDITION = 3  # a required table, model version or alias does not exist yet
EXIT_BAD_INPUT = 4  # input data failed the schema check; nothing was written
EXIT_RETRAINING_NEEDED = 5  # monitoring: a metric crossed its threshold; run the training job


def _print_validation(report: ValidationReport) -> None:
    metrics = ", ".join(f"{key} {value:.4f}" for key, value in report.metrics.items())
    print(f"Validated version {report.version}: PASSED ({metrics})")
    if report.champion_version is not None:
        print(f"  compared with champion version {report.champion_version}")


def _print_deployment(decision: PromotionDecision) -> None:
    verdict = "promoted to champion" if decision.promoted else "not promoted"
    unchanged = " (nothing changed)" if not decision.changed else ""
    print(
        f"Deployed: version {decision.challenger_version} {verdict}: {decision.reason}{unchanged}"
    )


def _print_monitoring(result: MonitoringResult) -> None:
    print(result.message)
    if result.model_version is None:
        return
    if result.retraining_needed:
        print(
            f"  Retraining needed: {len(result.breaches)} of {len(result.metrics)} metrics "
            "crossed their thresholds:"
        )
        for metric in result.breaches:
            print(f"    {metric.describe()}")
    print(f"  Metrics appended to {result.metrics_table}")
    print(f"  Report: {result.report_path} (MLflow run {result.run_id})")


def _print_pipeline(result: PipelineResult, platform: Platform) -> None:
    print(
        f"Ingested {result.ingested.training_rows} training rows into "
        f"{result.ingested.training_table}, {result.ingested.scoring_rows} rows to score into "
        f"{result.ingested.scoring_table}"
    )
    print(f"Built features: {result.feature_table}")
    print(
        f"Trained: {result.trained.model_name} version {result.trained.version} "
        f"(train roc_auc {result.trained.train_roc_auc:.4f}, {result.trained.train_rows} rows)"
    )
    _print_validation(result.validated)
    _print_deployment(result.deployed)
    print(
        f"Scored: {result.scored.rows} rows appended to {result.scored.table} "
        f"with version {result.scored.model_version}"
    )
    metrics = ", ".join(f"{key} {value}" for key, value in result.champion.metrics.items())
    print(f"Champion: {result.trained.model_name} version {result.champion.version} ({metrics})")
    _print_monitoring(result.monitored)
    print(f"Where: {platform.describe()}")


def _run_ingest(platform: Platform, args: argparse.Namespace) -> None:
    result = ingest(platform, shift=args.shift)
    print(f"Wrote {result.training_rows} rows to {result.training_table}")
    print(f"Wrote {result.scoring_rows} rows to {result.scoring_table}")
    if args.flip_labels:
        table = flip_labels(platform, args.flip_labels, seed=platform.settings.data.seed)
        print(f"Flipped about {100 * args.flip_labels:.0f} % of the labels in {table}")


def _run_features(platform: Platform, args: argparse.Namespace) -> None:
    print(f"Wrote features to {write_feature_table(platform)}")


def _run_train(platform: Platform, args: argparse.Namespace) -> None:
    result = train(platform)
    print(f"Registered {result.model_name} version {result.version} (run {result.run_id})")


def _run_validate(platform: Platform, args: argparse.Namespace) -> None:
    version = args.model_version
    if version is None:
        platform.configure_mlflow()
        version = latest_version(MlflowClient(), platform.settings.registered_model_name)
        if version is None:
            raise LookupError("No model version is registered yet: run the train step first.")
    _print_validation(validate(platform, version))


def _run_deploy(platform: Platform, args: argparse.Namespace) -> None:
    _print_deployment(deploy(platform))


def _run_score(platform: Platform, args: argparse.Namespace) -> None:
    result = score(platform)
    print(f"Appended {result.rows} predictions of version {result.model_version} to {result.table}")


def _run_monitor(platform: Platform, args: argparse.Namespace) -> int:
    result = monitor(platform)
    _print_monitoring(result)
    if result.retraining_needed and not args.exit_zero:
        return EXIT_RETRAINING_NEEDED
    return EXIT_OK


def _run_quality_monitor(platform: Platform, args: argparse.Namespace) -> int:
    if platform.settings.is_local:
        print(
            "Lakehouse Monitoring runs on Databricks only; locally, the monitor step computes "
            "the same drift metrics.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from databricks.sdk import WorkspaceClient  # authenticates from the job's environment

    print(sync_quality_monitor(platform, WorkspaceClient()).describe())
    return EXIT_OK


def _run_pipeline(platform: Platform, args: argparse.Namespace) -> int:
    result = run_pipeline(platform, shift=args.shift, flip_labels_fraction=args.flip_labels)
    _print_pipeline(result, platform)
    return EXIT_RETRAINING_NEEDED if result.monitored.retraining_needed else EXIT_OK


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the parser: one subcommand per step, plus ``run-pipeline`` for all of them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    def add(
        name: str, run: Callable[[Platform, argparse.Namespace], int | None], help_text: str
    ) -> argparse.ArgumentParser:
        step = steps.add_parser(name, help=help_text, description=help_text)
        step.add_argument(
            "--env", choices=ENVIRONMENTS, default="local", help="environment (default: local)"
        )
        step.set_defaults(run=run)
        return step

    def add_generator_options(step: argparse.ArgumentParser) -> None:
        step.add_argument(
            "--shift",
            type=float,
            default=0.0,
            help="distribution shift of the generated scoring batch (0 = none)",
        )
        step.add_argument(
            "--flip-labels",
            type=_fraction,
            default=0.0,
            metavar="FRACTION",
            help="share of the scoring batch's labels to flip, degrading model quality (0 = none)",
        )

    add_generator_options(
        add("ingest", _run_ingest, "Write the training data, the scoring batch and its labels.")
    )
    add("features", _run_features, "Build the feature table from the training data.")
    add("train", _run_train, "Train a model and register a new version.")
    add("validate", _run_validate, "Gate a version; on pass it becomes challenger.").add_argument(
        "--model-version", help="version to validate (default: the latest registered)"
    )
    add("deploy", _run_deploy, "Promote challenger to champion if it is at least as good.")
    add("score", _run_score, "Score the batch with the champion; append predictions.")
    add(
        "monitor",
        _run_monitor,
        "Compare recent predictions with the training data; exit 5 when retraining is needed.",
    ).add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when retraining is needed (jobs read the task value retraining_needed)",
    )
    add(
        "quality-monitor",
        _run_quality_monitor,
        "Create or update and refresh the Lakehouse Monitoring monitor (Databricks only).",
    )
    add_generator_options(
        add("run-pipeline", _run_pipeline, "Run every step, in the jobs' order, then monitor.")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; return a distinct exit status for each kind of failure."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Known, harmless notices that would bury the step's own output.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    try:
        platform = get_platform(load_settings(args.env))
        status = args.run(platform, args)
    except ValidationFailedError as error:
        print(f"Validation FAILED: {error}", file=sys.stderr)
        return EXIT_VALIDATION_FAILED
    except InputSchemaError as error:
        print(f"Bad input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except LookupError as error:  # a missing table, version or alias
        print(f"Cannot run {args.step}: {error}", file=sys.stderr)
        return EXIT_PRECONDITION
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if status is None else status


if __name__ == "__main__":
    sys.exit(main())
