"""The Databricks bundle of each rendered answer set, checked offline.

- `databricks.yml` merged with `resources/*.yml` validates against the bundle JSON schema (from
  $DATABRICKS_BUNDLE_SCHEMA, or `databricks bundle schema` when a CLI is on PATH; skipped, saying
  why, when there is neither);
- every resource loads with the typed classes of `databricks-bundles`;
- references, files, console scripts and task values resolve;
- each target agrees with the project's settings.toml and with the answers (catalogs, hosts, run-as
  identities, permissions, compute, schedules, branches).

The answer sets cover each cloud, serverless and classic compute, and runs with and without
service principals and workspace URLs; the render matrix's own answer sets (tests/support.py) are
checked too, for their naming edge cases.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from bundle_checks import (
    Bundle,
    bundle_schema,
    check_paths,
    check_references,
    check_schema,
    check_settings,
    check_tasks,
    check_typed_resources,
    declared_entry_points,
    effective_pause_status,
    for_target,
    jobs,
    launcher_cell,
    launcher_problem,
    load_bundle,
    normalize_distribution,
    pyproject,
    resolve,
    settings_document,
)
from conftest import RenderFn
from support import ANSWER_SETS, AnswerSet, Rendered

TARGETS = ("dev", "test", "staging", "prod")
SHARED_TARGETS = ("test", "staging", "prod")
TRAINING_STEPS = ("ingest", "features", "train", "validate", "approval_champion", "deploy")
# The subcommand each task runs, where it is not the task's own name: the approval task is named
# after the tag it checks, as MLflow 3 deployment jobs name theirs.
SUBCOMMANDS = {"approval_champion": "check-approval"}

# Which Python each serverless environment version and Databricks Runtime (LTS) runs.
SERVERLESS_PYTHON = {"2": "3.11", "3": "3.12", "4": "3.12", "5": "3.12"}
RUNTIME_PYTHON = {"15.4": "3.11", "16.4": "3.12", "17.3": "3.12"}
# What a node type ID looks like on each cloud.
NODE_TYPE_PATTERN = {
    "aws": r"^[a-z][a-z0-9-]*\.[0-9]*x?(large|medium|metal)$",
    "azure": r"^Standard_[A-Za-z0-9_]+$",
    "gcp": r"^[a-z][a-z0-9]*-[a-z]+-[0-9]+$",
}
DOCS = {
    "aws": "https://docs.databricks.com/aws/en",
    "azure": "https://learn.microsoft.com/azure/databricks",
    "gcp": "https://docs.databricks.com/gcp/en",
}

STAGING_SP = "6f1c2a4e-93b7-4c1d-8e2f-0a5b7c9d1e3f"
PROD_SP = "A0B1C2D3-E4F5-4a6b-8c7d-9E0F1A2B3C4D"

BUNDLE_ANSWER_SETS: tuple[AnswerSet, ...] = (
    AnswerSet(
        "bundle-azure-classic-sps",
        {
            "cloud": "azure",
            "compute": "classic",
            "python_version": "3.11",
            # Pasted from the browser: path, workspace id and fragment are cut off.
            "staging_workspace_url": (
                "https://ADB-1234567890123456.7.azuredatabricks.net/browse/folders/42"
                "?o=1234567890123456#job/7"
            ),
            "prod_workspace_url": "https://adb-6543210987654321.3.azuredatabricks.net/",
            "staging_service_principal": STAGING_SP,
            "prod_service_principal": PROD_SP,
            "read_group": "ML Readers",
            "default_branch": "trunk",
            "release_branch": "releases/prod",
            "catalog_dev": "sandbox_ml",
            "catalog_test": "ci_ml",
            "catalog_staging": "preprod_ml",
            "catalog_prod": "live_ml",
            "schema_name": "churn_v2",
        },
    ),
    AnswerSet(
        "bundle-gcp-classic-no-sps",
        {
            "cloud": "gcp",
            "compute": "classic",
            "cluster_node_type": "n2-highmem-8",
            "staging_workspace_url": "https://1234567890123456.7.gcp.databricks.com",
            # Different slug and package: the wheel's distribution name is not the package.
            "project_name": "Demand Forecast",
            "project_slug": "demand-forecaster",
            "package_name": "forecasting",
        },
    ),
    AnswerSet(
        "bundle-aws-serverless-staging-sp",
        {
            "cloud": "aws",
            "python_version": "3.11",
            "prod_workspace_url": "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com/?o=987#setting",
            "staging_service_principal": STAGING_SP,
            "read_group": "account users",
            "feature_store": True,
        },
    ),
    AnswerSet(
        "bundle-azure-serverless-prod-sp",
        {
            "cloud": "azure",
            "staging_workspace_url": "https://adb-1111111111111111.1.azuredatabricks.net",
            "prod_workspace_url": "https://adb-1111111111111111.1.azuredatabricks.net",
            "prod_service_principal": PROD_SP,
            "default_branch": "develop",
            "release_branch": "main",
        },
    ),
)

ALL_ANSWER_SETS = ANSWER_SETS + BUNDLE_ANSWER_SETS

# Names whose console script Databricks' launcher cannot compile as an entry point, with the slug
# copier derives: a keyword between hyphens (`in`, `class`, `import`, `for`, `def`), a part that
# starts with a digit (`2`, `1a`). And one whose slug YAML reads as null unless it is quoted.
LAUNCHER_NAMES: tuple[tuple[AnswerSet, str], ...] = (
    (
        AnswerSet("launcher-in-store-sales-2", {"project_name": "In Store Sales 2"}),
        "in-store-sales-2",
    ),
    (
        AnswerSet("launcher-class-import", {"project_name": "Class Import Model"}),
        "class-import-model",
    ),
    (AnswerSet("launcher-1a-for-def", {"project_name": "Model 1a For Def"}), "model-1a-for-def"),
    (AnswerSet("launcher-null", {"project_name": "Null"}), "null"),
)
LAUNCHER_ANSWER_SETS = ANSWER_SETS + tuple(answer_set for answer_set, _ in LAUNCHER_NAMES)
# Every job of the bundle; each one emails alert_email when it fails.
JOBS = ("model_training_job", "batch_inference_job", "monitoring_job", "rollback_job")


@dataclass(frozen=True)
class RenderedBundle:
    rendered: Rendered
    bundle: Bundle

    @property
    def answers(self) -> Mapping[str, Any]:
        return self.rendered.answers

    def target(self, name: str) -> dict[str, Any]:
        """The target's configuration with variables and bundle fields resolved."""
        config = for_target(self.bundle, name)
        return resolve(config, config)


