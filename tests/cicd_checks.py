"""Reading a rendered project's CI/CD configuration: which files each platform gets, every shell
command its jobs run, and the Makefile those commands call.

The pipelines must run nothing but the project's own entry points (Makefile targets, which call
its console script, scripts and dev tools), so a test can check each command against the rendered
project instead of trusting the YAML.
"""

from __future__ import annotations

import json
import re
import shlex
import stat
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PLATFORMS = ("github_actions", "azure_devops", "gitlab", "none")

# The pipeline files of each platform, relative to the project, and the JSON schema that
# check-jsonschema validates them against (with its extra options).
CI_FILES: Mapping[str, tuple[str, ...]] = {
    "github_actions": (".github/workflows/ci.yml",),
    "azure_devops": (".azure/azure-pipelines.yml",),
    "gitlab": (".gitlab-ci.yml",),
    "none": (),
}
SCHEMAS: Mapping[str, tuple[str, ...]] = {
    "github_actions": ("--builtin-schema", "vendor.github-workflows"),
    "azure_devops": ("--builtin-schema", "vendor.azure-pipelines", "--regex-variant", "nonunicode"),
    "gitlab": ("--builtin-schema", "vendor.gitlab-ci"),
}
# How the tests run zizmor, GitHub Actions' security linter: offline (no GitHub API, no token),
# plain output. It prints "No findings" when it finds nothing.
ZIZMOR_OPTIONS = ("--offline", "--no-progress", "--color", "never")
# A `uses:` reference pinned to a full commit SHA, and the comment naming its release.
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
RELEASE_COMMENT = re.compile(r"\s+# v\d+(\.\d+)*$")
# Where each platform keeps CI configuration; with `none`, none of them may exist.
CI_LOCATIONS = (
    ".github",
    ".gitlab-ci.yml",
    ".azure",
    ".azure-pipelines.yml",
    "azure-pipelines.yml",
)

# The scheduled job that proposes template updates (`copier check-update`, `copier update`), where a
# platform has one. GitLab and Azure DevOps projects get none: their docs/updating.md says what to
# schedule. Every such job must check that the template has a release tag before copier runs:
# without one, copier falls back to the template's latest commit.
UPDATE_JOB_FILES: Mapping[str, tuple[str, ...]] = {
    "github_actions": (".github/workflows/template-update.yml",),
    "azure_devops": (),
    "gitlab": (),
    "none": (),
}
COPIER_UPDATE_COMMANDS = ("copier check-update", "copier update")
RELEASE_TAGS_CHECK = "git ls-remote --tags"

# Commands a job may run besides `make`: preparing the runner image, nothing of the project.
RUNNER_SETUP: Mapping[str, frozenset[str]] = {
    "github_actions": frozenset(),
    "azure_devops": frozenset(),
    "gitlab": frozenset({"apt-get"}),
}

# The jobs of resources/ that `make bundle-run` runs on the `test` target, in this order.
PULL_REQUEST_JOBS = ("model_training_job", "batch_inference_job", "monitoring_job")

# How each platform's deploy jobs tell `make bundle-deploy` the branch they build (its runners
# check out a detached HEAD): the environment variable DEPLOY_BRANCH, set to the platform's own
# expression, and what that expression stands for on a given branch.
DEPLOY_BRANCH_FROM: Mapping[str, tuple[str, str]] = {
    "github_actions": ("${{ github.ref }}", "refs/heads/{}"),
    "gitlab": ("$CI_COMMIT_BRANCH", "{}"),
    "azure_devops": ("$(Build.SourceBranch)", "refs/heads/{}"),
}


class _GitLabLoader(yaml.SafeLoader):
    """Safe loader that reads GitLab's `!reference` tags as plain sequences."""


_GitLabLoader.add_constructor(
    "!reference",
    lambda loader, node: loader.construct_sequence(node),  # type: ignore[arg-type]
)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_GitLabLoader)


def action_references(workflow_text: str) -> list[tuple[str, str]]:
    """(reference, rest of the line) of every `uses:` in a GitHub workflow's text."""
    return re.findall(r"uses:\s*(\S+)(.*)", workflow_text)


def unpinned_actions(workflow_text: str) -> list[str]:
    """The `uses:` of a GitHub workflow that are not pinned to a full commit SHA followed by a
    `# vX.Y.Z` comment saying which release that commit is."""
    problems = []
    for action, rest in action_references(workflow_text):
        if not SHA_PIN.match(action):
            problems.append(f"{action} is not pinned to a full commit SHA")
        elif not RELEASE_COMMENT.match(rest):
            problems.append(f"{action}: say which release it is")
    return problems


