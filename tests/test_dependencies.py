"""The generated project's dependencies match the runtime that runs its jobs: each render bounds
the libraries it imports to the lines that runtime ships (copier.yml `library_bounds`, which says
where each version was read and why a bound departs from its runtime), and PySpark to its Spark.

Installing the wheel on Databricks then keeps the runtime's own versions, and a local install
resolves inside the same bounds; test_generated_project.py checks what a local install resolved.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from support import REPO_ROOT, render

# What each runtime ships of the libraries the project imports, and its Spark (copier.yml
# `library_bounds` names the sources). Keyed by the (python_version, compute) answers.
SHIPS: Mapping[tuple[str, str], Mapping[str, str]] = {
    # Serverless environment 5.
    ("3.12", "serverless"): {
        "mlflow": "3.8.1",
        "scikit-learn": "1.6.1",
        "pandas": "2.2.3",
        "numpy": "2.1.3",
        "pyarrow": "21.0.0",
        "pyspark": "4.1.0",
    },
    # Databricks Runtime 17.3 LTS ML; its MLflow (3.0.1) is older than the project runs on.
    ("3.12", "classic"): {
        "scikit-learn": "1.6.1",
        "pandas": "2.2.3",
        "numpy": "2.1.3",
        "pyarrow": "19.0.1",
        "pydantic": "2.10.6",
        "scipy": "1.15.1",
        "matplotlib": "3.10.0",
        "pyspark": "4.0.0",
    },
}
# Python 3.11 runs on serverless environment 2 or DBR 15.4 LTS ML, whose pandas 1.5, pydantic 1,
# MLflow 2 and Spark 3.5 the project does not run on: it takes the lines of serverless 5.
SAME_AS = {
    ("3.11", "serverless"): ("3.12", "serverless"),
    ("3.11", "classic"): ("3.12", "serverless"),
}
# Each render's runtime: a key of copier.yml's `library_bounds`.
RUNTIME = {
    ("3.12", "serverless"): "serverless-5",
    ("3.12", "classic"): "dbr-17.3-ml",
    ("3.11", "serverless"): "serverless-2",
    ("3.11", "classic"): "dbr-15.4-ml",
}
# Every runtime ships a databricks-sdk older than 0.68, the first with the Data Quality API.
SDK_FLOOR = Version("0.68")

ANSWERS = [pytest.param(*key, id=f"python-{key[0]}-{key[1]}") for key in RUNTIME]


def bounds(project: Path) -> dict[str, SpecifierSet]:
    """The runtime dependencies of the rendered pyproject.toml and PySpark of its dev extra."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(line) for line in pyproject["dependencies"]]
    requirements += [
        requirement
        for requirement in map(Requirement, pyproject["optional-dependencies"]["dev"])
        if requirement.name == "pyspark"
    ]
    return {requirement.name: requirement.specifier for requirement in requirements}


def next_line(name: str, version: str) -> Version:
    """The first release after the line of ``version``: its next minor, for pyarrow its next major
    (pyarrow's feature releases are major ones)."""
    major, minor = Version(version).release[:2]
    return Version(f"{major + 1}") if name == "pyarrow" else Version(f"{major}.{minor + 1}")


@pytest.fixture(scope="module")
def rendered_bounds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    """The bounds of one render per (python_version, compute), rendered once for the module."""
    found = {}
    for python_version, compute in RUNTIME:
        dst = tmp_path_factory.mktemp(f"deps-{python_version}-{compute}") / "project"
        render(dst, {"python_version": python_version, "compute": compute})
        found[python_version, compute] = bounds(dst)
    return found


@pytest.mark.parametrize(("python_version", "compute"), ANSWERS)
def test_render_takes_its_bounds_from_the_runtime_map(
    python_version: str, compute: str, rendered_bounds: dict
) -> None:
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    table = config["library_bounds"]["default"][RUNTIME[python_version, compute]]
    assert rendered_bounds[python_version, compute] == {
        name: SpecifierSet(spec) for name, spec in table.items()
    }


@pytest.mark.parametrize(("python_version", "compute"), ANSWERS)
def test_every_runtime_dependency_is_bounded_above(
    python_version: str, compute: str, rendered_bounds: dict
) -> None:
    # Without an upper bound a local install takes whatever is newest (pandas 3 under a PySpark
    # that does not support it) while Databricks keeps its own.
    unbounded = [
        name
        for name, specifier in rendered_bounds[python_version, compute].items()
        if not any(spec.operator in ("<", "<=", "==", "~=") for spec in specifier)
    ]
    assert unbounded == []


@pytest.mark.parametrize(("python_version", "compute"), ANSWERS)
def test_bounds_hold_the_line_the_runtime_ships_and_no_other(
    python_version: str, compute: str, rendered_bounds: dict
) -> None:
    found = rendered_bounds[python_version, compute]
    ships = SHIPS[SAME_AS.get((python_version, compute), (python_version, compute))]
    for name, version in ships.items():
        assert version in found[name], f"{name} {found[name]} excludes the runtime's {version}"
        assert next_line(name, version) not in found[name], (
            f"{name} {found[name]} admits {next_line(name, version)}, not shipped by the runtime"
        )
    assert Version("3.0") not in found["pandas"]  # PySpark 4.0 and 4.1 do not support pandas 3
    assert SDK_FLOOR in found["databricks-sdk"]
    assert Version("0.67") not in found["databricks-sdk"]


def test_python_3_11_takes_the_lines_of_the_newest_runtime(rendered_bounds: dict) -> None:
    for key, same_as in SAME_AS.items():
        assert rendered_bounds[key] == rendered_bounds[same_as]