@pytest.fixture(params=ALL_ANSWER_SETS, ids=[a.id for a in ALL_ANSWER_SETS])
def rendered_bundle(request: pytest.FixtureRequest, render_answers: RenderFn) -> RenderedBundle:
    rendered = render_answers(request.param)
    return RenderedBundle(rendered, load_bundle(rendered.path))


def expected_host(url: str) -> str | None:
    """The host the bundle must use for a workspace URL answer: scheme and host, lowercase."""
    if not url.strip():
        return None
    return f"https://{urlsplit(url.strip()).hostname}"


# --- The bundle is valid for the CLI --------------------------------------------------------------


def test_bundle_matches_the_json_schema(rendered_bundle: RenderedBundle, tmp_path: Path) -> None:
    schema, how = bundle_schema(tmp_path)
    if schema is None:
        pytest.skip(how)
    assert check_schema(rendered_bundle.bundle, schema, tmp_path) == [], f"schema from {how}"


def test_every_resource_loads_with_the_databricks_bundles_classes(
    rendered_bundle: RenderedBundle,
) -> None:
    assert check_typed_resources(rendered_bundle.bundle) == []


def test_targets_are_the_settings_environments(rendered_bundle: RenderedBundle) -> None:
    document = settings_document(rendered_bundle.rendered.path, rendered_bundle.rendered.package)
    databricks_environments = set(document) - {"common", "local"}
    assert set(rendered_bundle.bundle.targets) == databricks_environments == set(TARGETS)
    defaults = [
        name for name, target in rendered_bundle.bundle.config["targets"].items()
        if target.get("default")
    ]  # fmt: skip
    assert defaults == ["dev"]


