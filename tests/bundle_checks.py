"""Offline checks of a rendered project's Databricks Asset Bundle.

No Databricks CLI can run here, so this module does the parts of `databricks bundle validate` that
need no workspace: it loads `databricks.yml` with its `include`d files the way the CLI does, applies
a target's overrides, resolves `${var.*}` / `${bundle.*}` / `${resources.*}` references, and
cross-checks the bundle against the project it deploys (settings.toml, its entry points, the
wheel build). Every check returns a list of problems (empty when all is well) so that a test can
show all of them at once, and so that the checks themselves can be tested on broken bundles.
"""

from __future__ import annotations

import ast
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

BUNDLE_FILE = "databricks.yml"
SCHEMA_ENV = "DATABRICKS_BUNDLE_SCHEMA"
TOOLS_BIN = Path(sys.executable).parent

# `${...}` references of the CLI and the `{{...}}` dynamic value references of Databricks jobs.
REFERENCE = re.compile(r"\$\{([^{}]+)\}")
DYNAMIC_VALUE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
TASK_VALUE = re.compile(r"^tasks\.([A-Za-z0-9_-]+)\.values\.([A-Za-z0-9_-]+)$")
DYNAMIC_NAMESPACES = ("job.", "task.", "tasks.", "workspace.", "backfill.", "input")
BUNDLE_FIELDS = ("target", "name", "git.branch", "git.commit", "git.origin_url")

# Sequences that the CLI merges element by element, by key, when a target overrides them.
KEYED_SEQUENCES = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "environments": "environment_key",
}
# Fields of job tasks and clusters that name a file of the bundle, relative to the YAML file.
PATH_FIELDS = frozenset({"notebook_path", "python_file", "whl", "jar", "requirements"})


class BundleError(ValueError):
    """The bundle cannot even be loaded (missing file, duplicate resource, bad YAML)."""


@dataclass(frozen=True)
class Bundle:
    """`databricks.yml` merged with its included files, before any target is applied."""

    root: Path
    config: dict[str, Any]
    # The file that defines each resource, by (resource type, key): relative paths in a resource
    # are resolved from that file's directory, as the CLI does.
    origins: Mapping[tuple[str, str], Path]

    @property
    def targets(self) -> list[str]:
        return list(self.config.get("targets") or {})

    @property
    def name(self) -> str:
        return str(self.config["bundle"]["name"])


# --- Loading --------------------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise BundleError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise BundleError(f"{path}: a bundle file must be a mapping, got {type(data).__name__}")
    return data


