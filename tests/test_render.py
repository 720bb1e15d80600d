"""Static checks of every rendered project, for each answer set: what `copier copy` writes must be
a clean repository a team can commit as is (no template leftovers, valid Python and config files,
lint-clean, every answer used).
"""

from __future__ import annotations

import ast
import platform
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cicd_checks import CI_FILES
from packaging.specifiers import SpecifierSet
from support import (
    ANSWER_SETS,
    ANSWERS_FILE,
    TOOLS_BIN,
    AnswerSet,
    Rendered,
    RenderFn,
    project_files,
    read_text,
    render,
    run,
)
from template_repo import name_list

# Answers that may legitimately appear in no rendered file, each with the reason. An answer that
# appears nowhere is usually a question the template forgot to use; add it here only when it is
# consumed some other way (e.g. only by copier itself, or only by a `when:` condition).
ANSWERS_NOT_RENDERED: dict[str, str] = {}

# Files copier may render that are not UTF-8 text.
BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".ico", ".parquet", ".whl"})

JINJA_MARKERS = ("{{", "{%", "%}")
# GitHub Actions and Azure Pipelines expressions, `${{ ... }}`, are legitimate in CI YAML.
CI_EXPRESSION = "${{"
# Databricks job "dynamic value references" use double braces too, in a few known namespaces:
# `{{job.run_id}}`, `{{tasks.train.values.version}}`, `{{workspace.url}}`, `{{input}}`, ...
DATABRICKS_REFERENCE = re.compile(
    r"\{\{\s*(?:job|tasks?|workspace|input|backfill)\b[^{}\s]*\s*\}\}"
)
YAML_SUFFIXES = (".yml", ".yaml")


class _TolerantLoader(yaml.SafeLoader):
    """Safe YAML loader that accepts application tags such as GitLab's `!reference`."""


def _construct_tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _construct_tagged)


def expected_files(rendered: Rendered) -> set[str]:
    """Files that every render of these answers has, by relative path: a check that loops over
    the render's files must meet each of them, or it checked less than it claims."""
    source = f"src/{rendered.package}"
    return {
        ANSWERS_FILE,
        ".pre-commit-config.yaml",
        "README.md",
        "databricks.yml",
        "pyproject.toml",
        "resources/model_training_job.yml",
        "resources/batch_inference_job.yml",
        "resources/monitoring_job.yml",
        "resources/ml_artifacts.yml",
        f"{source}/__init__.py",
        f"{source}/cli.py",
        f"{source}/settings.toml",
        "tests/unit/test_settings.py",
        "tests/integration/test_lifecycle.py",
        *CI_FILES[str(rendered.answers["cicd_platform"])],
    }


def listed_files(rendered: Rendered, *suffixes: str) -> list[Path]:
    """The render's files (only those ending in one of `suffixes`, when given), after checking
    that the listing holds every expected file it should: a loop over it cannot pass vacuously."""
    found = [p for p in project_files(rendered.path) if not suffixes or p.name.endswith(suffixes)]
    relative = {p.relative_to(rendered.path).as_posix() for p in found}
    wanted = {f for f in expected_files(rendered) if not suffixes or f.endswith(suffixes)}
    assert wanted, f"no expected file ends in {suffixes}: the check would test nothing known"
    assert sorted(wanted - relative) == [], f"expected files missing from the render {suffixes}"
    return found


def texts(rendered: Rendered) -> Iterator[tuple[Path, str]]:
    """(relative path, text) of every text file of the render."""
    for path in listed_files(rendered):
        text = read_text(path)
        if text is not None:
            yield path.relative_to(rendered.path), text


def test_render_has_the_expected_files(rendered: Rendered) -> None:
    listed_files(rendered)


def test_every_file_is_text_and_no_template_suffix_is_left(rendered: Rendered) -> None:
    files = listed_files(rendered)
    binary = [
        str(p.relative_to(rendered.path))
        for p in files
        if p.suffix not in BINARY_SUFFIXES and read_text(p) is None
    ]
    jinja = [str(p.relative_to(rendered.path)) for p in files if p.suffix == ".jinja"]
    assert binary == [], "files that are not UTF-8 text"
    assert jinja == [], "files that kept their .jinja suffix"