def test_references_are_declared_set_and_used(rendered_bundle: RenderedBundle) -> None:
    assert check_references(rendered_bundle.bundle) == []


def test_tasks_run_console_scripts_of_the_wheel(rendered_bundle: RenderedBundle) -> None:
    assert check_tasks(rendered_bundle.bundle, rendered_bundle.rendered.package) == []


def test_files_named_by_the_bundle_exist(rendered_bundle: RenderedBundle) -> None:
    assert check_paths(rendered_bundle.bundle) == []
    # What deploying creates in the project must never be committed.
    ignored = (rendered_bundle.rendered.path / ".gitignore").read_text(encoding="utf-8")
    assert {"dist/", ".databricks/"} <= set(ignored.split())


# --- The bundle agrees with the settings ----------------------------------------------------------


def test_targets_name_what_the_settings_name(rendered_bundle: RenderedBundle) -> None:
    assert check_settings(rendered_bundle.bundle, rendered_bundle.rendered.package) == []


@pytest.mark.parametrize("target", TARGETS)
def test_target_uses_the_answered_catalog(rendered_bundle: RenderedBundle, target: str) -> None:
    answers = rendered_bundle.answers
    config = rendered_bundle.target(target)
    assert config["variables"]["catalog"]["default"] == answers[f"catalog_{target}"]
    schema = config["variables"]["schema"]["default"]
    if target == "dev":
        # One schema per developer: nobody's dev runs touch another's tables or model.
        assert schema == "${workspace.current_user.short_name}_" + answers["schema_name"]
    else:
        assert schema == answers["schema_name"]
    resources = config.get("resources", {})
    if target == "dev":
        # Development mode would prefix their names per developer; the code creates them.
        assert not {"registered_models", "experiments"} & set(resources)
    else:
        (model,) = resources["registered_models"].values()
        assert model["catalog_name"] == answers[f"catalog_{target}"]
        assert set(resources["experiments"]) == {"experiment"}


# --- The jobs -------------------------------------------------------------------------------------


def _tasks(config: Mapping[str, Any], job: str) -> dict[str, dict[str, Any]]:
    return {task["task_key"]: task for task in jobs(config)[job]["tasks"]}


def test_training_job_runs_the_pipeline_steps_in_order(rendered_bundle: RenderedBundle) -> None:
    feature_store = rendered_bundle.answers["feature_store"]
    for target in TARGETS:
        tasks = _tasks(rendered_bundle.target(target), "model_training_job")
        assert tuple(tasks) == TRAINING_STEPS
        for previous, step in itertools.pairwise(TRAINING_STEPS):
            assert tasks[step].get("depends_on") == [{"task_key": previous}]
            # Only when the upstream task succeeded: a failed validation stops deploy.
            assert tasks[step].get("run_if", "ALL_SUCCESS") == "ALL_SUCCESS"
        for step, task in tasks.items():
            command = SUBCOMMANDS.get(step, step)
            assert task["python_wheel_task"]["parameters"][:3] == [command, "--env", target]
        # Validation and approval judge exactly the version this run trained.
        for step in ("validate", "approval_champion"):
            parameters = tasks[step]["python_wheel_task"]["parameters"]
            assert parameters[3:] == ["--model-version", "{{tasks.train.values.model_version}}"]

        batch = _tasks(rendered_bundle.target(target), "batch_inference_job")
        # With the feature store, the batch's customers get their feature rows before scoring.
        batch_steps = ("ingest_batch", *(["features"] if feature_store else []), "score")
        assert tuple(batch) == batch_steps
        for previous, step in itertools.pairwise(batch_steps):
            assert batch[step]["depends_on"] == [{"task_key": previous}]
        for step, task in batch.items():
            parameters = task["python_wheel_task"]["parameters"]
            assert parameters == [step.replace("_", "-"), "--env", target]


