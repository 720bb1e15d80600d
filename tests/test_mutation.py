"""Mutation testing's setup, checked in seconds: the full run (scripts/mutation) takes hours.

- every rendered project mutates modules that exist, with the files its unit tests need;
- the report script scores a run the way its docstring says and fails on what it must fail on;
- every recorded equivalent mutant still names code that exists, so a stale entry is found here,
  not hours into the weekly run;
- the weekly workflow passes the same checks as the workflows we generate.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from support import REPO_ROOT, TOOLS_BIN, Rendered, run

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "mutation.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def mutmut_config(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text())["tool"]["mutmut"]


@pytest.fixture
def report_script(default_render: Rendered, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The rendered project's scripts/mutation_report.py, imported."""
    path = default_render.path / "scripts" / "mutation_report.py"
    spec = importlib.util.spec_from_file_location("mutation_report", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_mutated_modules_and_copied_files_exist(rendered: Rendered) -> None:
    config = mutmut_config(rendered.path)
    assert len(config["only_mutate"]) >= 7
    for pattern in config["only_mutate"]:
        assert (rendered.path / pattern).is_file(), f"[tool.mutmut] mutates a missing {pattern}"
    for path in config["also_copy"] + config["pytest_add_cli_args_test_selection"]:
        assert (rendered.path / path).exists(), f"[tool.mutmut] names a missing {path}"


def test_mutant_names_map_to_module_and_function(report_script: ModuleType) -> None:
    assert report_script.function_of("churn.deploy.x_decide__mutmut_3") == (
        "deploy",
        "deploy.decide",
    )
    assert report_script.function_of("churn.deploy.x__refuse__mutmut_12") == (
        "deploy",
        "deploy._refuse",
    )
    assert report_script.function_of("churn.jobs.xǁJobRunnerǁ_run_task__mutmut_1") == (
        "jobs",
        "jobs.JobRunner._run_task",
    )


def write_meta(root: Path, module: str, exit_codes: dict[str, int | None]) -> None:
    meta = root / "mutants" / "src" / "churn" / f"{module}.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    keys = {f"churn.{module}.x_f__mutmut_{i}": code for i, code in enumerate(exit_codes.values())}
    meta.write_text(json.dumps({"exit_code_by_key": keys}))


def test_score_counts_timeouts_as_detected_and_untested_mutants_as_missed(
    report_script: ModuleType, tmp_path: Path
) -> None:
    # killed, killed by an internal error, timeout, survived, no tests
    write_meta(tmp_path, "deploy", {"a": 1, "b": 3, "c": 36, "d": 0, "e": 33})
    mutants = report_script.read_mutants(tmp_path / "mutants" / "src")
    statuses = sorted(m.status for m in mutants)
    assert statuses == ["killed", "killed", "no tests", "survived", "timeout"]
    counts = report_script.Counter(m.status for m in mutants)
    assert report_script.score(counts) == pytest.approx(3 / 5)


def survivor(report_script: ModuleType, reason: str | None) -> object:
    mutant = report_script.Mutant(
        "churn.deploy.x_decide__mutmut_1", "deploy", "deploy.decide", "survived"
    )
    return report_script.Survivor(mutant, "if a >= b:", "if a > b:", reason)


def test_an_unexplained_survivor_fails_the_run_and_is_shown_with_its_diff(
    report_script: ModuleType,
) -> None:
    mutants = [
        report_script.Mutant(f"churn.deploy.x_f__mutmut_{i}", "deploy", "deploy.f", "killed")
        for i in range(19)
    ]
    missed = survivor(report_script, None)
    mutants.append(missed.mutant)

    failures = report_script.problems(mutants, [missed])
    report = report_script.render(mutants, [missed], [])

    assert failures == ["1 surviving mutants are not explained in tests/mutation_equivalents.toml"]
    assert "- if a >= b:" in report and "+ if a > b:" in report
    assert "| **all** | 20 | 19 | 0 | 1 | 0 | 95.0% |" in report


def test_explained_survivors_pass_unless_the_score_is_too_low(report_script: ModuleType) -> None:
    explained = survivor(report_script, "equal scores cannot occur")
    killed = report_script.Mutant("churn.deploy.x_f__mutmut_0", "deploy", "deploy.f", "killed")

    assert report_script.problems([killed] * 9 + [explained.mutant], [explained]) == []
    assert report_script.problems([killed] * 8 + [explained.mutant] * 2, [explained] * 2) == [
        "score 80.0% is below the required 90.0%"
    ]


def test_a_run_that_did_not_finish_fails(report_script: ModuleType, tmp_path: Path) -> None:
    write_meta(tmp_path, "deploy", {"a": 1, "b": None})
    mutants = report_script.read_mutants(tmp_path / "mutants" / "src")
    assert "1 mutants were never run: the mutmut run did not finish" in report_script.problems(
        mutants, []
    )
    assert report_script.problems([], [])[0].startswith("no mutants under")


def defined_functions(source: str) -> set[str]:
    """Names of a module's functions and methods, as the report writes them (Class.method)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef)
            }
    return names


def test_every_recorded_equivalent_still_names_existing_code(default_render: Rendered) -> None:
    project = default_render.path
    entries = tomllib.loads((project / "tests" / "mutation_equivalents.toml").read_text())
    package = project / "src" / default_render.package
    for entry in entries.get("equivalent", []):
        module, function = entry["function"].split(".", 1)
        source = (package / f"{module}.py").read_text()
        assert function in defined_functions(source), f"{entry['function']} no longer exists"
        for line in entry["original"].strip().splitlines():
            assert line.strip() in source, f"{entry['function']}: {line!r} is no longer there"
        assert entry["reason"].strip(), f"{entry['function']}: give the reason"


def test_weekly_workflow_is_valid_pinned_and_runs_the_one_command() -> None:
    run(
        [TOOLS_BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        cwd=REPO_ROOT,
    )
    run(
        [TOOLS_BIN / "zizmor", "--offline", "--no-progress", "--color", "never", WORKFLOW.parent],
        cwd=REPO_ROOT,
    )
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(PINNED.match(action) for action in uses), uses
    assert any(step.get("run") == "scripts/mutation" for step in steps)
    assert (REPO_ROOT / "scripts" / "mutation").stat().st_mode & 0o111