def _merge(base: Any, override: Any) -> Any:
    """Merge like the CLI: mappings recursively, keyed sequences by key, other values replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key in merged and key in KEYED_SEQUENCES:
                merged[key] = _merge_keyed(merged[key], value, KEYED_SEQUENCES[key])
            elif key in merged:
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _merge_keyed(base: list[Any], override: list[Any], key: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    index = {item.get(key): i for i, item in enumerate(merged) if isinstance(item, dict)}
    for item in override:
        if isinstance(item, dict) and item.get(key) in index:
            position = index[item[key]]
            merged[position] = _merge(merged[position], item)
        else:
            merged.append(copy.deepcopy(item))
    return merged


def _record_origins(
    section: Mapping[str, Any] | None, path: Path, origins: dict[tuple[str, str], Path]
) -> list[tuple[str, str]]:
    """Note where each resource of `section` (a `resources` mapping) is defined; return them."""
    found = []
    for kind, resources in (section or {}).items():
        for key in resources or {}:
            found.append((kind, key))
            origins.setdefault((kind, key), path)
    return found


def load_bundle(root: Path) -> Bundle:
    """Load `databricks.yml` and every file its `include` globs match, merged as the CLI does.

    Two files defining the same top-level resource is an error, as for the CLI. Resources that
    targets define (`targets.<t>.resources`) may repeat across targets.
    """
    main = root / BUNDLE_FILE
    if not main.is_file():
        raise BundleError(f"{main} does not exist")
    config = _read_yaml(main)
    origins: dict[tuple[str, str], Path] = {}
    defined_in: dict[tuple[str, str], Path] = {}

    def add_file(path: Path, data: Mapping[str, Any]) -> None:
        for resource in _record_origins(data.get("resources"), path, origins):
            if resource in defined_in:
                raise BundleError(
                    f"resource {'.'.join(resource)} is defined in both {defined_in[resource]} "
                    f"and {path}"
                )
            defined_in[resource] = path
        for target in (data.get("targets") or {}).values():
            _record_origins((target or {}).get("resources"), path, origins)

    add_file(main, config)
    included: list[Path] = []
    for pattern in config.get("include") or []:
        matches = sorted(Path(p) for p in glob.glob(str(root / pattern)))
        if not matches:
            raise BundleError(f"include pattern {pattern!r} matches no file")
        included.extend(m for m in matches if m not in included)
    for path in included:
        data = _read_yaml(path)
        if "include" in data:
            raise BundleError(f"{path}: only {BUNDLE_FILE} may include other files")
        add_file(path, data)
        config = _merge(config, data)
    return Bundle(root=root, config=config, origins=origins)


def for_target(bundle: Bundle, target: str) -> dict[str, Any]:
    """The configuration the CLI deploys for `target`: its overrides merged in, `targets` dropped.

    A target's `variables` entry sets the variable's value (shorthand `name: value`, or a mapping
    with `default` or `lookup`).
    """
    targets = bundle.config.get("targets") or {}
    if target not in targets:
        raise BundleError(f"no target {target!r}; targets are {', '.join(targets)}")
    overrides = copy.deepcopy(targets[target] or {})
    config = {k: copy.deepcopy(v) for k, v in bundle.config.items() if k != "targets"}
    variables = config.setdefault("variables", {}) or {}
    for name, value in (overrides.pop("variables", None) or {}).items():
        declared = dict(variables.get(name) or {})
        if isinstance(value, dict):
            declared.update({k: v for k, v in value.items() if k in ("default", "lookup")})
        else:
            declared["default"] = value
        variables[name] = declared
    config["variables"] = variables
    bundle_section = dict(config.get("bundle") or {})
    # Target-level shorthands for bundle settings.
    for key in ("git", "mode"):
        if key in overrides:
            bundle_section[key] = overrides.pop(key)
    overrides.pop("default", None)
    for key, value in overrides.items():
        config[key] = _merge(config[key], value) if key in config else copy.deepcopy(value)
    config["bundle"] = {**bundle_section, "target": target}
    return config


# --- References -----------------------------------------------------------------------------------


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a YAML tree, with a readable path to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def _declared_value(config: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    declared = (config.get("variables") or {}).get(name)
    if declared is None:
        return False, None
    if "default" in declared:
        return True, declared["default"]
    if "lookup" in declared:
        return True, f"<lookup {declared['lookup']}>"
    return True, None


def _lookup(node: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def resolve(value: Any, config: Mapping[str, Any], depth: int = 0) -> Any:
    """Replace the references the CLI resolves before deploying: `${var.*}`, `${bundle.*}` and
    `${resources.<type>.<key>.<field>}` for fields set in the configuration. Others (e.g.
    `${workspace.current_user.userName}`, a job's `id`) stay as they are."""
    if depth > 10:
        raise BundleError(f"references nest too deep (a cycle?) in {value!r}")
    if isinstance(value, dict):
        return {k: resolve(v, config, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, config, depth) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("var."):
            found, resolved = _declared_value(config, ref[4:])
        elif ref.startswith("bundle."):
            found, resolved = _lookup(config.get("bundle", {}), ref[7:])
        elif ref.startswith("resources."):
            found, resolved = _lookup(config.get("resources", {}), ref[10:])
        else:
            found, resolved = False, None
        if not found or resolved is None or isinstance(resolved, dict | list):
            return match.group(0)
        return str(resolve(resolved, config, depth + 1))

    return REFERENCE.sub(replace, value)


def check_references(bundle: Bundle) -> list[str]:
    """Every `${var.x}` is declared and has a value in every target; every declared variable is
    used; every `${resources.<type>.<key>...}` names a resource that exists in the target; no
    other namespace is used but `bundle.*`, `workspace.*` and `artifacts.*`."""
    problems: list[str] = []
    declared = set((bundle.config.get("variables") or {}).keys())
    used: set[str] = set()
    for target in bundle.targets:
        config = for_target(bundle, target)
        resources = config.get("resources") or {}
        for name in sorted(declared):
            found, value = _declared_value(config, name)
            if found and value is None:
                problems.append(f"[{target}] variable {name} has no value (no default, not set)")
        for path, text in walk_strings(config):
            for ref in REFERENCE.findall(text):
                head, _, rest = ref.partition(".")
                if head == "var":
                    name = rest.split(".")[0].split("[")[0]
                    used.add(name)
                    if name not in declared:
                        problems.append(f"[{target}] {path}: ${{{ref}}} is not declared")
                elif head == "resources":
                    parts = rest.split(".")
                    if len(parts) < 3 or parts[1] not in (resources.get(parts[0]) or {}):
                        problems.append(f"[{target}] {path}: ${{{ref}}} names no resource")
                elif head == "bundle":
                    if rest not in BUNDLE_FIELDS:
                        problems.append(f"[{target}] {path}: unknown bundle field ${{{ref}}}")
                elif head not in ("workspace", "artifacts"):
                    problems.append(f"[{target}] {path}: unknown reference ${{{ref}}}")
    for name in sorted(declared - used):
        problems.append(f"variable {name} is declared but never used")
    return sorted(set(problems))


# --- JSON schema ----------------------------------------------------------------------------------


def bundle_schema(tmp_dir: Path) -> tuple[Path | None, str]:
    """The bundle JSON schema: `$DATABRICKS_BUNDLE_SCHEMA`, else `databricks bundle schema` when a
    CLI is on PATH. Returns (path, how it was found) or (None, why there is none)."""
    configured = os.environ.get(SCHEMA_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise BundleError(f"{SCHEMA_ENV}={configured} is not a file")
        return path, f"{SCHEMA_ENV}={configured}"
    cli = shutil.which("databricks")
    if cli:
        result = subprocess.run(
            [cli, "bundle", "schema"], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise BundleError(f"`databricks bundle schema` failed: {result.stderr.strip()}")
        path = tmp_dir / "bundle-schema.json"
        path.write_text(result.stdout, encoding="utf-8")
        return path, f"`{cli} bundle schema`"
    return None, (
        f"no bundle JSON schema: set {SCHEMA_ENV} to the output of `databricks bundle schema` "
        "(.ci/run does), or put a Databricks CLI on PATH"
    )


def check_schema(bundle: Bundle, schema: Path, tmp_dir: Path) -> list[str]:
    """Validate the merged configuration with check-jsonschema; one line per error."""
    instance = tmp_dir / "bundle.json"
    instance.write_text(json.dumps(bundle.config, indent=2), encoding="utf-8")
    result = subprocess.run(
        [TOOLS_BIN / "check-jsonschema", "--output-format", "json", "--schemafile", schema,
         instance],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"check-jsonschema exited {result.returncode}: {result.stdout}{result.stderr}"]
    problems = []
    for error in report.get("errors", []):
        deepest = error.get("best_deep_match") or error
        problems.append(f"{deepest['path']}: {deepest['message'][:300]}")
    problems.extend(str(e) for e in report.get("parse_errors", []))
    if result.returncode != 0 and not problems:
        problems.append(f"check-jsonschema exited {result.returncode}: {result.stderr}")
    return problems


# --- Typed resources ------------------------------------------------------------------------------


def typed_classes() -> dict[str, type]:
    """The databricks-bundles class of each resource type the template may render."""
    from databricks.bundles.experiments import MlflowExperiment
    from databricks.bundles.jobs import Job
    from databricks.bundles.model_serving_endpoints import ModelServingEndpoint
    from databricks.bundles.pipelines import Pipeline
    from databricks.bundles.quality_monitors import QualityMonitor
    from databricks.bundles.registered_models import RegisteredModel
    from databricks.bundles.schemas import Schema
    from databricks.bundles.volumes import Volume

    return {
        "jobs": Job,
        "experiments": MlflowExperiment,
        "registered_models": RegisteredModel,
        "model_serving_endpoints": ModelServingEndpoint,
        "pipelines": Pipeline,
        "quality_monitors": QualityMonitor,
        "schemas": Schema,
        "volumes": Volume,
    }


# How the CLI turns a target's top-level permission levels into each resource type's own
# (ApplyBundlePermissions in bundle/config/mutator/resourcemutator/apply_bundle_permissions.go);
# a level missing here is not applied to that type, and types missing here get none.
PERMISSION_LEVELS: Mapping[str, Mapping[str, str]] = {
    "jobs": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_MANAGE_RUN"},
    "pipelines": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_RUN"},
    "experiments": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_READ"},
    "model_serving_endpoints": {
        "CAN_MANAGE": "CAN_MANAGE",
        "CAN_VIEW": "CAN_VIEW",
        "CAN_RUN": "CAN_QUERY",
    },
}
PRINCIPAL_FIELDS = ("user_name", "service_principal_name", "group_name")


def apply_identities(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The target's resources as the CLI deploys them, and what the CLI refuses on the way.

    `run_as` is set on every job that has none (SetRunAs; it must name exactly one identity), and
    each top-level permission is added to the resources that take it, at their own level
    (ApplyBundlePermissions; only CAN_MANAGE, CAN_VIEW and CAN_RUN are allowed there).
    """
    problems: list[str] = []
    resources = copy.deepcopy(dict(config.get("resources") or {}))
    run_as = config.get("run_as")
    if run_as is not None:
        named = [f for f in ("user_name", "service_principal_name") if (run_as or {}).get(f)]
        if len(named) != 1:
            problems.append(f"run_as must name exactly one identity, it names {named or 'none'}")
        for job in (resources.get("jobs") or {}).values():
            job.setdefault("run_as", copy.deepcopy(run_as))
    permissions = config.get("permissions") or []
    for permission in permissions:
        if permission.get("level") not in ("CAN_MANAGE", "CAN_VIEW", "CAN_RUN"):
            problems.append(f"permissions: level {permission.get('level')!r} is not allowed")
        if sum(1 for f in PRINCIPAL_FIELDS if permission.get(f)) != 1:
            problems.append(f"permissions: {permission} must name exactly one principal")
    for kind, levels in PERMISSION_LEVELS.items():
        for resource in (resources.get(kind) or {}).values():
            for permission in permissions:
                if permission.get("level") in levels:
                    applied = {**permission, "level": levels[permission["level"]]}
                    resource.setdefault("permissions", []).append(applied)
    return resources, problems


def check_typed_resources(bundle: Bundle) -> list[str]:
    """Load every resource of every target, references resolved, with its databricks-bundles
    class (`from_dict` rejects unknown fields and bad enum values), after the target's `run_as`
    and `permissions` are applied to it as the CLI applies them."""
    classes = typed_classes()
    problems = []
    for target in bundle.targets:
        unresolved = for_target(bundle, target)
        config = resolve(unresolved, unresolved)
        deployed, refused = apply_identities(config)
        problems.extend(f"[{target}] {problem}" for problem in refused)
        for kind, resources in deployed.items():
            cls = classes.get(kind)
            if cls is None:
                problems.append(f"[{target}] no databricks-bundles class known for {kind!r}")
                continue
            for key, resource in resources.items():
                try:
                    cls.from_dict(resource)
                except Exception as error:  # any failure is the finding
                    problems.append(f"[{target}] resources.{kind}.{key}: {error}")
    return problems


# --- The project behind the bundle ----------------------------------------------------------------


def pyproject(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def normalize_distribution(name: str) -> str:
    """PEP 503 normalization: how pip and importlib.metadata compare distribution names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_entry_points(project: Mapping[str, Any]) -> dict[str, str]:
    """Every entry point a `[project]` table declares, by name: `scripts`, `gui-scripts` and each
    group of `entry-points`. The wheel's metadata lists them all, and the launcher of a
    python_wheel_task looks the name up in any group. The first declaration of a name wins."""
    found: dict[str, str] = {}
    groups = [project.get("scripts") or {}, project.get("gui-scripts") or {}]
    groups.extend((project.get("entry-points") or {}).values())
    for group in groups:
        for name, target in group.items():
            found.setdefault(str(name), str(target))
    return found


def launcher_cell(package_name: str, entry_point: str, parameters: Sequence[str]) -> str:
    """The Python cell Databricks runs for a python_wheel_task (its shape as seen in the CLI's
    wheel wrapper and in field reports; the exact text varies between runtimes).

    The parameters become `sys.argv` (after a program name); the entry point is looked up by name
    in the metadata of the distribution `package_name` and called with no arguments. Its return
    value is ignored: only an exception that escapes fails the task. When the distribution has no
    entry point of that name, the fallback imports `package_name` as a module and calls its
    attribute `entry_point`. The cell is compiled whole before anything runs, so both names are
    written into Python source: an entry point such as `in-store-sales-2`, or a package that is a
    keyword, is a SyntaxError that fails every task before any project code runs.
    """
    argv = ", ".join(json.dumps(str(p)) for p in (package_name, *parameters))
    return "\n".join(
        [
            "import sys",
            f"sys.argv = [{argv}]",
            "from importlib import metadata",
            f"entry = [ep for ep in metadata.distribution({json.dumps(package_name)}).entry_points"
            f" if ep.name == {json.dumps(entry_point)}]",
            "if entry:",
            "    entry[0].load()()",
            "else:",
            f"    import {package_name}",
            f"    {package_name}.{entry_point}()",
            "",
        ]
    )


def launcher_problem(package_name: str, entry_point: str, parameters: Sequence[str]) -> str | None:
    """Why the launcher cell of a python_wheel_task does not compile, or None when it does."""
    cell = launcher_cell(package_name, entry_point, parameters)
    try:
        compile(cell, "<launcher>", "exec", dont_inherit=True)
    except SyntaxError as error:
        line = (error.text or "").strip()
        return f"Databricks' launcher cell does not compile: {error.msg}: {line}"
    return None


def settings_document(root: Path, package: str) -> dict[str, Any]:
    return tomllib.loads((root / "src" / package / "settings.toml").read_text(encoding="utf-8"))


def settings_for(document: Mapping[str, Any], env: str) -> dict[str, Any]:
    """`[common]` overlaid with `[<env>]`, as the package's `load_settings` does."""
    return _merge(document.get("common", {}), document.get(env, {}))


def _module_file(root: Path, module: str) -> Path | None:
    base = root / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _string_args(tree: ast.AST, function_names: set[str]) -> set[str]:
    """First positional string arguments of calls to the named functions or methods."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if (
            name in function_names
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            found.add(first.value)
    return found


@dataclass(frozen=True)
class ConsoleScript:
    """What a console script `name = "module:function"` offers a job task."""

    module_file: Path
    function: str
    defined: bool
    subcommands: frozenset[str]
    options: frozenset[str]


def console_script(root: Path, target: str) -> ConsoleScript | None:
    """Inspect the script's module without importing it (its imports need Spark and MLflow)."""
    module, _, function = target.partition(":")
    path = _module_file(root, module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body)
    # argparse: `add_parser("train")` (or a local helper `add("train", ...)`) and
    # `add_argument("--model-version")`.
    subcommands = _string_args(tree, {"add_parser", "add"})
    options = {s for s in _string_args(tree, {"add_argument"}) if s.startswith("-")}
    return ConsoleScript(path, function, defined, frozenset(subcommands), frozenset(options))


def published_task_values(root: Path, package: str) -> set[str]:
    """Keys the package publishes with `publish_task_value("<key>", ...)`."""
    keys: set[str] = set()
    modules = sorted((root / "src" / package).rglob("*.py"))
    assert modules, f"no modules under {root / 'src' / package}"
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        keys |= _string_args(tree, {"publish_task_value"})
    return keys


def jobs(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict((config.get("resources") or {}).get("jobs") or {})


def upstream(tasks: list[dict[str, Any]], task_key: str) -> set[str]:
    """Every task that must finish before `task_key` starts (transitively)."""
    by_key = {t["task_key"]: t for t in tasks}
    seen: set[str] = set()
    pending = [d["task_key"] for d in by_key[task_key].get("depends_on", [])]
    while pending:
        key = pending.pop()
        if key not in seen and key in by_key:
            seen.add(key)
            pending.extend(d["task_key"] for d in by_key[key].get("depends_on", []))
    return seen


def check_tasks(bundle: Bundle, package: str) -> list[str]:
    """Every wheel task runs an entry point of this project's wheel that Databricks' launcher
    can compile and find, with a subcommand and options the entry point's module parses, and an
    `--env` that settings.toml defines; dependencies and task value references point at
    existing, upstream tasks and at values the package publishes."""
    root = bundle.root
    project = pyproject(root)["project"]
    entry_points = declared_entry_points(project)
    environments = set(settings_document(root, package)) - {"common"}
    published = published_task_values(root, package)
    problems = []
    for target in bundle.targets:
        config = for_target(bundle, target)
        for job_key, job in jobs(config).items():
            tasks = job.get("tasks") or []
            keys = [t.get("task_key") for t in tasks]
            for task in tasks:
                where = f"[{target}] jobs.{job_key}.{task.get('task_key')}"
                for dep in task.get("depends_on", []):
                    if dep.get("task_key") not in keys:
                        problems.append(f"{where}: depends on unknown task {dep.get('task_key')}")
                for path, text in walk_strings(task):
                    for ref in DYNAMIC_VALUE.findall(text):
                        problems.extend(
                            f"{where}.{path}: {p}"
                            for p in _check_dynamic(ref, tasks, task["task_key"], published)
                        )
                wheel = task.get("python_wheel_task")
                if wheel is None:
                    continue
                package_name, entry_point = wheel.get("package_name"), wheel.get("entry_point")
                if not isinstance(package_name, str) or not isinstance(entry_point, str):
                    problems.append(
                        f"{where}: package_name {package_name!r} and entry_point {entry_point!r} "
                        "must be strings (quote YAML words such as null, true, yes)"
                    )
                    continue
                if normalize_distribution(package_name) != normalize_distribution(project["name"]):
                    problems.append(
                        f"{where}: package_name {package_name!r} is not the wheel's "
                        f"distribution {project['name']!r}"
                    )
                params = [str(resolve(p, config)) for p in wheel.get("parameters", [])]
                unparsable = launcher_problem(package_name, entry_point, params)
                if unparsable:
                    problems.append(f"{where}: {unparsable}")
                entry = entry_points.get(entry_point)
                if entry is None:
                    problems.append(
                        f"{where}: entry point {entry_point!r} is not declared in pyproject.toml "
                        f"({', '.join(entry_points) or 'none'})"
                    )
                    continue
                script = console_script(root, entry)
                if script is None or not script.defined:
                    problems.append(f"{where}: entry point target {entry!r} does not exist")
                    continue
                if not params or params[0] not in script.subcommands:
                    problems.append(
                        f"{where}: first parameter {params[:1]} is not a subcommand of {entry} "
                        f"({', '.join(sorted(script.subcommands))})"
                    )
                for option in (p.split("=")[0] for p in params if p.startswith("--")):
                    if option not in script.options:
                        problems.append(f"{where}: {entry} has no option {option}")
                if "--env" not in params or params.index("--env") + 1 >= len(params):
                    problems.append(f"{where}: no --env: the task would run with settings of local")
                else:
                    env = params[params.index("--env") + 1]
                    if env not in environments or env == "local":
                        problems.append(
                            f"{where}: --env {env} is not a Databricks environment of "
                            f"settings.toml ({', '.join(sorted(environments))})"
                        )
    return sorted(set(problems))


def _check_dynamic(ref: str, tasks: list[dict[str, Any]], task_key: str, published: set[str]):
    match = TASK_VALUE.match(ref)
    if match:
        source, key = match.groups()
        if source not in upstream(tasks, task_key):
            yield f"{{{{{ref}}}}} reads task {source}, which does not run before {task_key}"
        if key not in published:
            yield (
                f"{{{{{ref}}}}}: the package publishes no task value {key!r} "
                f"(it publishes {', '.join(sorted(published)) or 'none'})"
            )
    elif not ref.startswith(DYNAMIC_NAMESPACES):
        yield f"{{{{{ref}}}}} is not a Databricks dynamic value reference"


def _build_output_dir(artifact: Mapping[str, Any], artifact_dir: Path) -> Path | None:
    """Where the artifact's build command writes wheels, or None if it is not a known builder."""
    build = str(artifact.get("build", ""))
    if not re.match(r"^(uv build|python3? -m build|hatch build)\b", build):
        return None
    out = re.search(r"(?:--out-dir|-o|--outdir)[ =](\S+)", build)
    return (artifact_dir / out.group(1)) if out else artifact_dir / "dist"


def check_paths(bundle: Bundle) -> list[str]:
    """Every file a task names exists; a wheel glob must match built wheels or point into the
    output directory of a wheel artifact whose project (pyproject.toml) exists."""
    root = bundle.root
    problems = []
    wheel_dirs: dict[Path, str] = {}
    for name, artifact in (bundle.config.get("artifacts") or {}).items():
        artifact_dir = (root / str(artifact.get("path", "."))).resolve()
        if artifact.get("type") != "whl":
            continue
        if not (artifact_dir / "pyproject.toml").is_file():
            problems.append(f"artifacts.{name}: {artifact_dir} has no pyproject.toml to build")
        out = _build_output_dir(artifact, artifact_dir)
        if out is None:
            problems.append(
                f"artifacts.{name}: unknown wheel build command {artifact.get('build')!r}"
            )
        else:
            wheel_dirs[out.resolve()] = name
    for target in bundle.targets:
        config = for_target(bundle, target)
        for kind, resources in (config.get("resources") or {}).items():
            for key, resource in resources.items():
                origin = bundle.origins.get((kind, key), root / BUNDLE_FILE)
                for path, value in _file_references(resource):
                    where = f"[{target}] resources.{kind}.{key}.{path}"
                    problems.extend(
                        f"{where}: {p}" for p in _check_file(value, origin.parent, wheel_dirs)
                    )
    return sorted(set(problems))


def _file_references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Strings that name bundle files: the PATH_FIELDS, and local entries of an environment's
    `dependencies` (a wheel path rather than a PyPI requirement)."""
    for where, text in walk_strings(node, path):
        field = re.sub(r"\[\d+\]$", "", where).rsplit(".", 1)[-1]
        if field in PATH_FIELDS or (
            field == "dependencies" and (text.startswith((".", "/")) or text.endswith(".whl"))
        ):
            yield where, text


def _check_file(value: str, base: Path, wheel_dirs: Mapping[Path, str]) -> Iterator[str]:
    if value.startswith(("/Workspace/", "/Volumes/", "dbfs:", "s3:", "abfss:", "gs:")):
        return  # a workspace or cloud path, not a file of the bundle
    target = (base / value).resolve()
    if not glob.has_magic(value):
        if not target.exists():
            yield f"{value} does not exist ({target})"
        return
    if glob.glob(str(target)):
        return
    if target.parent in wheel_dirs and PurePosixPath(value).suffix == ".whl":
        return  # built by `databricks bundle deploy` before upload
    yield f"{value} matches no file, and {target.parent} is no wheel artifact's output directory"


def effective_pause_status(config: Mapping[str, Any], trigger: Mapping[str, Any]) -> str:
    """A schedule's pause status after the CLI's presets: development mode pauses by default."""
    if trigger.get("pause_status"):
        return str(trigger["pause_status"])
    preset = (config.get("presets") or {}).get("trigger_pause_status")
    if preset:
        return str(preset)
    return "PAUSED" if config["bundle"].get("mode") == "development" else "UNPAUSED"


# The per-developer placeholders of settings.toml, and the bundle references naming the same.
SETTINGS_PLACEHOLDERS = {
    "{user_name}": "${workspace.current_user.userName}",
    "{user}": "${workspace.current_user.short_name}",
}


def _as_bundle_reference(value: str) -> str:
    for placeholder, reference in SETTINGS_PLACEHOLDERS.items():
        value = value.replace(placeholder, reference)
    return value


def check_settings(bundle: Bundle, package: str) -> list[str]:
    """Each target is an environment of settings.toml and names what that environment names:
    catalog, schema, model and experiment (variables, and the registered model and experiment
    resources when the target declares them)."""
    document = settings_document(bundle.root, package)
    environments = set(document) - {"common", "local"}
    problems = []
    if set(bundle.targets) != environments:
        problems.append(
            f"targets {sorted(bundle.targets)} are not the Databricks environments of "
            f"settings.toml {sorted(environments)}"
        )
    for target in sorted(set(bundle.targets) & environments):
        settings = {
            key: _as_bundle_reference(value) if isinstance(value, str) else value
            for key, value in settings_for(document, target).items()
        }
        unresolved = for_target(bundle, target)
        config = resolve(unresolved, unresolved)
        variables = {k: (v or {}).get("default") for k, v in config["variables"].items()}
        pairs = [
            ("var.catalog", variables.get("catalog"), settings.get("catalog")),
            ("var.schema", variables.get("schema"), settings.get("schema")),
            ("var.model_name", variables.get("model_name"), settings.get("model_name")),
            (
                "var.experiment_name",
                variables.get("experiment_name"),
                settings.get("experiment_name"),
            ),
        ]
        resources = config.get("resources") or {}
        for key, model in (resources.get("registered_models") or {}).items():
            three_part = ".".join(
                str(model.get(f)) for f in ("catalog_name", "schema_name", "name")
            )
            wanted = ".".join(str(settings.get(f)) for f in ("catalog", "schema", "model_name"))
            pairs.append((f"registered_models.{key}", three_part, wanted))
        for key, experiment in (resources.get("experiments") or {}).items():
            pairs.append(
                (f"experiments.{key}", experiment.get("name"), settings["experiment_name"])
            )
        problems.extend(
            f"[{target}] {what} is {ours!r}, settings.toml [{target}] says {theirs!r}"
            for what, ours, theirs in pairs
            if ours != theirs
        )
    return problems
