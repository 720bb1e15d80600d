"""Run a job of the bundle (``resources/*.yml``) on this machine, the way Databricks runs it.

The job definitions are the one place that says which steps run, in which order, with which
parameters; this runner executes them so that what passes here is what the workspace will run:

- tasks run in ``depends_on`` order; whether a task runs follows its ``run_if`` and the outcomes of
  what it depends on (a branch of a ``condition_task`` that was not taken is excluded);
- a ``python_wheel_task`` runs through the launcher Databricks uses: one cell that looks the entry
  point up in the distribution's metadata and calls it with no arguments, the parameters in
  ``sys.argv``. The cell is compiled whole before anything runs, so an entry point name that is
  not valid Python fails the task; the return value is ignored, and only an escaping exception
  fails the task;
- task values published by one task fill later ``{{tasks.<key>.values.<name>}}`` references;
  ``condition_task`` compares numbers as numbers and anything else as text;
- a ``run_job_task`` runs the named job of the bundle the same way, and fails if it fails;
- ``${bundle.*}``, ``${var.*}`` (target value, else default) and ``${resources.jobs.<key>.id}`` are
  resolved from ``databricks.yml``; ``${bundle.target}`` is the environment the job runs against.

Tasks share one process and so one Spark session; each still gets the launcher's semantics. A task
that means something only on Databricks says so and is shown as skipped. Not reproduced: compute,
schedules, retries, timeouts and notifications (the run says whom Databricks would email).
"""

from __future__ import annotations

import getpass
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from .lineage import current_git_commit
from .platform import DatabricksOnlyError, local_task_values
from .settings import user_short_name

BUNDLE_FILE = "databricks.yml"
# `${bundle.target}`, `${var.catalog}`, `${resources.jobs.model_training_job.id}`, ...
BUNDLE_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
# `{{tasks.train.values.model_version}}`, `{{job.parameters.date}}`, ...
DYNAMIC_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
# PyYAML's C parser when it was built with libyaml (its wheels are): several times quicker than
# the pure-Python one on the bundle's files, which every job run reads.
_SAFE_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class JobDefinitionError(ValueError):
    """The bundle or a job in it cannot run: Databricks would reject it before any task starts."""


class TaskState(StrEnum):
    """How a task ended, named as in the Jobs API (``SKIPPED``: runs on Databricks only)."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    EXCLUDED = "EXCLUDED"
    SKIPPED = "SKIPPED"


# States that count as a success for the tasks that depend on them.
_SUCCEEDED = {TaskState.SUCCESS, TaskState.SKIPPED}
_FAILED = {TaskState.FAILED, TaskState.UPSTREAM_FAILED}


@dataclass(frozen=True)
class TaskRun:
    """One task of a job run: how it ended and why."""

    key: str
    state: TaskState
    seconds: float = 0.0
    message: str = ""
    error: BaseException | None = None
    outcome: str | None = None  # a condition task's result: "true" or "false"
    job_run: JobRun | None = None  # a run_job_task's run of the other job

    def describe(self) -> str:
        """Return one line for the run's output: key, state, duration (if it ran), detail."""
        ran = self.state in {TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED}
        duration = f"{self.seconds:7.1f} s" if ran else f"{'not run':>9}"
        detail = f"  {self.message}" if self.message else ""
        return f"{self.key:<20} {self.state.value:<16}{duration}{detail}"