def test_monitoring_job_retrains_and_with_an_endpoint_concludes_online_trials(
    rendered_bundle: RenderedBundle,
) -> None:
    serving = rendered_bundle.answers["serving_endpoint"]
    for target in TARGETS:
        tasks = _tasks(rendered_bundle.target(target), "monitoring_job")
        retraining = ["quality_monitor", "monitor", "retraining_needed", "retrain"]
        trial = ["online_trial", "online_trial_decidable", "deploy"]
        assert list(tasks) == retraining + (trial if serving else [])
        assert tasks["retrain"]["depends_on"] == [
            {"task_key": "retraining_needed", "outcome": "true"}
        ]
        if not serving:
            continue
        parameters = tasks["online_trial"]["python_wheel_task"]["parameters"]
        assert parameters == ["online-trial", "--env", target]
        assert tasks["online_trial_decidable"]["condition_task"] == {
            "op": "EQUAL_TO",
            "left": "{{tasks.online_trial.values.decidable}}",
            "right": "true",
        }
        # Never while the training job, which deploys too, runs from the same monitoring run.
        assert tasks["deploy"]["depends_on"] == [
            {"task_key": "online_trial_decidable", "outcome": "true"},
            {"task_key": "retraining_needed", "outcome": "false"},
        ]
        assert tasks["deploy"]["python_wheel_task"]["parameters"] == ["deploy", "--env", target]


@pytest.mark.parametrize(
    ("answer_set", "slug"), LAUNCHER_NAMES, ids=[a.id for a, _ in LAUNCHER_NAMES]
)
def test_names_that_break_the_console_script_as_entry_point_are_accepted(
    answer_set: AnswerSet, slug: str, render_answers: RenderFn
) -> None:
    rendered = render_answers(answer_set)
    assert rendered.slug == slug
    package = slug.replace("-", "_")
    assert rendered.package == package
    if "-" in slug:
        # What the jobs ran before they got `<package>_task`: the render would fail every task.
        assert launcher_problem(package, slug, ["train"]) is not None


@pytest.mark.parametrize(
    "answer_set", LAUNCHER_ANSWER_SETS, ids=[a.id for a in LAUNCHER_ANSWER_SETS]
)
def test_wheel_tasks_launch_a_declared_entry_point(
    answer_set: AnswerSet, render_answers: RenderFn
) -> None:
    """Every python_wheel_task, in every target: Databricks' launcher cell compiles, looks up the
    wheel's own distribution, and names an entry point that distribution declares (the jobs'
    `<package>_task`, which runs `cli.task`)."""
    rendered = render_answers(answer_set)
    project = pyproject(rendered.path)["project"]
    declared = declared_entry_points(project)
    bundle = load_bundle(rendered.path)
    problems: list[str] = []
    launched = 0
    for target in bundle.targets:
        config = for_target(bundle, target)
        for job_key, job in jobs(config).items():
            for task in job["tasks"]:
                wheel = task.get("python_wheel_task")
                if wheel is None:
                    continue
                launched += 1
                where = f"[{target}] {job_key}.{task['task_key']}"
                package_name, entry_point = wheel["package_name"], wheel["entry_point"]
                parameters = [str(resolve(p, config)) for p in wheel.get("parameters", [])]
                try:
                    cell = launcher_cell(package_name, entry_point, parameters)
                    compile(cell, "<launcher>", "exec", dont_inherit=True)
                except (SyntaxError, TypeError) as error:
                    problems.append(f"{where}: launcher cell: {error!r}")
                    continue
                if normalize_distribution(package_name) != normalize_distribution(project["name"]):
                    problems.append(f"{where}: package_name {package_name!r} is not the wheel")
                if entry_point != f"{rendered.package}_task":
                    problems.append(f"{where}: entry point {entry_point!r} is not the jobs' one")
                if declared.get(entry_point) != f"{rendered.package}.cli:task":
                    problems.append(
                        f"{where}: {entry_point!r} is declared as {declared.get(entry_point)!r}"
                    )
    assert launched >= len(bundle.targets) * 8, "fewer wheel tasks than the three jobs have"
    assert problems == []


