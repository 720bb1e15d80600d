"""The bundle checks catch what they claim to catch.

Each test breaks one thing in a copy of the default render, the way a hand edit could, and expects
the matching check of `bundle_checks` to name it; the unbroken render passes them all
(tests/test_bundle.py), so none of the checks passes vacuously.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
from bundle_checks import (
    BundleError,
    bundle_schema,
    check_paths,
    check_references,
    check_schema,
    check_settings,
    check_tasks,
    check_typed_resources,
    effective_pause_status,
    launcher_cell,
    load_bundle,
)
from support import Rendered

TRAINING_JOB = "resources/model_training_job.yml"
INFERENCE_JOB = "resources/batch_inference_job.yml"
ML_ARTIFACTS = "resources/ml_artifacts.yml"
BUNDLE = "databricks.yml"
PYPROJECT = "pyproject.toml"

Breaker = Callable[[str, str, str], Path]


@pytest.fixture
def broken(default_render: Rendered, tmp_path: Path) -> Breaker:
    """A copy of the default render with one text replacement in one file."""

    def break_(relative: str, old: str, new: str) -> Path:
        project = tmp_path / "project"
        if not project.exists():
            shutil.copytree(default_render.path, project)
        path = project / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in {relative}: the test is out of date"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return project

    return break_


def only(problems: list[str], *fragments: str) -> None:
    """The check reports something, and every expected fragment is in one of its problems."""
    assert problems, "the check found nothing"
    for fragment in fragments:
        assert any(fragment in p for p in problems), f"{fragment!r} not in {problems}"


def test_undeclared_variable(broken: Breaker) -> None:
    project = broken(BUNDLE, "group_name: ${var.read_group}", "group_name: ${var.readers}")
    only(check_references(load_bundle(project)), "${var.readers} is not declared")


def test_variable_without_value_in_a_target(broken: Breaker) -> None:
    project = broken(BUNDLE, 'catalog: "staging"', 'schema: "other"')
    only(check_references(load_bundle(project)), "[staging] variable catalog has no value")


def test_unused_variable(broken: Breaker) -> None:
    project = broken(
        BUNDLE, "variables:\n", "variables:\n  forgotten:\n    default: x\n"
    )  # fmt: skip
    only(check_references(load_bundle(project)), "variable forgotten is declared but never used")


def test_reference_to_a_missing_resource(broken: Breaker) -> None:
    project = broken(
        ML_ARTIFACTS, "resources.jobs.model_training_job.name", "resources.jobs.training.name"
    )
    only(check_references(load_bundle(project)), "${resources.jobs.training.name} names no")


def test_same_resource_in_two_files(broken: Breaker) -> None:
    project = broken(INFERENCE_JOB, "batch_inference_job:", "model_training_job:")
    with pytest.raises(BundleError, match="model_training_job is defined in both"):
        load_bundle(project)


def test_entry_point_that_is_not_declared(broken: Breaker) -> None:
    project = broken(INFERENCE_JOB, "entry_point: customer_churn_task", "entry_point: main")
    only(check_tasks(load_bundle(project), "customer_churn"), "entry point 'main' is not declared")


def test_entry_point_that_the_launcher_cannot_compile(broken: Breaker) -> None:
    # A hyphenated console script that is declared and runs `main`, so only the launcher check can
    # object: the cell's fallback line `customer_churn.customer-churn-in-1a()` is a SyntaxError
    # (`customer-churn` alone would parse, as a subtraction).
    broken(PYPROJECT, 'customer-churn = "', 'customer-churn-in-1a = "')
    project = broken(
        INFERENCE_JOB, "entry_point: customer_churn_task", "entry_point: customer-churn-in-1a"
    )
    problems = check_tasks(load_bundle(project), "customer_churn")
    only(problems, "batch_inference_job.ingest_batch: Databricks' launcher cell does not compile")
    assert not [p for p in problems if "not declared" in p], problems


def test_package_name_of_another_distribution(broken: Breaker) -> None:
    project = broken(INFERENCE_JOB, 'package_name: "customer_churn"', 'package_name: "churn"')
    only(check_tasks(load_bundle(project), "customer_churn"), "package_name 'churn' is not")


def test_package_name_that_yaml_reads_as_null(broken: Breaker) -> None:
    project = broken(INFERENCE_JOB, 'package_name: "customer_churn"', "package_name: null")
    only(check_tasks(load_bundle(project), "customer_churn"), "package_name None and entry_point")


def test_launcher_cell_calls_the_entry_point_without_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cell runs as the docstring of `launcher_cell` says: argv set, no-argument call, the
    return value dropped."""
    calls: list[tuple[list[str], tuple[object, ...]]] = []

    def entry(*args: object) -> int:
        calls.append((list(sys.argv), args))
        return 3  # an exit status: ignored by the launcher

    point = SimpleNamespace(name="churn_task", load=lambda: entry)
    monkeypatch.setattr(
        metadata,
        "distribution",
        lambda name: SimpleNamespace(entry_points=[point] if name == "churn" else []),
    )
    monkeypatch.setattr(sys, "argv", ["pytest"])
    parameters = ["validate", "--model-version", '{{tasks.train.values.model_version}} "x"']
    exec(compile(launcher_cell("churn", "churn_task", parameters), "<launcher>", "exec"), {})
    assert calls == [(["churn", *parameters], ())]


