"""Shared helpers for the template's tests and scripts: answer sets, rendering, running commands.

Kept out of conftest.py so that test modules and `scripts/benchmark.py` can import them by name.
"""

from __future__ import annotations

import keyword
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import pytest
from copier.errors import DirtyLocalWarning

REPO_ROOT = Path(__file__).resolve().parent.parent
# The template's own venv: its `ruff` and `uv` are the ones the tests use on rendered projects.
TOOLS_BIN = Path(sys.executable).parent

# Tests commit to git (copier commits uncommitted template changes into its clone, and generated
# projects are committed as a user would): a fixed identity makes that work on a machine with no
# git configuration, and keeps commits independent of whoever runs the tests.
GIT_IDENTITY: Mapping[str, str] = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}

# Directories that tools create inside a project; they are never part of a render.
TOOL_DIRS = frozenset(
    {".git", ".venv", ".local", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
)
ANSWERS_FILE = ".copier-answers.yml"


@dataclass(frozen=True)
class AnswerSet:
    """Answers for one render, given as `data` (questions not listed take their defaults).

    Values in the non-default sets are deliberately distinctive (no "dev", "main", "test"), so that
    finding one in the rendered files shows that the answer was really used.
    """

    id: str
    data: Mapping[str, str | bool] = field(default_factory=dict)


ANSWER_SETS: tuple[AnswerSet, ...] = (
    AnswerSet("default"),
    AnswerSet(
        "spaces-capitals",
        {
            "project_name": "Fraud Detection Model",
            "description": "Scores card payments for fraud risk so that analysts review the worst.",
            "author_name": "Risk Analytics Guild",
            "author_email": "risk.analytics@bank.example.org",
            "python_version": "3.11",
            "catalog_dev": "fraud_sandbox",
            "catalog_test": "fraud_ci",
            "catalog_staging": "fraud_preprod",
            "catalog_prod": "fraud_live",
            "schema_name": "card_fraud",
            "cloud": "azure",
            "staging_workspace_url": "https://adb-1111111111111111.11.azuredatabricks.net",
            "prod_workspace_url": "https://adb-2222222222222222.12.azuredatabricks.net",
            "read_group": "fraud-analysts",
            "staging_service_principal": "11111111-2222-4333-8444-555555555555",
            "prod_service_principal": "66666666-7777-4888-9999-000000000000",
            "compute": "classic",
            "cluster_node_type": "Standard_E8ds_v5",
            "default_branch": "develop",
            "release_branch": "production",
            "cicd_platform": "azure_devops",
            "alert_email": "fraud-oncall@bank.example.org",
            "serving_endpoint": True,
            "prod_query_group": "fraud-scoring-clients",
        },
    ),
    AnswerSet(
        "hyphens-digits",
        {
            # Derives slug "ml-2-go-fast" and package "ml_2_go_fast".
            "project_name": "ML 2 Go-Fast",
            # Characters that break naive YAML/TOML quoting: colon, hash, apostrophe, ampersand.
            "description": "Ranks leads by odds: top #10 first, for sales & marketing's teams.",
            "author_name": "Zoë O'Brien",
            "author_email": "zoe.obrien+ml@example.co.uk",
            "python_version": "3.11",
            "catalog_dev": "lab_2",
            "catalog_test": "ci_2",
            "catalog_staging": "pre_prod_2",
            "catalog_prod": "lake_2",
            "schema_name": "go_fast_v2",
            "cloud": "gcp",
            "staging_workspace_url": "https://1234567890123456.7.gcp.databricks.com",
            "prod_workspace_url": "https://6543210987654321.3.gcp.databricks.com",
            "read_group": "Sales Analytics 2",
            "staging_service_principal": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "prod_service_principal": "ffffffff-0000-4111-a222-333333333333",
            "compute": "classic",
            "cluster_node_type": "n2-highmem-8",
            "default_branch": "trunk",
            "release_branch": "releases/stable",
            "cicd_platform": "gitlab",
            "alert_email": "go-fast.alerts+ml@example.co.uk",
            "serving_endpoint": True,
            "prod_query_group": "",  # only the endpoint's owner queries prod
        },
    ),
    AnswerSet(
        "overridden-names",
        {
            "project_name": "Demand_Forecast v2",
            # Slug and package overridden, unrelated to each other and to the name.
            "project_slug": "demand-forecaster",
            "package_name": "forecasting",
            "description": "Forecasts weekly demand per store and product for replenishment.",
            "author_name": "Supply Chain Data Science",
            "author_email": "scds@retail.example",
            "python_version": "3.11",
            "catalog_dev": "_scm_dev",
            "catalog_test": "_scm_ci",
            "catalog_staging": "_scm_stage",
            "catalog_prod": "_scm_prod",
            "schema_name": "weekly_demand",
            "cloud": "azure",
            # One workspace for staging and prod; staging jobs run as whoever deploys.
            "staging_workspace_url": "https://adb-3333333333333333.3.azuredatabricks.net",
            "prod_workspace_url": "https://adb-3333333333333333.3.azuredatabricks.net",
            "read_group": "scds-readers",
            "prod_service_principal": "12345678-90ab-4cde-8f01-234567890abc",
            "compute": "classic",
            "cluster_node_type": "Standard_D8ds_v5",
            "default_branch": "master",
            "release_branch": "prod-release",
            "cicd_platform": "none",
            "prod_approval": True,
            "feature_store": True,
        },
    ),
)
DEFAULT_ANSWERS = ANSWER_SETS[0]


@dataclass(frozen=True)
class Invalid:
    """An answer set that must be refused, and the message that must name the problem."""

    id: str
    data: dict[str, str]
    question: str
    message: str


@dataclass(frozen=True)
class Rendered:
    """A rendered project and the answers copier recorded for it (derived defaults included)."""

    path: Path
    answers: Mapping[str, Any]

    @property
    def slug(self) -> str:
        return str(self.answers["project_slug"])

    @property
    def package(self) -> str:
        return str(self.answers["package_name"])


# How tests get a render: the session-cached `render_answers` fixture of conftest.py.
RenderFn = Callable[[AnswerSet], Rendered]


def recorded_answers(worker: copier.Worker) -> dict[str, Any]:
    """The answers copier writes to the answers file: questions only, no computed values."""
    return {
        key: value
        for key, value in worker.answers.combined.items()
        if isinstance(key, str)
        and not key.startswith("_")
        and key in worker.template.questions_data
        and key not in worker.answers.hidden
    }


def render(dst: Path, data: Mapping[str, str], *, pretend: bool = False) -> Rendered:
    """Render the template's working tree (uncommitted changes included) with default answers.

    `vcs_ref="HEAD"` makes copier copy local changes into its clone; the warning it gives about
    that is expected while developing, so it is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DirtyLocalWarning)
        worker = copier.run_copy(
            src_path=str(REPO_ROOT),
            dst_path=dst,
            data=dict(data),
            defaults=True,
            vcs_ref="HEAD",
            quiet=True,
            pretend=pretend,
        )
    return Rendered(path=dst, answers=recorded_answers(worker))


def project_files(root: Path) -> Iterator[Path]:
    """Every file of a project, sorted, skipping what tools create (venvs, caches, git)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in TOOL_DIRS)
        for name in sorted(filenames):
            yield Path(dirpath, name)


