"""Command line: one subcommand per pipeline step, each taking ``--env``, and the jobs around them.

The Databricks jobs call these same subcommands, so what runs in a job is what a developer runs
here: ``train --env dev`` in a job, ``train --env local`` on a laptop. Two entry points share them:

- ``main``, the console script, reports a failure as a distinct exit status, for people and CI;
- ``task``, which the jobs' ``python_wheel_task``s call, raises instead: Databricks ignores an entry
  point's return value, and only an exception that escapes fails the task (and so stops the tasks
  that depend on it).

``run-job`` runs a job of ``resources/`` on this machine as Databricks runs it,
``run-pipeline`` runs the training, batch inference and monitoring jobs that way, and ``serve``
answers scoring requests with the local champion as a Model Serving endpoint would.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from .approval import ApprovalPendingError, require_approval
from .deploy import PromotionDecision, deploy
from .features import InputSchemaError, write_feature_table
from .ingest import IngestResult, ingest, ingest_batch
from .jobs import Bundle, JobDefinitionError, JobRun, JobRunner, find_bundle_root
from .lakehouse import sync_quality_monitor
from .monitor import MonitoringResult, monitor
from .pipeline import PIPELINE_JOBS, champion_summary
from .platform import (
    DatabricksOnlyError,
    ForeignTableError,
    NotOnDatabricksError,
    Platform,
    ProjectBusyError,
    TableSchemaError,
    get_platform,
)
from .registry import CHAMPION, latest_version
from .rollback import MissingReasonError, rollback
from .score import score
from .serve import DEFAULT_PORT, open_server
from .settings import ENVIRONMENTS, SettingsError, load_settings, overridden_settings
from .train import train
from .validate import ValidationFailedError, ValidationReport, validate

# Exit statuses a scheduler or CI can tell apart.
EXIT_OK = 0
EXIT_VALIDATION_FAILED = 1
EXIT_USAGE = 2
EXIT_PRECONDITION = 3  # a required table, model version or alias does not exist yet
EXIT_BAD_INPUT = 4  # input data failed the schema check; nothing was written
EXIT_RETRAINING_NEEDED = 5  # monitoring: a metric crossed its threshold; run the training job
EXIT_TASK_FAILED = 6  # run-job, run-pipeline: a task failed with an error none of the above
EXIT_BUSY = 7  # another local run holds the project's .local store
EXIT_AWAITING_APPROVAL = 8  # the environment requires approval and the version has none yet

# How the console script reports each kind of failure (the first matching class wins): its exit
# status, and what goes before the error's message ("{step}" is the command).
FAILURES: tuple[tuple[type[BaseException], int, str], ...] = (
    (ValidationFailedError, EXIT_VALIDATION_FAILED, "Validation FAILED: "),
    (InputSchemaError, EXIT_BAD_INPUT, "Bad input: "),
    (TableSchemaError, EXIT_BAD_INPUT, "Cannot run {step}: "),
    (ForeignTableError, EXIT_PRECONDITION, "Cannot run {step}: "),
    (LookupError, EXIT_PRECONDITION, "Cannot run {step}: "),  # a missing table, version or alias
    (SettingsError, EXIT_USAGE, ""),
    (JobDefinitionError, EXIT_USAGE, "Cannot run {step}: "),
    (NotOnDatabricksError, EXIT_USAGE, "Cannot run {step}: "),
    (DatabricksOnlyError, EXIT_USAGE, ""),
    (MissingReasonError, EXIT_USAGE, "Cannot run {step}: "),
    (ProjectBusyError, EXIT_BUSY, ""),
    (ApprovalPendingError, EXIT_AWAITING_APPROVAL, ""),
)


class StepFailedError(RuntimeError):
    """A step ended with a non-zero status; raised so that its job task fails."""


def reporting(error: BaseException) -> tuple[int, str] | None:
    """Return how to report ``error``: exit status and prefix; None for an unforeseen error."""
    for kind, status, prefix in FAILURES:
        if isinstance(error, kind):
            return status, prefix
    return None


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


def _print_ingested(result: IngestResult) -> None:
    batch = f" (batch {result.batch_id})" if result.batch_id else ""
    if result.written:
        print(f"Wrote {result.rows} generated rows{batch} to {result.table}")
    else:
        print(f"Source {result.table} is read in place ({result.rows} rows); nothing written")


def _run_ingest(platform: Platform, args: argparse.Namespace) -> None:
    _print_ingested(ingest(platform))


def _run_ingest_batch(platform: Platform, args: argparse.Namespace) -> None:
    _print_ingested(ingest_batch(platform))


def _run_features(platform: Platform, args: argparse.Namespace) -> None:
    print(f"Wrote features to {write_feature_table(platform)}")


def _run_train(platform: Platform, args: argparse.Namespace) -> None:
    result = train(platform, git_commit=args.git_commit)
    print(f"Registered {result.model_name} version {result.version} (run {result.run_id})")


def _run_validate(platform: Platform, args: argparse.Namespace) -> None:
    version = args.model_version
    if version is None:
        platform.configure_mlflow()
        version = latest_version(MlflowClient(), platform.settings.registered_model_name)
        if version is None:
            raise LookupError("No model version is registered yet: run the train step first.")
    _print_validation(validate(platform, version))


def _run_check_approval(platform: Platform, args: argparse.Namespace) -> None:
    version = require_approval(platform, args.model_version)
    settings = platform.settings
    needed = settings.promotion.requires_approval
    why = "approved" if needed else f"{settings.env} needs no approval"
    print(f"Version {version} may become {CHAMPION}: {why}")


def _run_deploy(platform: Platform, args: argparse.Namespace) -> None:
    _print_deployment(deploy(platform))


def _run_rollback(platform: Platform, args: argparse.Namespace) -> None:
    done = rollback(platform, args.reason)
    print(
        f"Rolled back {done.model_name}: champion moved from version {done.rolled_back} "
        f"to version {done.restored} (reason: {done.reason})"
    )
    print(
        f"  Tagged version {done.rolled_back} rolled_back=true, "
        f"version {done.restored} restored_from={done.rolled_back}"
    )
    if done.removed_challenger:
        print(f"  Removed challenger from version {done.rolled_back}")


def _run_score(platform: Platform, args: argparse.Namespace) -> None:
    result = score(platform)
    if not result.batches:
        print(f"Nothing to score: every batch already has predictions in {result.table}")
        return
    print(
        f"Appended {result.rows} predictions of version {result.model_version} for batch(es) "
        f"{', '.join(result.batches)} to {result.table}"
    )


def _run_monitor(platform: Platform, args: argparse.Namespace) -> int:
    result = monitor(platform)
    _print_monitoring(result)
    if result.retraining_needed and not args.exit_zero:
        return EXIT_RETRAINING_NEEDED
    return EXIT_OK


def _run_quality_monitor(platform: Platform, args: argparse.Namespace) -> None:
    if platform.settings.is_local:
        raise DatabricksOnlyError(
            "Lakehouse Monitoring runs on Databricks only; locally, the monitor step computes "
            "the same drift metrics."
        )
    from databricks.sdk import WorkspaceClient  # authenticates from the job's environment

    print(sync_quality_monitor(platform, WorkspaceClient()).describe())


def _run_serve(platform: Platform, args: argparse.Namespace) -> None:
    server = open_server(platform, args.port)
    served = server.served
    print(
        f"Serving {served.model_name} version {served.version} ({CHAMPION}) at {server.url}: "
        "POST /invocations, GET /ping. Ctrl-C stops.",
        flush=True,
    )
    # The server stops cleanly on Ctrl-C, then passes the signal on; it was meant for the server.
    with suppress(KeyboardInterrupt):
        server.run()
    print("Stopped serving.")


def _job_status(run: JobRun) -> int:
    """Return 0 for a successful run, else the status that reports its first failed task."""
    if run.succeeded:
        return EXIT_OK
    error = run.first_error()
    report = reporting(error) if error is not None else None
    return EXIT_TASK_FAILED if report is None else report[0]


def _runner(args: argparse.Namespace) -> JobRunner:
    return JobRunner(Bundle.load(find_bundle_root(Path.cwd())), args.env)


def _run_job(platform: Platform, args: argparse.Namespace) -> int:
    return _job_status(_runner(args).run(args.job))


def _run_pipeline(platform: Platform, args: argparse.Namespace) -> int:
    runner = _runner(args)
    for job in PIPELINE_JOBS:
        run = runner.run(job)
        if not run.succeeded:
            print(f"Pipeline stopped: {job} {run.state}", file=sys.stderr)
            return _job_status(run)
    champion = champion_summary(platform)
    metrics = ", ".join(f"{key} {value}" for key, value in champion.metrics.items())
    print(f"Champion: {champion.model_name} version {champion.version} ({metrics})")
    print(f"Where: {platform.describe()}")
    return EXIT_OK


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {text}")
    return value


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
        name: str,
        run: Callable[[Platform, argparse.Namespace], int | None],
        help_text: str,
        envs: Sequence[str] = ENVIRONMENTS,
        holds_store: bool = True,
    ) -> argparse.ArgumentParser:
        step = steps.add_parser(name, help=help_text, description=help_text)
        step.add_argument(
            "--env", choices=envs, default="local", help="environment (default: local)"
        )
        step.set_defaults(run=run, holds_store=holds_store)
        return step

    def add_generator_options(step: argparse.ArgumentParser) -> None:
        step.add_argument(
            "--shift",
            type=_non_negative,
            help="distribution shift of the generated scoring batch (default: settings, 0)",
        )
        step.add_argument(
            "--flip-labels",
            type=_fraction,
            metavar="FRACTION",
            help="share of the scoring batch's labels to flip (default: settings, 0)",
        )

    add("ingest", _run_ingest, "Generate the labelled history, or check the source table.")
    add_generator_options(
        add(
            "ingest-batch",
            _run_ingest_batch,
            "Generate the next batch to score and its labels, or check the source tables.",
        )
    )
    add("features", _run_features, "Build the feature table from the training data.")
    add("train", _run_train, "Train a model and register a new version.").add_argument(
        "--git-commit", help="commit the code was deployed from (default: this checkout's HEAD)"
    )
    add("validate", _run_validate, "Gate a version; on pass it becomes challenger.").add_argument(
        "--model-version", help="version to validate (default: the latest registered)"
    )
    add(
        "check-approval",
        _run_check_approval,
        "Pass if a person approved the version where approval is required (exit 8 if not).",
    ).add_argument("--model-version", help="version to check (default: the challenger)")
    add("deploy", _run_deploy, "Promote challenger to champion if it is at least as good.")
    add(
        "rollback", _run_rollback, "Put champion back on the version it replaced, with a reason."
    ).add_argument("--reason", required=True, help="why (required; tagged rollback_reason)")
    add("score", _run_score, "Score new batches with the champion; append predictions.")
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
    add(
        "run-job", _run_job, "Run a job of resources/ on this machine, as Databricks runs it."
    ).add_argument("job", help="the job's key in resources/, e.g. model_training_job")
    add_generator_options(
        add(
            "run-pipeline",
            _run_pipeline,
            "Run the training, batch inference and monitoring jobs of resources/ in turn.",
        )
    )
    # Locally only: on Databricks the Model Serving endpoint serves the champion. The server
    # holds the local store only while it loads the model, so the pipeline can run meanwhile.
    add(
        "serve",
        _run_serve,
        "Serve the local champion on 127.0.0.1 with MLflow's scoring protocol until Ctrl-C.",
        envs=["local"],
        holds_store=False,
    ).add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    return parser


@contextmanager
def _generator_overrides(args: argparse.Namespace) -> Iterator[None]:
    """Apply ``--shift`` and ``--flip-labels`` to the data settings of every step run within."""
    data: dict[str, Any] = {}
    if getattr(args, "shift", None) is not None:
        data["scoring_shift"] = args.shift
    if getattr(args, "flip_labels", None) is not None:
        data["flipped_label_fraction"] = args.flip_labels
    with overridden_settings({"data": data} if data else {}):
        yield


def run_step(args: argparse.Namespace) -> int:
    """Run the parsed command; failures raise, results that are no failure return a status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Known, harmless notices that would bury the step's own output.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    with _generator_overrides(args):
        platform = get_platform(load_settings(args.env))
        # One local run at a time per project; the job runner's steps re-enter the same hold.
        command = " ".join(sys.argv[1:]) or args.step
        with platform.exclusive(command) if args.holds_store else nullcontext():
            status = args.run(platform, args)
    return EXIT_OK if status is None else status


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return a distinct exit status for each kind of failure."""
    args = build_parser().parse_args(argv)
    try:
        return run_step(args)
    except tuple(kind for kind, _, _ in FAILURES) as error:
        status, prefix = reporting(error) or (EXIT_USAGE, "")
        print(prefix.format(step=args.step) + str(error), file=sys.stderr)
        return status


def task() -> None:
    """Run the step named in ``sys.argv`` for a Databricks job task; raise if it does not succeed.

    Raises:
        StepFailedError: the step ended with a non-zero status (for example ``monitor`` without
            ``--exit-zero`` when retraining is needed). Every other failure raises its own error.

    """
    args = build_parser().parse_args(sys.argv[1:])
    status = run_step(args)
    if status != EXIT_OK:
        raise StepFailedError(f"{args.step} ended with exit status {status}")


if __name__ == "__main__":
    sys.exit(main())