def test_unknown_subcommand_and_option(broken: Breaker) -> None:
    project = broken(TRAINING_JOB, "[features, --env", "[featurize, --environment")
    only(
        check_tasks(load_bundle(project), "customer_churn"),
        "['featurize'] is not a subcommand",
        "has no option --environment",
    )


def test_env_that_settings_do_not_define(broken: Breaker) -> None:
    project = broken(INFERENCE_JOB, '[score, --env, "${bundle.target}"]', "[score, --env, local]")
    only(check_tasks(load_bundle(project), "customer_churn"), "--env local is not a Databricks")


def test_task_value_of_a_task_that_runs_later(broken: Breaker) -> None:
    project = broken(
        TRAINING_JOB, "depends_on:\n            - task_key: train", "depends_on:\n"
        "            - task_key: features",
    )  # fmt: skip
    only(
        check_tasks(load_bundle(project), "customer_churn"),
        "reads task train, which does not run before validate",
    )


def test_task_value_the_package_does_not_publish(broken: Breaker) -> None:
    project = broken(TRAINING_JOB, "values.model_version", "values.version")
    only(check_tasks(load_bundle(project), "customer_churn"), "publishes no task value 'version'")


def test_wheel_outside_the_artifact_output(broken: Breaker) -> None:
    project = broken(INFERENCE_JOB, "- ../dist/*.whl", "- ../build/*.whl")
    only(check_paths(load_bundle(project)), "../build/*.whl matches no file")


def test_artifact_without_a_project(broken: Breaker) -> None:
    project = broken(BUNDLE, "path: .", "path: ./wheel")
    only(check_paths(load_bundle(project)), "has no pyproject.toml to build")


def test_unknown_field_and_bad_enum_fail_the_typed_classes(broken: Breaker) -> None:
    broken(TRAINING_JOB, "max_concurrent_runs: 1", "max_concurrent_runs: 1\n      retries: 3")
    project = broken(
        INFERENCE_JOB, "timezone_id: UTC", "timezone_id: UTC\n        pause_status: STOPPED"
    )
    only(
        check_typed_resources(load_bundle(project)),
        "Unexpected field 'retries'",
        "'STOPPED' is not a valid PauseStatus",
    )


def test_target_catalog_that_settings_do_not_use(broken: Breaker) -> None:
    project = broken(BUNDLE, 'catalog: "prod"', 'catalog: "production"')
    only(
        check_settings(load_bundle(project), "customer_churn"),
        "[prod] var.catalog is 'production', settings.toml [prod] says 'prod'",
        "[prod] registered_models.model is 'production.",
    )


def test_experiment_that_settings_do_not_use(broken: Breaker) -> None:
    project = broken(BUNDLE, "/Shared/customer-churn/${bundle.target}", "/Shared/churn")
    only(
        check_settings(load_bundle(project), "customer_churn"),
        "[test] var.experiment_name is '/Shared/churn'",
        "[prod] experiments.experiment is '/Shared/churn'",
    )


def test_schema_violation(broken: Breaker, tmp_path: Path) -> None:
    schema, how = bundle_schema(tmp_path)
    if schema is None:
        pytest.skip(how)
    project = broken(INFERENCE_JOB, "timeout_seconds: 3600", "timeout_seconds: [3600]")
    only(
        check_schema(load_bundle(project), schema, tmp_path),
        "$.resources.jobs.batch_inference_job.timeout_seconds",
    )


@pytest.mark.parametrize(
    ("config", "schedule", "expected"),
    [
        ({"bundle": {"mode": "development"}}, {}, "PAUSED"),
        ({"bundle": {"mode": "production"}}, {}, "UNPAUSED"),
        ({"bundle": {}, "presets": {"trigger_pause_status": "PAUSED"}}, {}, "PAUSED"),
        ({"bundle": {"mode": "development"}}, {"pause_status": "UNPAUSED"}, "UNPAUSED"),
        ({"bundle": {}, "presets": {"trigger_pause_status": "PAUSED"}},
         {"pause_status": "UNPAUSED"}, "UNPAUSED"),
    ],
)  # fmt: skip
def test_pause_status_follows_the_cli_presets(config: dict, schedule: dict, expected: str) -> None:
    assert effective_pause_status(config, schedule) == expected