@dataclass(frozen=True)
class CiCommand:
    """One shell command line of a CI job, with the environment variables the job gives it."""

    job: str
    line: str
    env: tuple[tuple[str, str], ...] = ()

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.line)


def _lines(script: str | list[str] | None) -> Iterator[str]:
    """Command lines of a `run:`/`script:` value, without blank lines and comments."""
    if script is None:
        return
    entries = script if isinstance(script, list) else [script]
    for entry in entries:
        for line in str(entry).splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                yield line


def _env(*mappings: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The environment of a command: the mappings merged, later ones winning, values as text."""
    merged: dict[str, str] = {}
    for mapping in mappings:
        merged.update({str(k): str(v) for k, v in (mapping or {}).items()})
    return tuple(sorted(merged.items()))


def github_commands(workflow: Mapping[str, Any]) -> Iterator[CiCommand]:
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            env = _env(workflow.get("env"), job.get("env"), step.get("env"))
            for line in _lines(step.get("run")):
                yield CiCommand(job_id, line, env)


def gitlab_jobs(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every job and hidden template, with `extends` applied (variables merged key by key)."""
    reserved = {
        "workflow",
        "stages",
        "default",
        "variables",
        "include",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    }
    raw = {k: v for k, v in config.items() if k not in reserved and isinstance(v, dict)}

    def resolved(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in seen:
            raise ValueError(f"extends cycle through {name}")
        job = dict(raw[name])
        parents = job.pop("extends", [])
        merged: dict[str, Any] = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            merged = _merge(merged, resolved(parent, (*seen, name)))
        return _merge(merged, job)

    return {name: resolved(name) for name in raw}


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """GitLab's `extends` merge: hashes deeply, everything else replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def gitlab_commands(config: Mapping[str, Any]) -> Iterator[CiCommand]:
    for name, job in gitlab_jobs(config).items():
        env = _env(config.get("variables"), job.get("variables"))
        for section in ("before_script", "script", "after_script"):
            for line in _lines(job.get(section)):
                yield CiCommand(name, line, env)


def azure_jobs(pipeline: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(stage name, stage, job) of every job, deployment jobs included."""
    for stage in pipeline.get("stages", []):
        for job in stage.get("jobs", []):
            yield stage["stage"], stage, job


def azure_steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "steps" in job:
        return job["steps"]
    return job["strategy"]["runOnce"]["deploy"]["steps"]


def azure_commands(pipeline: Mapping[str, Any]) -> Iterator[CiCommand]:
    for stage_name, _stage, job in azure_jobs(pipeline):
        name = f"{stage_name}/{job.get('job') or job.get('deployment')}"
        for step in azure_steps(job):
            env = _env(pipeline.get("variables"), job.get("variables"), step.get("env"))
            if "script" in step:
                yield from (CiCommand(name, line, env) for line in _lines(step["script"]))
            elif str(step.get("task", "")).startswith("AzureCLI@"):
                inputs = step["inputs"]
                assert inputs.get("scriptLocation") == "inlineScript", step
                lines = _lines(inputs["inlineScript"])
                yield from (CiCommand(name, line, env) for line in lines)


def file_commands(project: Path, platform: str, rel: str) -> list[CiCommand]:
    """Every command line of one CI file of the platform, in the order its jobs run them."""
    readers = {
        "github_actions": github_commands,
        "gitlab": gitlab_commands,
        "azure_devops": azure_commands,
    }
    return list(readers[platform](load_yaml(project / rel)))


def ci_commands(project: Path, platform: str) -> list[CiCommand]:
    """Every command line that the platform's pipeline runs."""
    commands: list[CiCommand] = []
    for rel in CI_FILES[platform]:
        commands.extend(file_commands(project, platform, rel))
    return commands


def ci_files(project: Path, platform: str) -> list[str]:
    """Every CI file a rendered project has for its platform: the pipeline, and on GitHub each
    workflow (the template update job's too)."""
    files = set(CI_FILES[platform])
    if platform == "github_actions":
        workflows = project / ".github" / "workflows"
        files |= {path.relative_to(project).as_posix() for path in workflows.glob("*.yml")}
    return sorted(files)


@dataclass(frozen=True)
class MakeCall:
    """`make <goals> VAR=value ...` as a CI job runs it."""

    goals: tuple[str, ...]
    variables: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, argv: list[str]) -> MakeCall:
        assert argv and argv[0] == "make", argv
        goals, variables = [], []
        for arg in argv[1:]:
            if arg.startswith("-"):
                raise ValueError(f"CI passes make options ({arg}); targets should say it all")
            if "=" in arg:
                name, _, value = arg.partition("=")
                variables.append((name, value))
            else:
                goals.append(arg)
        return cls(tuple(goals), tuple(variables))

    @property
    def target(self) -> str | None:
        return dict(self.variables).get("TARGET")


def make_calls(commands: list[CiCommand]) -> list[MakeCall]:
    return [MakeCall.parse(c.argv) for c in commands if c.argv[0] == "make"]


@dataclass(frozen=True)
class Makefile:
    """The targets of a Makefile with their recipe lines, and the variables it assigns."""

    targets: dict[str, list[str]]
    variables: dict[str, str]
    documented: set[str]

    @classmethod
    def read(cls, path: Path) -> Makefile:
        targets: dict[str, list[str]] = {}
        variables: dict[str, str] = {}
        documented: set[str] = set()
        current: str | None = None
        lines = path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
        for line in lines:
            if line.startswith("\t"):
                if current is not None:
                    targets[current].append(line.strip())
                continue
            current = None
            assignment = re.match(
                r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[:?+]?=\s*(.*)$", line
            )
            rule = re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)(.*)$", line)
            if assignment:
                variables[assignment.group(1)] = assignment.group(2).strip()
            elif rule:
                for name in rule.group(1).split():
                    if name.startswith("."):
                        continue
                    targets.setdefault(name, [])
                    current = name
                    if "## " in rule.group(2):
                        documented.add(name)
        return cls(targets, variables, documented)

    def recipe_commands(self) -> Iterator[tuple[str, str]]:
        """(target, command line) of every recipe line, without make's `@` prefix; a line
        `$(foreach var,list,command$(newline))` gives its command."""
        for target, recipe in self.targets.items():
            for line in recipe:
                line = line.lstrip("@-+ ")
                loop = re.fullmatch(r"\$\(foreach \w+,[^,]*,(.*)\)", line)
                if loop:
                    line = loop.group(1).replace("$(newline)", "").strip()
                yield target, line