@dataclass(frozen=True)
class JobRun:
    """A finished run of one job."""

    job_key: str
    name: str
    tasks: tuple[TaskRun, ...]
    seconds: float
    leaves: frozenset[str]
    notify_on_failure: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        """``SUCCESS``, ``FAILED`` or ``SUCCESS_WITH_FAILURES``: judged by the leaf tasks."""
        failed = [task for task in self.tasks if task.state in _FAILED]
        if any(task.key in self.leaves for task in failed):
            return "FAILED"
        return "SUCCESS_WITH_FAILURES" if failed else "SUCCESS"

    @property
    def succeeded(self) -> bool:
        """Whether Databricks would call the run successful."""
        return self.state != "FAILED"

    def task(self, key: str) -> TaskRun:
        """Return the run of the task ``key``."""
        for task in self.tasks:
            if task.key == key:
                return task
        raise KeyError(f"{self.job_key} has no task {key!r}")

    def first_error(self) -> BaseException | None:
        """Return the exception of the first task that failed, looking into the jobs it ran."""
        for task in self.tasks:
            if task.job_run is not None and (error := task.job_run.first_error()) is not None:
                return error
            if task.error is not None:  # only a failed task has one
                return task.error
        return None


@dataclass
class Bundle:
    """The jobs and variables of ``databricks.yml`` and the files it includes."""

    root: Path
    name: str
    variables: dict[str, Any]
    targets: dict[str, Any]
    jobs: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, root: Path) -> Bundle:
        """Read ``root/databricks.yml`` and every ``resources`` file its ``include`` names."""
        document = _read_yaml(root / BUNDLE_FILE)
        jobs: dict[str, dict[str, Any]] = dict(_jobs_of(document))
        for pattern in document.get("include", []):
            for path in sorted(root.glob(pattern)):
                jobs.update(_jobs_of(_read_yaml(path)))
        return cls(
            root=root,
            name=document["bundle"]["name"],
            variables=document.get("variables") or {},
            targets=document.get("targets") or {},
            jobs=jobs,
        )

    def job(self, key: str) -> dict[str, Any]:
        """Return the definition of job ``key``."""
        if key not in self.jobs:
            known = ", ".join(sorted(self.jobs)) or "none"
            raise JobDefinitionError(f"The bundle has no job {key!r}; its jobs: {known}.")
        return self.jobs[key]

    def resolve(self, value: Any, target: str) -> Any:
        """Replace the ``${...}`` references in ``value`` (strings, lists, mappings)."""
        if isinstance(value, str):
            return BUNDLE_REFERENCE.sub(lambda match: self._lookup(match[1], target), value)
        if isinstance(value, list):
            return [self.resolve(item, target) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item, target) for key, item in value.items()}
        return value

    def _lookup(self, reference: str, target: str, within: tuple[str, ...] = ()) -> str:
        if reference in within:
            raise JobDefinitionError(f"{_bundle_reference(reference)} refers to itself.")
        parts = reference.split(".")
        if reference == "bundle.name":
            return self.name
        if reference == "bundle.target":
            return target
        if parts[0] == "var" and len(parts) == 2:
            value = self._variable(parts[1], target)
            return BUNDLE_REFERENCE.sub(
                lambda match: self._lookup(match[1], target, (*within, reference)), str(value)
            )
        if parts[:2] == ["resources", "jobs"] and len(parts) == 4 and parts[3] == "id":
            self.job(parts[2])
            return parts[2]  # locally a job is known by its key
        if reference == "workspace.current_user.userName":
            return getpass.getuser()
        if reference == "workspace.current_user.short_name":
            return user_short_name(getpass.getuser())  # as the settings name the dev schema
        if reference == "bundle.git.commit":
            return current_git_commit(directory=self.root)
        raise JobDefinitionError(f"{_bundle_reference(reference)} cannot be resolved here.")

    def _variable(self, name: str, target: str) -> Any:
        target_values = (self.targets.get(target) or {}).get("variables") or {}
        if name in target_values:
            return target_values[name]
        declared = self.variables.get(name)
        reference = _bundle_reference(f"var.{name}")
        if declared is None:
            raise JobDefinitionError(f"{reference} is not declared in {BUNDLE_FILE}.")
        if "default" not in declared:
            raise JobDefinitionError(
                f"{reference} has no default and target {target!r} does not set it."
            )
        return declared["default"]


def _bundle_reference(reference: str) -> str:
    return "${" + reference + "}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        return yaml.load(path.read_bytes(), Loader=_SAFE_YAML_LOADER) or {}  # UTF-8, any locale
    except FileNotFoundError as error:
        raise JobDefinitionError(f"{path} does not exist.") from error