def test_no_jinja_markers_left(rendered: Rendered) -> None:
    leftovers: list[str] = []
    for rel, text in texts(rendered):
        if rel.name.endswith(YAML_SUFFIXES):
            text = text.replace(CI_EXPRESSION, "")
        text = DATABRICKS_REFERENCE.sub("", text)
        for number, line in enumerate(text.splitlines(), start=1):
            if any(marker in line for marker in JINJA_MARKERS):
                leftovers.append(f"{rel}:{number}: {line.strip()}")
    assert leftovers == [], "unrendered Jinja:\n" + "\n".join(leftovers)


def test_no_unrendered_names(rendered: Rendered) -> None:
    # A path or text that still names a question (e.g. a directory called `{{package_name}}`
    # that copier could not render) shows up as the bare question name in braces.
    names = [str(p.relative_to(rendered.path)) for p in listed_files(rendered)]
    assert [n for n in names if "{" in n or "}" in n] == []


def test_no_todo_or_fixme(rendered: Rendered) -> None:
    found = [
        f"{rel}:{number}: {line.strip()}"
        for rel, text in texts(rendered)
        for number, line in enumerate(text.splitlines(), start=1)
        if re.search(r"\b(TODO|FIXME)\b", line)
    ]
    assert found == []


def test_python_files_compile(rendered: Rendered) -> None:
    for path in listed_files(rendered, ".py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports of a Python file (`import a.b`, `from a import b`:
    "a"); relative imports are the project's own modules."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_reserved_package_names_include_every_module_the_project_imports(
    rendered: Rendered,
) -> None:
    """A package named like a module the project imports (`yaml`, `uuid`, `pytest`, ...) collides
    with it: one of the two cannot be imported. copier.yml cannot import anything, so its
    `reserved_package_names` list is checked here against what the rendered code, tests and
    scripts really import. Only names the package-name format allows can collide."""
    imported = set().union(*(imported_modules(p) for p in listed_files(rendered, ".py")))
    imported.discard(rendered.package)
    possible = {name for name in imported if re.fullmatch(r"[a-z][a-z0-9_]*", name)}
    assert {"mlflow", "pyspark", "pytest", "yaml", "uuid", "json"} <= possible, (
        f"the import scan found too little: {sorted(possible)}"
    )
    reserved = set(name_list("reserved_package_names")) | set(name_list("stdlib_module_names"))
    assert sorted(possible - reserved) == [], "imported modules missing from reserved_package_names"


