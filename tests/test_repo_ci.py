"""The template repository's own GitHub workflows (.github/workflows/) meet the bar the generated
projects' workflows meet (tests/test_cicd.py, with the same helpers):

- they pass the GitHub workflow schema and `zizmor --offline` without findings, and every action
  is pinned to a full commit SHA with its release in a comment;
- ci.yml's slow matrix runs every slow test exactly once: one job per answer set of
  tests/support.py, on the Python that answer set answers;
- `.ci/run` (scripts/test) keeps each answer set's tests on one pytest-xdist worker, so that the
  project of an answer set is installed once;
- the bundle schema ci.yml checks against .github/bundle-schema.sha256 comes from the Databricks
  CLI version it installs, and is the schema the bundle tests use here (when one is given).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from bundle_checks import SCHEMA_ENV
from cicd_checks import (
    SCHEMAS,
    ZIZMOR_OPTIONS,
    action_references,
    load_yaml,
    unpinned_actions,
)
from support import ANSWER_SETS, REPO_ROOT, TOOLS_BIN, run, user_env

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
CI_WORKFLOW = WORKFLOWS_DIR / "ci.yml"
SCHEMA_CHECKSUM = REPO_ROOT / ".github" / "bundle-schema.sha256"
SETUP_CLI = "databricks/setup-cli@"


def test_the_repository_has_its_ci_workflow() -> None:
    assert CI_WORKFLOW in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_the_github_workflow_schema(workflow: Path) -> None:
    result = run(
        [TOOLS_BIN / "check-jsonschema", *SCHEMAS["github_actions"], workflow],
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.report()


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    result = run([TOOLS_BIN / "zizmor", *ZIZMOR_OPTIONS, WORKFLOWS_DIR], cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.report()
    assert "No findings" in result.output, result.report()


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_to_commits(workflow: Path) -> None:
    text = workflow.read_text(encoding="utf-8")
    assert action_references(text)
    assert unpinned_actions(text) == []


# --- The slow tests' matrix ---------------------------------------------------------------------


def _slow_matrix() -> list[dict[str, Any]]:
    return load_yaml(CI_WORKFLOW)["jobs"]["slow-tests"]["strategy"]["matrix"]["include"]


def _collected(*args: str) -> list[str]:
    """The ids of the tests pytest selects with these arguments (collection only)."""
    result = run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT,
        timeout=300,
        echo=False,
    )
    assert result.returncode == 0, result.report()
    return [line for line in result.output.splitlines() if "::" in line]


def test_slow_matrix_has_a_job_per_answer_set_on_its_python() -> None:
    copier = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    default_python = copier["python_version"]["default"]
    entries = {entry["tests"]: entry for entry in _slow_matrix()}
    assert set(entries) == {a.id for a in ANSWER_SETS}
    for answer_set in ANSWER_SETS:
        entry = entries[answer_set.id]
        assert entry["select"] == answer_set.id
        assert entry["python"] == answer_set.data.get("python_version", default_python)


def test_slow_matrix_runs_every_slow_test_exactly_once() -> None:
    every_slow_test = _collected("-m", "slow")
    assert every_slow_test
    selected = []
    for entry in _slow_matrix():
        tests = _collected("-m", "slow", "-k", entry["select"])
        assert tests, f"the slow job {entry['tests']!r} selects no test"
        selected += tests
    assert sorted(selected) == sorted(every_slow_test)


def test_scripts_test_keeps_each_xdist_group_on_one_worker(tmp_path: Path) -> None:
    # The slow tests of one answer set share its installed project on one worker, through
    # `xdist_group` marks and `--dist loadgroup`. When the grouping breaks, nothing fails: each
    # worker installs and trains every project again, and CI takes minutes longer.
    (tmp_path / "test_groups.py").write_text(
        textwrap.dedent(
            """
            import os
            import time

            import pytest

            BY_GROUP = [pytest.param(g, id=g, marks=pytest.mark.xdist_group(g)) for g in "abcd"]


            def record(group):
                time.sleep(0.2)  # long enough for both workers to take tests
                with open("workers.txt", "a") as out:
                    out.write(f"{group} {os.environ['PYTEST_XDIST_WORKER']}\\n")


            @pytest.mark.parametrize("group", BY_GROUP)
            def test_first(group):
                record(group)


            @pytest.mark.parametrize("group", BY_GROUP)
            def test_second(group):
                record(group)
            """
        ),
        encoding="utf-8",
    )
    distribution = ["-n", "2", "--dist", "loadgroup"]  # as scripts/test passes them
    result = run(
        [sys.executable, "-m", "pytest", *distribution, "-p", "no:cacheprovider"],
        cwd=tmp_path,
        timeout=300,
        echo=False,
    )
    assert result.returncode == 0, result.report()
    pairs = [line.split() for line in (tmp_path / "workers.txt").read_text().splitlines()]
    workers_of = {group: {w for g, w in pairs if g == group} for group in "abcd"}
    assert len(pairs) == 8 and {w for _, w in pairs} == {"gw0", "gw1"}, pairs
    assert all(len(workers) == 1 for workers in workers_of.values()), (
        f"a group's tests ran on more than one worker: {workers_of}"
    )


def test_projects_run_by_a_worker_get_its_share_of_the_cores() -> None:
    # Each worker runs projects whose scikit-learn would start a thread per core: two workers'
    # teams on two cores wait for each other's descheduled threads (tests/conftest.py).
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers == 1:
        pytest.skip("one worker has every core")
    threads = user_env().get("OMP_NUM_THREADS")
    assert threads is not None, "the projects' commands would start a thread per core"
    assert int(threads) >= 1


# --- The bundle schema --------------------------------------------------------------------------


def _pinned_checksum() -> str:
    lines = [
        line
        for line in SCHEMA_CHECKSUM.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1, lines
    match = re.fullmatch(r"([0-9a-f]{64})  bundle-schema\.json", lines[0])
    assert match, f"{SCHEMA_CHECKSUM}: not `<sha256>  bundle-schema.json`: {lines[0]}"
    return match.group(1)


def test_the_schema_checksum_is_of_the_cli_version_ci_installs() -> None:
    _pinned_checksum()
    steps = [
        step
        for job in load_yaml(CI_WORKFLOW)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(SETUP_CLI)
    ]
    assert len(steps) == 1, "one job installs the Databricks CLI"
    version = str(steps[0]["with"]["version"])
    references = action_references(CI_WORKFLOW.read_text(encoding="utf-8"))
    release = [rest for action, rest in references if action.startswith(SETUP_CLI)]
    assert release == [f" # v{version}"], "the action's release installs the same CLI version"
    assert f"Databricks CLI {version}," in SCHEMA_CHECKSUM.read_text(encoding="utf-8")


def test_the_bundle_tests_use_the_pinned_schema() -> None:
    configured = os.environ.get(SCHEMA_ENV)
    if not configured:
        pytest.skip(f"{SCHEMA_ENV} is not set (.ci/run and CI set it)")
    digest = hashlib.sha256(Path(configured).read_bytes()).hexdigest()
    assert digest == _pinned_checksum(), (
        f"{configured} is not the schema {SCHEMA_CHECKSUM.name} pins: a new Databricks CLI "
        "version? Update the checksum and the version in .github/workflows/ci.yml together."
    )