def _jobs_of(document: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from ((document.get("resources") or {}).get("jobs") or {}).items()


def find_bundle_root(start: Path) -> Path:
    """Return the nearest directory at or above ``start`` that holds ``databricks.yml``."""
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / BUNDLE_FILE).is_file():
            return directory
    raise JobDefinitionError(
        f"No {BUNDLE_FILE} in {start.resolve()} or above: run jobs from the project directory."
    )


def launcher_cell(package_name: str, entry_point: str, parameters: list[str]) -> str:
    """Write the cell Databricks runs for a ``python_wheel_task`` (its last line must compile)."""
    argv = [package_name, *parameters]
    return (
        "import sys\n"
        "from importlib import metadata\n"
        f"sys.argv = {argv!r}\n"
        f"distribution = metadata.distribution({package_name!r})\n"
        f"entry = [ep for ep in distribution.entry_points if ep.name == {entry_point!r}]\n"
        "if entry:\n"
        "    entry[0].load()()\n"
        "else:\n"
        f"    import {package_name}\n"
        f"    {package_name}.{entry_point}()\n"
    )


def compare(op: str, left: str, right: str) -> bool:
    """Evaluate a ``condition_task``: numbers compare as numbers, anything else as text."""
    try:
        a: float | str = float(left)
        b: float | str = float(right)
    except ValueError:
        a, b = left, right
        if op not in {"EQUAL_TO", "NOT_EQUAL"}:
            raise ValueError(f"{op} needs two numbers, got {left!r} and {right!r}") from None
    operations: dict[str, Callable[[Any, Any], bool]] = {
        "EQUAL_TO": lambda x, y: x == y,
        "NOT_EQUAL": lambda x, y: x != y,
        "GREATER_THAN": lambda x, y: x > y,
        "GREATER_THAN_OR_EQUAL": lambda x, y: x >= y,
        "LESS_THAN": lambda x, y: x < y,
        "LESS_THAN_OR_EQUAL": lambda x, y: x <= y,
    }
    if op not in operations:
        raise ValueError(f"unknown condition operator {op!r}")
    return operations[op](a, b)


