"""scripts/mutate_validators.py, checked in seconds (a full run takes many minutes):

- it finds every kind of mutation it promises, in validator code only, never in a message;
- a mutant keeps its name when unrelated lines of the file change, so the equivalents file stays
  valid, and every entry of that file still names a mutant (a stale entry is found here, not at
  the end of a long run);
- the report scores a run and fails on what it must fail on.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import REPO_ROOT


@pytest.fixture(scope="module")
def script() -> ModuleType:
    path = REPO_ROOT / "scripts" / "mutate_validators.py"
    spec = importlib.util.spec_from_file_location("mutate_validators", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def described(script: ModuleType, root: Path) -> set[tuple[str, str, str, str]]:
    """(where, kind, original lines, mutated lines) of every mutant of the files under `root`."""
    mutants = script.find_mutants(root)
    named = script.identities(root, mutants)
    return {(named[m].where, m.kind, named[m].original, named[m].mutated) for m in mutants}


def test_every_kind_of_mutation_is_found(script: ModuleType) -> None:
    mutants = script.find_mutants(REPO_ROOT)
    kinds = {m.kind for m in mutants}
    assert kinds == {
        "comparison",
        "integer",
        "not removed",
        "and/or",
        "entry removed",
        "anchor removed",
        "branch dropped",
    }
    assert len(mutants) >= 100, "fewer mutants than the validators had when this was written"

    found = described(script, REPO_ROOT)
    changes = {(where, kind, mutated) for where, kind, _, mutated in found}
    package_limit = "{% elif package_name | length > 60 %}The package name must be at most 60"
    https = "{%- if not (url | regex_search('https://', ignorecase=True)) -%}"
    expected = {
        ("package_name", "comparison", package_limit.replace("> 60", ">= 60")),
        ("package_name", "integer", package_limit.replace("> 60", "> 61")),
        ("package_name", "integer", package_limit.replace("> 60", "> 600")),
        (
            "workspace_url",
            "entry removed",
            "'aws': ['cloud.databricks.com', 'cloud.databricks.us']",
        ),
        ("workspace_url", "anchor removed", https),
        ("release_branch", "comparison", None),
        ("email", "and/or", "{%- if optional or not value -%}"),
    }
    for where, kind, mutated in expected:
        assert any(
            (w, k) == (where, kind) and (mutated is None or m.startswith(mutated))
            for w, k, m in changes
        ), f"no {kind} mutant in {where} like {mutated!r}"
    text = (REPO_ROOT / script.COPIER_YML).read_text(encoding="utf-8")
    named = script.identities(REPO_ROOT, mutants)
    removed = {m.change(text) for m in mutants if named[m].where == "reserved_package_names"}
    assert removed == {"removed `databricks,`", "removed `class,`", "removed `yaml,`"}


def test_mutants_change_code_never_messages(script: ModuleType) -> None:
    """Operators, numbers and anchors are mutated in Jinja code (anchors in its regex strings):
    a changed error message would be a mutant that tests only the message's wording."""
    for file in script.FILES:
        text = (REPO_ROOT / file).read_text(encoding="utf-8")
        region = script.locate_code(text, script.validator_regions(file, text))
        strings = region.strings
        checked = 0
        for mutant in script.find_mutants(REPO_ROOT):
            if mutant.file != file or mutant.kind in ("branch dropped", "entry removed"):
                continue
            checked += 1
            if mutant.kind == "anchor removed":
                assert any(start < mutant.start < end for start, end in strings), mutant
            else:
                assert region.code[mutant.start : mutant.end] == text[mutant.start : mutant.end], (
                    f"{mutant} is not in validator code"
                )
        assert checked >= 20, f"{file}: only {checked} operator or anchor mutants"


def test_mutants_keep_their_names_when_other_lines_change(
    script: ModuleType, tmp_path: Path
) -> None:
    for file in script.FILES:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / file, tmp_path / file)
    before = described(script, tmp_path)
    copier_yml = tmp_path / script.COPIER_YML
    copier_yml.write_text("# An unrelated edit.\n" + copier_yml.read_text(encoding="utf-8"))
    assert described(script, tmp_path) == before


def test_every_recorded_equivalent_still_names_a_mutant(script: ModuleType) -> None:
    equivalents = script.load_equivalents(REPO_ROOT / script.EQUIVALENTS)
    mutants = script.find_mutants(REPO_ROOT)
    names = set(script.identities(REPO_ROOT, mutants).values())
    stale = [identity for identity in equivalents if identity not in names]
    assert stale == [], "entries of the equivalents file that name no mutant"
    assert all(reason.strip() and reason != "..." for reason in equivalents.values())


def test_report_scores_and_fails_on_unexplained_survivors(
    script: ModuleType, tmp_path: Path
) -> None:
    mutants = script.find_mutants(REPO_ROOT)[:10]
    named = script.identities(REPO_ROOT, mutants)
    outcomes = [script.Outcome(None, False, 1.0, "")]
    outcomes += [script.Outcome(m, i >= 1, 1.0, "tests/x.py::t") for i, m in enumerate(mutants)]
    report = tmp_path / "report.md"

    failures = script.write_report(report, outcomes, named, {}, 0.9, 60.0)
    assert failures == [
        f"{1} survivors are not explained in {script.EQUIVALENTS}",
    ]
    text = report.read_text(encoding="utf-8")
    assert "Score: **9 / 10 killed (90.0%)**" in text
    assert "**UNEXPLAINED**" in text and "[[equivalent]]" in text

    explained = {named[mutants[0]]: "no answer tells them apart"}
    assert script.write_report(report, outcomes, named, explained, 0.9, 60.0) == []
    assert "equivalent: no answer tells them apart" in report.read_text(encoding="utf-8")

    failures = script.write_report(report, outcomes, named, explained, 0.95, 60.0)
    assert failures == ["score 90.0% is below the required 95%"]