def dev_distributions(project: Path) -> set[str]:
    """Normalized names of the distributions that `pip install -e '.[dev]'` adds."""
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    names = set()
    for requirement in data["project"]["optional-dependencies"]["dev"]:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, requirement
        names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def console_scripts(project: Path) -> set[str]:
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["project"].get("scripts", {}))


class FakeDatabricks:
    """A stand-in `databricks` in `<root>/bin`, for running the Makefile's bundle targets with
    `VENV=<root>` (the Makefile puts `$(VENV)/bin` first on PATH). It records each call's
    arguments and fails the calls that name `fail`.

    Like a workspace, it answers `current-user me --output json` as `user`, a direct member of
    `groups`, and `registered-models get <full name> --output json` with the owner that `models`
    gives that model; any other model does not exist, which it reports as Unity Catalog does.
    """

    def __init__(
        self,
        root: Path,
        fail: str = "",
        *,
        user: str = "deployer@example.com",
        groups: tuple[str, ...] = (),
        models: Mapping[str, str] | None = None,
    ) -> None:
        self.venv = root
        self.log = root / "calls.log"
        binary = root / "bin" / "databricks"
        binary.parent.mkdir(parents=True, exist_ok=True)
        me = {"userName": user, "groups": [{"display": g, "type": "direct"} for g in groups]}
        lines = ["#!/bin/sh", f'echo "$*" >> {shlex.quote(str(self.log))}']
        if fail:
            lines.append(f'case " $* " in *" {fail} "*) exit 1 ;; esac')
        lines += [
            'case "$1 $2" in',
            f'  "current-user me") echo {shlex.quote(json.dumps(me))} ;;',
            '  "registered-models get")',
            '    case "$3" in',
        ]
        for full_name, owner in (models or {}).items():
            model = json.dumps({"full_name": full_name, "owner": owner})
            lines.append(f"      {shlex.quote(full_name)}) echo {shlex.quote(model)} ;;")
        lines += [
            """      *) echo "Error: Routine or Model '$3' does not exist." >&2; exit 1 ;;""",
            "    esac ;;",
            "esac",
            "",
        ]
        binary.write_text("\n".join(lines), encoding="utf-8")
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR)

    @property
    def calls(self) -> list[str]:
        if not self.log.exists():
            return []
        return self.log.read_text(encoding="utf-8").splitlines()