def task_order(job_key: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks in an order where each comes after what it depends on (definition order on ties)."""
    if not tasks:
        raise JobDefinitionError(f"{job_key}: the job has no tasks.")
    by_key = {task["task_key"]: task for task in tasks}
    if len(by_key) != len(tasks):
        raise JobDefinitionError(f"{job_key}: two tasks have the same task_key.")
    for task in tasks:
        for dependency in task.get("depends_on", []):
            if dependency["task_key"] not in by_key:
                raise JobDefinitionError(
                    f"{job_key}: task {task['task_key']!r} depends on unknown task "
                    f"{dependency['task_key']!r}."
                )
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(tasks):
        ready = [
            task
            for task in tasks
            if task["task_key"] not in done
            and all(dep["task_key"] in done for dep in task.get("depends_on", []))
        ]
        if not ready:
            cycle = sorted(set(by_key) - done)
            raise JobDefinitionError(f"{job_key}: tasks {cycle} depend on each other in a cycle.")
        ordered.append(ready[0])
        done.add(ready[0]["task_key"])
    return ordered


def gate(task: Mapping[str, Any], finished: Mapping[str, TaskRun]) -> TaskState | None:
    """Whether a task runs given how its dependencies ended: None to run it, else its state.

    A dependency with an ``outcome`` counts as excluded when its condition came out otherwise.
    """
    dependencies = task.get("depends_on")
    if not dependencies:
        return None
    states = []
    for dependency in dependencies:
        run = finished[dependency["task_key"]]
        taken = "outcome" not in dependency or run.outcome == str(dependency["outcome"]).lower()
        states.append(run.state if taken else TaskState.EXCLUDED)
    succeeded = sum(state in _SUCCEEDED for state in states)
    failed = sum(state in _FAILED for state in states)
    run_if = task.get("run_if", "ALL_SUCCESS")
    if run_if == "ALL_SUCCESS":
        if failed:
            return TaskState.UPSTREAM_FAILED
        return None if succeeded == len(states) else TaskState.EXCLUDED
    if run_if == "ALL_DONE":
        return None
    if run_if == "NONE_FAILED":
        if failed:
            return TaskState.UPSTREAM_FAILED
        return None if succeeded else TaskState.EXCLUDED
    if run_if == "AT_LEAST_ONE_SUCCESS":
        if succeeded:
            return None
        return TaskState.UPSTREAM_FAILED if failed else TaskState.EXCLUDED
    if run_if == "ALL_FAILED":
        return None if failed == len(states) else TaskState.EXCLUDED
    if run_if == "AT_LEAST_ONE_FAILED":
        return None if failed else TaskState.EXCLUDED
    raise JobDefinitionError(f"task {task['task_key']!r} has an unknown run_if {run_if!r}.")


class TaskValueStore:
    """``dbutils.jobs.taskValues`` of one job run: what each task published."""

    _current: str  # the task that runs, set by ``of_task``: only a running task sets values

    def __init__(self) -> None:
        self.values: dict[str, dict[str, object]] = {}

    @contextmanager
    def of_task(self, task_key: str) -> Iterator[None]:
        """Collect what the steps publish while ``task_key`` runs."""
        self._current = task_key
        self.values.setdefault(task_key, {})
        with local_task_values(self):
            yield

    def set(self, key: str, value: object) -> None:
        """Store a value of the running task (JSON-serializable, as on Databricks)."""
        json.dumps(value)
        self.values[self._current][key] = value

    def reference(self, task_key: str, name: str) -> str:
        """Return the text that a ``{{tasks.<key>.values.<name>}}`` reference becomes."""
        try:
            value = self.values[task_key][name]
        except KeyError:
            raise LookupError(f"task {task_key!r} set no task value {name!r}") from None
        return value if isinstance(value, str) else json.dumps(value)


@dataclass
class JobRunner:
    """Runs the jobs of one bundle against one environment, printing as the Jobs UI shows them."""

    bundle: Bundle
    env: str
    out: Callable[[str], None] = print
    _depth: int = field(default=0, init=False)

    def run(self, job_key: str) -> JobRun:
        """Run job ``job_key`` to the end; raise only for a job that cannot start at all."""
        job = self.bundle.job(job_key)
        ordered = task_order(job_key, job.get("tasks") or [])
        name = self.bundle.resolve(job.get("name", job_key), self.env)
        notify = tuple((job.get("email_notifications") or {}).get("on_failure") or ())
        parameters = {p["name"]: str(p.get("default", "")) for p in job.get("parameters", [])}
        depended_on = {dep["task_key"] for task in ordered for dep in task.get("depends_on", [])}
        leaves = frozenset(task["task_key"] for task in ordered) - depended_on
        self._say(f"Job {job_key} ({name}): {len(ordered)} task{'s' if len(ordered) != 1 else ''}")
        values = TaskValueStore()
        finished: dict[str, TaskRun] = {}
        started = time.perf_counter()
        for task in ordered:
            key = task["task_key"]
            blocked = gate(task, finished)
            if blocked is not None:
                finished[key] = TaskRun(key, blocked)
            else:
                self._say(f"> {key}")
                finished[key] = self._run_task(job_key, task, values, parameters)
            self._say(f"< {finished[key].describe()}")
        run = JobRun(
            job_key,
            name,
            tuple(finished[task["task_key"]] for task in ordered),
            time.perf_counter() - started,
            leaves,
            notify,
        )
        self._summarize(run)
        return run

    def _run_task(
        self,
        job_key: str,
        task: dict[str, Any],
        values: TaskValueStore,
        parameters: dict[str, str],
    ) -> TaskRun:
        key = task["task_key"]
        started = time.perf_counter()

        def dynamic(text: str) -> str:
            return DYNAMIC_REFERENCE.sub(
                lambda match: self._dynamic(match[1], job_key, key, values, parameters), text
            )

        try:
            if "python_wheel_task" in task:
                wheel = self.bundle.resolve(task["python_wheel_task"], self.env)
                parameters_ = [dynamic(str(item)) for item in wheel.get("parameters", [])]
                with values.of_task(key):
                    self._launch(wheel["package_name"], wheel["entry_point"], parameters_)
                return TaskRun(key, TaskState.SUCCESS, time.perf_counter() - started)
            if "condition_task" in task:
                condition = self.bundle.resolve(task["condition_task"], self.env)
                left, right = dynamic(str(condition["left"])), dynamic(str(condition["right"]))
                outcome = compare(condition["op"], left, right)
                message = f"{left!r} {condition['op']} {right!r}: {str(outcome).lower()}"
                return TaskRun(key, TaskState.SUCCESS, 0.0, message, outcome=str(outcome).lower())
            if "run_job_task" in task:
                other = str(self.bundle.resolve(task["run_job_task"]["job_id"], self.env))
                if other not in self.bundle.jobs:
                    raise JobDefinitionError(f"job {other!r} is not part of this bundle")
                self._depth += 1
                try:
                    nested = self.run(other)
                finally:
                    self._depth -= 1
                state = TaskState.SUCCESS if nested.succeeded else TaskState.FAILED
                return TaskRun(
                    key, state, nested.seconds, f"{other} {nested.state}", job_run=nested
                )
            kinds = sorted(k for k in task if k.endswith("_task"))
            raise JobDefinitionError(f"task {key!r}: {kinds or 'no task type'} cannot run here")
        except DatabricksOnlyError as error:
            return TaskRun(
                key, TaskState.SKIPPED, time.perf_counter() - started, f"Databricks only: {error}"
            )
        except KeyboardInterrupt:
            raise
        except SystemExit as error:
            seconds = time.perf_counter() - started
            if error.code in (None, 0):
                return TaskRun(key, TaskState.SUCCESS, seconds)
            return TaskRun(key, TaskState.FAILED, seconds, f"SystemExit({error.code})", error)
        except BaseException as error:
            seconds = time.perf_counter() - started
            return TaskRun(key, TaskState.FAILED, seconds, _describe(error), error)

    def _launch(self, package_name: str, entry_point: str, parameters: list[str]) -> None:
        """Compile the launcher's cell whole, then run it with ``sys.argv`` set by it."""
        cell = launcher_cell(package_name, entry_point, parameters)
        self._say(f"  {package_name}:{entry_point} {' '.join(parameters)}")
        code = compile(cell, f"<launcher of {package_name}:{entry_point}>", "exec")
        saved_argv = sys.argv
        try:
            exec(code, {})  # a namespace of its own; the return value is dropped, as there
        finally:
            sys.argv = saved_argv

    def _dynamic(
        self,
        reference: str,
        job_key: str,
        task_key: str,
        values: TaskValueStore,
        parameters: dict[str, str],
    ) -> str:
        parts = reference.split(".")
        if parts[0] == "tasks" and len(parts) == 4 and parts[2] == "values":
            return values.reference(parts[1], parts[3])
        if parts[:2] == ["job", "parameters"] and len(parts) == 3 and parts[2] in parameters:
            return parameters[parts[2]]
        if reference == "job.id":
            return job_key
        if reference == "task.name":
            return task_key
        raise LookupError(f"{reference!r} is not a dynamic value reference known here")

    def _say(self, text: str) -> None:
        self.out("  " * self._depth + text)

    def _summarize(self, run: JobRun) -> None:
        self._say(f"Job {run.job_key}: {run.state} in {run.seconds:.1f} s")
        for task in run.tasks:
            self._say(f"  {task.describe()}")
        if not run.succeeded and run.notify_on_failure:
            self._say(f"On Databricks, this failure emails {', '.join(run.notify_on_failure)}.")


def _describe(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