def read_text(path: Path) -> str | None:
    """The file's text, or None when it is not UTF-8 (a binary file)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def is_python_identifier_safe(name: str) -> bool:
    """True when `name` can be imported as a package: an identifier and not a keyword."""
    return name.isidentifier() and not keyword.iskeyword(name)


@dataclass(frozen=True)
class CommandResult:
    """A finished command with its combined output, printable as a failure report."""

    args: Sequence[str]
    cwd: Path
    returncode: int
    output: str = field(repr=False)

    def report(self, tail: int = 80) -> str:
        """The command, its exit code and the last lines of its output (the full output is
        printed by `run`, and pytest shows it with the failure)."""
        lines = self.output.splitlines()
        shown = "\n".join(lines[-tail:])
        return (
            f"`{' '.join(self.args)}` in {self.cwd} exited {self.returncode}; "
            f"last {min(tail, len(lines))} of {len(lines)} output lines:\n{shown}"
        )


def run(
    args: Sequence[str | os.PathLike[str]],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    echo: bool = True,
) -> CommandResult:
    """Run a command without stdin, capturing stdout and stderr together.

    With `echo`, the output is also printed, so that pytest shows it when the test fails. The
    timeout only keeps a hung command from eating CI's time limit; it is not a performance
    assertion.
    """
    argv = [os.fspath(a) for a in args]
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        result = CommandResult(argv, cwd, proc.returncode, proc.stdout)
    except subprocess.TimeoutExpired as exc:
        partial = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
        result = CommandResult(argv, cwd, -1, f"{partial}\n[timed out after {timeout:.0f} s]")
    if echo:
        print(f"$ {' '.join(argv)}  (in {cwd}, exit {result.returncode})\n{result.output}")
    return result


# Variables that would make a generated project talk to something other than its local default,
# or that belong to the test run itself rather than to a user's shell.
_FOREIGN_ENV_PREFIXES = (
    "MLFLOW_",
    "DATABRICKS_",
    "PYSPARK_",
    "SPARK_",
    "PYTEST_",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "CONDA_",
)


def user_env(**overrides: str) -> dict[str, str]:
    """The environment of a user's shell in a fresh clone: no venv activated (the template's venv
    is taken off PATH), nothing pointing at a Databricks workspace or an MLflow server.

    Spark binds to loopback (the machine may have no resolvable hostname); uv must never try to
    download a Python (none can be fetched here, and the current one is always used).
    """
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(_FOREIGN_ENV_PREFIXES)
    }
    env["PATH"] = os.pathsep.join(
        part
        for part in env.get("PATH", "").split(os.pathsep)
        if part and Path(part).resolve() != TOOLS_BIN.resolve()
    )
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.update(GIT_IDENTITY)
    env.update(overrides)
    return env


def git_commit_all(project: Path, message: str, *, echo: bool = True) -> None:
    """`git init` and commit everything, as a user does right after `copier copy`."""
    env = user_env()
    for args in (
        ["git", "init", "--quiet", "--initial-branch", "main"],
        ["git", "add", "--all"],
        ["git", "-c", "commit.gpgsign=false", "commit", "--quiet", "--message", message],
    ):
        result = run(args, cwd=project, env=env, timeout=120, echo=echo)
        if result.returncode != 0:
            raise RuntimeError(result.report())


def git_untracked_or_changed(project: Path) -> list[str]:
    """Files that `git status` reports: what a command left behind that .gitignore misses."""
    result = run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        env=user_env(),
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(result.report())
    return [line for line in result.output.splitlines() if line.strip()]


@dataclass(frozen=True)
class InstalledProject:
    """A rendered, committed project with its own virtual environment in `.venv`."""

    rendered: Rendered

    @property
    def path(self) -> Path:
        return self.rendered.path

    def bin(self, name: str) -> Path:
        """A console script or interpreter of the project's venv."""
        return self.path / ".venv" / "bin" / name