def test_ruff_targets_the_oldest_python_the_project_allows(rendered: Rendered) -> None:
    pyproject = tomllib.loads((rendered.path / "pyproject.toml").read_text(encoding="utf-8"))
    floor = re.fullmatch(r">=(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert floor is not None
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{floor[1]}{floor[2]}"


@pytest.mark.parametrize(
    "command",
    [["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]],
    ids=["check", "format"],
)
def test_ruff_passes_unchanged(rendered: Rendered, command: list[str]) -> None:
    # Run in the project so that its own ruff configuration (pyproject.toml) applies.
    result = run([TOOLS_BIN / "ruff", *command], cwd=rendered.path, timeout=300)
    assert result.returncode == 0, result.report()


def test_yaml_files_parse(rendered: Rendered) -> None:
    # Every document of every YAML file parses; each expected file is a non-empty mapping.
    parsed: dict[str, list[Any]] = {}
    for path in listed_files(rendered, *YAML_SUFFIXES):
        with path.open(encoding="utf-8") as stream:
            documents = list(yaml.load_all(stream, Loader=_TolerantLoader))
        parsed[path.relative_to(rendered.path).as_posix()] = documents
    not_mappings = [
        rel
        for rel in expected_files(rendered)
        if rel.endswith(YAML_SUFFIXES)
        and not (parsed[rel] and all(isinstance(d, dict) and d for d in parsed[rel]))
    ]
    assert not_mappings == [], "expected YAML files that are not non-empty mappings"


def test_toml_files_parse(rendered: Rendered) -> None:
    parsed = {
        path.relative_to(rendered.path).as_posix(): tomllib.loads(path.read_text(encoding="utf-8"))
        for path in listed_files(rendered, ".toml")
    }
    assert "project" in parsed["pyproject.toml"]
    settings = parsed[f"src/{rendered.package}/settings.toml"]
    assert {"common", "local", "dev", "test", "staging", "prod"} <= set(settings)


def test_answers_file_records_the_answers(rendered: Rendered) -> None:
    path = rendered.path / ANSWERS_FILE
    assert path.is_file(), f"{ANSWERS_FILE} is missing: `copier update` needs it"
    recorded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert recorded.get("_src_path"), "the answers file must say where the template came from"
    assert {key: recorded.get(key) for key in rendered.answers} == dict(rendered.answers)


def test_every_given_answer_appears_in_the_render(
    answer_set: AnswerSet, rendered: Rendered
) -> None:
    """Each answer the user gave is found, as typed, in a rendered file (not the answers file)."""
    corpus = "\n".join(text for rel, text in texts(rendered) if rel.name != ANSWERS_FILE)
    missing = {
        question: value
        for question, value in answer_set.data.items()
        # A yes/no answer is not text: test_every_given_answer_changes_the_render covers it.
        if question not in ANSWERS_NOT_RENDERED and isinstance(value, str) and value not in corpus
    }
    assert missing == {}, "answers that no rendered file contains"


GIVEN_ANSWERS = [
    pytest.param(answer_set, question, id=f"{answer_set.id}-{question}")
    for answer_set in ANSWER_SETS
    for question in answer_set.data
    if question not in ANSWERS_NOT_RENDERED
]


@pytest.mark.parametrize(("answer_set", "question"), GIVEN_ANSWERS)
def test_every_given_answer_changes_the_render(
    answer_set: AnswerSet, question: str, render_answers: RenderFn, tmp_path: Path
) -> None:
    """Leaving out one answer (its question then takes its default) must change some file.

    This also catches answers used only in a transformed form (e.g. "3.12" as "py312") and
    answers whose value happens to appear in the render for another reason.
    """
    rendered = render_answers(answer_set)
    others = {k: v for k, v in answer_set.data.items() if k != question}
    try:
        variant = render(tmp_path / "variant", others)
    except ValueError:
        # Other answers are only valid with this one (e.g. workspace URLs and their cloud): the
        # answer is used, by the validation of the others.
        return
    if variant.answers[question] == rendered.answers[question]:
        return  # the given value is what the default would have been: nothing to compare
    assert snapshot(variant.path) != snapshot(rendered.path), f"{question} changes nothing"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every rendered file's content by relative path, the answers file left out."""
    files = {
        str(path.relative_to(root)): path.read_bytes()
        for path in project_files(root)
        if path.name != ANSWERS_FILE
    }
    assert "databricks.yml" in files and "pyproject.toml" in files, f"{root} is not a render"
    return files


def _requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, f"unparseable requirement {requirement!r}"
        names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def test_pyproject_is_an_installable_src_layout_package(rendered: Rendered) -> None:
    pyproject = tomllib.loads((rendered.path / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]

    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    assert (rendered.path / "src" / rendered.package / "__init__.py").is_file()

    script = project.get("scripts", {}).get(rendered.slug, "")
    assert script.startswith(f"{rendered.package}."), (
        f"console script `{rendered.slug}` must run the package, got {script!r}"
    )

    dev = _requirement_names(project.get("optional-dependencies", {}).get("dev", []))
    assert {"pyspark", "pytest", "ruff", "pre-commit"} <= dev

    # The python_version answer picks CI's and Databricks' Python; the package itself must install
    # on every supported version, including the interpreter running these tests (no other Python
    # can be fetched here).
    requires = SpecifierSet(project.get("requires-python", ""))
    for version in ("3.11", "3.12", platform.python_version()):
        assert requires.contains(version), f"requires-python {requires} excludes Python {version}"


def test_tests_are_split_into_unit_and_integration(rendered: Rendered) -> None:
    for kind in ("unit", "integration"):
        tests = list((rendered.path / "tests" / kind).glob("test_*.py"))
        assert tests, f"tests/{kind} has no test modules"