def test_every_job_emails_the_alert_address_on_failure(rendered_bundle: RenderedBundle) -> None:
    email = rendered_bundle.answers["alert_email"]
    for target in TARGETS:
        config = rendered_bundle.target(target)
        assert set(jobs(config)) == set(JOBS), target
        for name, job in jobs(config).items():
            if email:
                notifications = job.get("email_notifications") or {}
                assert notifications.get("on_failure") == [email], (target, name)
            else:
                assert "email_notifications" not in _keys(job), (target, name)


def _keys(node: Any) -> set[str]:
    """Every mapping key anywhere in a YAML tree."""
    if isinstance(node, dict):
        return set(node).union(*(_keys(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(value) for value in node))
    return set()


def test_jobs_get_the_compute_that_was_chosen(rendered_bundle: RenderedBundle) -> None:
    answers = rendered_bundle.answers
    config = rendered_bundle.target("prod")
    for name, job in jobs(config).items():
        # Condition and run-job tasks run no code of ours, so they take no compute.
        wheel_tasks = [task for task in job["tasks"] if "python_wheel_task" in task]
        if answers["compute"] == "serverless":
            assert "job_clusters" not in job, name
            environments = {e["environment_key"]: e["spec"] for e in job["environments"]}
            for task in wheel_tasks:
                spec = environments[task["environment_key"]]
                assert SERVERLESS_PYTHON[spec["environment_version"]] == answers["python_version"]
                assert "../dist/*.whl" in spec["dependencies"]
                # Serverless has no Feature Engineering client; every job that reads features
                # installs it when the feature store is on (rollback reads none).
                installs_client = any(
                    dependency.startswith("databricks-feature-engineering")
                    for dependency in spec["dependencies"]
                )
                assert installs_client == (answers["feature_store"] and name != "rollback_job")
                assert "job_cluster_key" not in task and "libraries" not in task
        else:
            assert "environments" not in job, name
            clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
            for task in wheel_tasks:
                cluster = clusters[task["job_cluster_key"]]
                assert {"whl": "../dist/*.whl"} in task["libraries"]
                assert cluster["data_security_mode"] == "SINGLE_USER"
                runtime = ".".join(cluster["spark_version"].split(".")[:2])
                assert RUNTIME_PYTHON[runtime] == answers["python_version"]
                assert cluster["node_type_id"] == answers["cluster_node_type"]
                assert re.match(NODE_TYPE_PATTERN[answers["cloud"]], cluster["node_type_id"]), (
                    f"{cluster['node_type_id']} is not a node type of {answers['cloud']}"
                )


@pytest.mark.parametrize("target", TARGETS)
def test_schedules_run_only_in_prod(rendered_bundle: RenderedBundle, target: str) -> None:
    config = rendered_bundle.target(target)
    scheduled = {name: job["schedule"] for name, job in jobs(config).items() if "schedule" in job}
    assert {"model_training_job", "batch_inference_job"} <= set(scheduled)
    expected = "UNPAUSED" if target == "prod" else "PAUSED"
    assert {name: effective_pause_status(config, s) for name, s in scheduled.items()} == {
        name: expected for name in scheduled
    }


# --- The targets follow the answers ---------------------------------------------------------------


# How staging and prod name whoever deploys them when no service principal was answered.
DEPLOYING_USER = "${workspace.current_user.userName}"


def _principal(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The one principal a `run_as` or `permissions` entry names, as (field, name)."""
    fields = ("user_name", "service_principal_name", "group_name")
    named = [(field, entry[field]) for field in fields if field in entry]
    assert len(named) == 1, f"{entry} must name exactly one principal"
    return named[0]


def test_targets_follow_the_answers(rendered_bundle: RenderedBundle) -> None:
    """Hosts, modes and branches follow the answers, and so do identities: a target with a
    service principal runs as it and gives it CAN_MANAGE; staging and prod without one name
    whoever deploys them, in `run_as` and with CAN_MANAGE (one explicit owner); test without one
    runs as whoever deploys, unnamed."""
    answers = rendered_bundle.answers
    staging_host = expected_host(answers["staging_workspace_url"])
    prod_host = expected_host(answers["prod_workspace_url"])
    # Application IDs are UUIDs: the bundle writes them in lowercase, as Databricks shows them.
    staging_sp = answers["staging_service_principal"].lower() or None
    prod_sp = answers["prod_service_principal"].lower() or None

    def owner(principal: str | None) -> tuple[str, str]:
        if principal:
            return ("service_principal_name", principal)
        return ("user_name", DEPLOYING_USER)

    expected = {
        # target: (mode, host, run-as identity, git branch)
        "dev": ("development", None, None, None),
        "test": (None, staging_host, owner(staging_sp) if staging_sp else None, None),
        "staging": ("production", staging_host, owner(staging_sp), answers["default_branch"]),
        "prod": ("production", prod_host, owner(prod_sp), answers["release_branch"]),
    }
    for target, (mode, host, identity, branch) in expected.items():
        config = rendered_bundle.target(target)
        run_as = config.get("run_as")
        actual = (
            config["bundle"].get("mode"),
            (config.get("workspace") or {}).get("host"),
            _principal(run_as) if run_as is not None else None,
            (config["bundle"].get("git") or {}).get("branch"),
        )
        assert actual == (mode, host, identity, branch), target

        if target == "dev":
            assert "permissions" not in config
            continue
        # One deployment per target, whoever deploys it.
        assert config["workspace"]["root_path"].endswith(f"/{rendered_bundle.bundle.name}/{target}")
        permissions = {(*_principal(p), p["level"]) for p in config["permissions"]}
        wanted = {("group_name", answers["read_group"], "CAN_VIEW")}
        if identity:
            wanted.add((*identity, "CAN_MANAGE"))
        assert permissions == wanted, target
        (model,) = config["resources"]["registered_models"].values()
        assert model["grants"] == [{"principal": answers["read_group"], "privileges": ["EXECUTE"]}]


def test_deploy_guide_matches_the_bundle(rendered_bundle: RenderedBundle) -> None:
    answers = rendered_bundle.answers
    guide = (rendered_bundle.rendered.path / "docs" / "deploy.md").read_text(encoding="utf-8")
    for target in TARGETS:
        assert f"`{answers[f'catalog_{target}']}`" in guide
        assert f"databricks bundle deploy -t {target}" in guide or re.search(
            rf"make bundle-deploy [^\n]*TARGET={target}\b", guide
        ), target
    for url in (answers["staging_workspace_url"], answers["prod_workspace_url"]):
        if url:
            assert expected_host(url) in guide
    # Why a service principal should own staging and prod, and, for each that has none, how to
    # give it one (the section `make bundle-deploy` links to when it refuses a deployer).
    assert "\n## Who owns staging and prod\n" in guide
    for question in ("staging_service_principal", "prod_service_principal"):
        principal = answers[question]
        if principal:
            assert principal.lower() in guide
        else:
            assert f"copier update --data {question}=<application id>" in guide, question
    assert DOCS[answers["cloud"]] in guide
    assert f"`{answers['default_branch']}`" in guide and f"`{answers['release_branch']}`" in guide