# Whether this process has installed a project from the package index yet (see install_project).
_index_consulted = False


def install_project(rendered: Rendered, *, echo: bool = True) -> InstalledProject:
    """Create the project's venv with the template venv's uv and install it with its dev extras.

    Always the current interpreter: whatever `python_version` was answered, no other Python can be
    downloaded here. The installed modules are compiled as `pip install` compiles them: where
    PYTHONDONTWRITEBYTECODE is set (as on CI machines), every process, Spark's Python workers
    included, would otherwise compile MLflow's and PySpark's sources again (3-4 s of a worker's
    start).

    The first install of a test process asks the package index, so that the tests run on the
    releases a user gets today. Later installs try uv's cache alone first (`--offline`), and ask
    the index only when the cache lacks something: an index that answers uv's revalidation as
    "modified" (as some mirrors do) costs a download and a build of PySpark's source archive per
    install, about 30 s.
    """
    global _index_consulted
    uv = TOOLS_BIN / "uv"
    env = user_env()
    venv = run(
        [uv, "venv", "--quiet", "--python", sys.executable, ".venv"], rendered.path, env, echo=echo
    )
    if venv.returncode != 0:
        raise RuntimeError(venv.report())
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode"]
    install += ["--python", ".venv/bin/python", "-e", ".[dev]"]
    if _index_consulted:
        cached = run([*install, "--offline"], rendered.path, env, timeout=1800, echo=False)
        if cached.returncode == 0:
            return InstalledProject(rendered)
    result = run(install, cwd=rendered.path, env=env, timeout=1800, echo=echo)
    if result.returncode != 0:
        raise RuntimeError(result.report())
    _index_consulted = True
    return InstalledProject(rendered)


InstallFn = Callable[[AnswerSet], InstalledProject]


def on_its_worker(answer_set: AnswerSet) -> pytest.MarkDecorator:
    """Keep an answer set's slow tests on one pytest-xdist worker (scripts/test distributes with
    `--dist loadgroup`), where they share the project the `installed` fixture installs once."""
    return pytest.mark.xdist_group(answer_set.id)
