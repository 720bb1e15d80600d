"""Each rendered project works as a user finds it after `copier copy`: committed to git, installed
into its own venv with `pip install -e '.[dev]'` (here: uv), its own test suite passes and its
whole lifecycle runs locally, offline, and leaves nothing untracked behind.

Slow (Spark, MLflow, installs). Tests of one answer set share one install (the `installed`
fixture, tests/conftest.py) and run on one pytest-xdist worker (`on_its_worker`).
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from support import (
    ANSWER_SETS,
    AnswerSet,
    CommandResult,
    InstalledProject,
    InstallFn,
    git_untracked_or_changed,
    on_its_worker,
    run,
    user_env,
)

pytestmark = pytest.mark.slow

BY_ANSWER_SET = [pytest.param(a, id=a.id, marks=on_its_worker(a)) for a in ANSWER_SETS]
# A second run on existing state costs a pipeline run; once (default answers) is enough.
DEFAULT_ONLY = [p for p in BY_ANSWER_SET if p.id == "default"]

# The console script's subcommands, one per lifecycle step, as the Databricks jobs call them.
STEPS = (
    "ingest",
    "features",
    "train",
    "validate",
    "check-approval",
    "deploy",
    "score",
    "serve",
    "run-job",
    "run-pipeline",
)
ENV_CHOICES = "{local,dev,test,staging,prod}"

# The tasks of the training job, in the order resources/model_training_job.yml runs them.
TRAINING_TASKS = ("ingest", "features", "train", "validate", "approval_champion", "deploy")
# A log line of a library the project's console keeps quiet unless --verbose: MLflow's own format
# ("2026/11/30 15:15:12 INFO alembic.runtime.migration: ...") or logging's default one.
LIBRARY_LOG_LINE = re.compile(
    r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?(DEBUG|INFO|WARNING):? (mlflow|alembic|py4j|urllib3)\b",
    re.MULTILINE,
)
# A JAVA_HOME that holds no Java: Spark cannot start under it.
NO_JAVA = "/nonexistent-java-home"
# Each long step announces its parts as they start.
PROGRESS_LINES = (
    "train 3/4: fitting the model on",
    "score 2/2: scoring",
    "monitor 3/4: comparing",
)


def assert_ok(result: CommandResult) -> None:
    assert result.returncode == 0, result.report()


def assert_git_clean(project: InstalledProject, after: str, before: set[str] | None = None) -> None:
    """`git status` shows nothing new: what the command wrote is covered by .gitignore.

    `before` holds what earlier commands already left, so that each test blames only its own.
    """
    leftovers = sorted(set(git_untracked_or_changed(project.path)) - (before or set()))
    assert leftovers == [], f"{after} left files that .gitignore does not cover: {leftovers}"


def run_pipeline(project: InstalledProject) -> CommandResult:
    slug = project.rendered.slug
    return run(
        [project.bin(slug), "run-pipeline", "--env", "local"],
        cwd=project.path,
        env=user_env(),
        timeout=1800,
    )


def assert_first_run_names_version_1_champion(
    project: InstalledProject, result: CommandResult
) -> None:
    """run-pipeline on a fresh `.local` store sums up with version 1 of the project's model as
    champion, with the metrics it was validated with, e.g.
    "Champion: local.customer_churn.customer_churn_model version 1 (validation_accuracy 0.81, ...)".

    What the data implies: training registers version 1, deploy promotes it (there is no champion
    yet), and monitoring finds the scored batch, drawn from the training population with a fixed
    seed, within thresholds, so nothing retrains. Any other version, or no champion, is a bug.
    """
    answers = project.rendered.answers
    model = f"local.{answers['schema_name']}.{answers['package_name']}_model"
    line = re.compile(rf"^Champion: {re.escape(model)} version 1 \(validation_\w+ ", re.MULTILINE)
    assert line.search(result.output), (
        f"run-pipeline on a fresh store must end with version 1 of {model} as champion\n"
        + result.report()
    )


@pytest.mark.parametrize("answer_set", BY_ANSWER_SET)
def test_install_leaves_git_clean(answer_set: AnswerSet, installed: InstallFn) -> None:
    assert_git_clean(installed(answer_set), after="`pip install -e '.[dev]'`")


@pytest.mark.parametrize("answer_set", BY_ANSWER_SET)
def test_local_install_resolves_inside_the_bounds_of_the_jobs_runtime(
    answer_set: AnswerSet, installed: InstallFn
) -> None:
    # pyproject.toml bounds the runtime dependencies, and PySpark, to the runtime that runs the
    # jobs (tests/test_dependencies.py): what the project's own tests run on must lie inside them.
    project = installed(answer_set)
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(line) for line in pyproject["project"]["dependencies"]]
    requirements += [
        requirement
        for requirement in map(Requirement, pyproject["project"]["optional-dependencies"]["dev"])
        if requirement.name == "pyspark"
    ]
    script = (
        "import json, sys\n"
        "from importlib.metadata import version\n"
        "print('INSTALLED', json.dumps({name: version(name) for name in sys.argv[1:]}))"
    )
    names = [requirement.name for requirement in requirements]
    result = run(
        [project.bin("python"), "-c", script, *names],
        cwd=project.path,
        env=user_env(),
        timeout=300,
    )
    assert_ok(result)
    found = re.search(r"^INSTALLED (.*)$", result.output, re.MULTILINE)
    assert found, result.report()
    versions = json.loads(found.group(1))
    outside = {
        f"{requirement.name}{requirement.specifier}": versions[requirement.name]
        for requirement in requirements
        if not requirement.specifier.contains(versions[requirement.name], prereleases=True)
    }
    assert outside == {}, f"installed outside the runtime's bounds: {outside}"


@pytest.mark.parametrize("answer_set", BY_ANSWER_SET)
def test_console_script_offers_every_step_and_environment(
    answer_set: AnswerSet, installed: InstallFn
) -> None:
    project = installed(answer_set)
    script = project.bin(project.rendered.slug)
    overview = run([script, "--help"], cwd=project.path, env=user_env(), timeout=300)
    assert_ok(overview)
    assert [step for step in STEPS if step not in overview.output] == []
    for step in ("train", "run-pipeline"):
        usage = run([script, step, "--help"], cwd=project.path, env=user_env(), timeout=300)
        assert_ok(usage)
        assert ENV_CHOICES in usage.output, f"`{step} --env` must offer {ENV_CHOICES}"


@pytest.mark.parametrize("answer_set", BY_ANSWER_SET)
def test_project_test_suite_passes(
    answer_set: AnswerSet, installed: InstallFn, tmp_path: Path
) -> None:
    project = installed(answer_set)
    before = set(git_untracked_or_changed(project.path))
    # The unit layer needs no Java: with JAVA_HOME pointing nowhere, any test that started Spark
    # would fail.
    no_java = user_env(JAVA_HOME=NO_JAVA)
    unit = run(["make", "test-unit"], cwd=project.path, env=no_java, timeout=900)
    assert_ok(unit)
    assert re.search(r"\d+ passed, \d+ deselected", unit.output), unit.report()

    report = tmp_path / "junit.xml"
    result = run(
        [project.bin("pytest"), "-m", "spark or integration", f"--junitxml={report}"],
        cwd=project.path,
        env=user_env(),
        timeout=2400,
    )
    assert_ok(result)

    classnames = {case.get("classname", "") for case in ET.parse(report).iter("testcase")}
    for kind in ("unit", "integration"):
        assert any(name.startswith(f"tests.{kind}.") for name in classnames), (
            f"the Spark and integration layers ran no test from tests/{kind}"
        )
    assert_git_clean(project, after="the project's test suite", before=before)


@pytest.mark.parametrize("answer_set", BY_ANSWER_SET)
def test_local_pipeline_runs_and_names_a_champion(
    answer_set: AnswerSet, installed: InstallFn
) -> None:
    project = installed(answer_set)
    shutil.rmtree(project.path / ".local", ignore_errors=True)  # as on a fresh clone
    before = set(git_untracked_or_changed(project.path))

    result = run_pipeline(project)

    assert_ok(result)
    assert_first_run_names_version_1_champion(project, result)
    library_lines = LIBRARY_LOG_LINE.findall(result.output)
    assert not library_lines, f"library log lines without --verbose: {library_lines}"
    assert "default log4j profile" not in result.output, "Spark's banner: its log4j config unused"
    for line in PROGRESS_LINES:
        assert line in result.output, f"no progress line {line!r}\n{result.report()}"
    state = project.path / ".local"
    assert state.is_dir() and any(state.iterdir()), "the local run keeps its state in .local/"
    assert_git_clean(project, after="run-pipeline --env local", before=before)


@pytest.mark.parametrize("answer_set", DEFAULT_ONLY)
def test_training_job_runs_again_on_existing_state_task_by_task(
    answer_set: AnswerSet, installed: InstallFn
) -> None:
    # Users run jobs more than once: the second training must build on the first one's registry
    # (a new version, validated against the existing champion), not trip over it. `run-job`
    # prints every task of the job with its outcome, as the Jobs UI does.
    project = installed(answer_set)
    if not (project.path / ".local").is_dir():
        assert_ok(run_pipeline(project))

    result = run(
        [project.bin(project.rendered.slug), "run-job", "model_training_job"],
        cwd=project.path,
        env=user_env(),
        timeout=1800,
    )

    assert_ok(result)
    for task in TRAINING_TASKS:
        assert re.search(rf"^\s+{task}\s+SUCCESS\s+[\d.]+ s", result.output, re.MULTILINE), (
            f"run-job must print task {task} with its outcome\n" + result.report()
        )
    assert "compared with champion version" in result.output, result.report()
    assert "Job model_training_job: SUCCESS" in result.output
