"""`copier update`: projects pull template releases without losing their edits.

Every test builds its template releases as local git tags and only renders (nothing is installed
or run), so the module is offline, deterministic and takes well under a minute. It pins down:

- a release that renames a file (with a `_migrations` entry) and changes template-owned files
  lands in a project whose team edited model code, settings, the bundle and the tests, and every
  one of those edits survives, in the renamed file too;
- when the team and the template changed the same line, the file gets conflict markers and git
  reports it unmerged: never a silent overwrite, never a stray `.rej` file;
- user-owned files (`_skip_if_exists`) are never overwritten; what happens to deleted files;
- rendering never needs `--trust`; only an update that runs migrations does;
- updating from this repository's own earlier commits converges on a fresh render of the working
  tree, and changing an answer through an update equals a fresh render with that answer;
- `.copier-answers.yml` holds the answers to the questions and nothing else (no secrets).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from copier.errors import UnsafeTemplateError
from support import ANSWER_SETS, ANSWERS_FILE, REPO_ROOT, AnswerSet, Rendered
from template_repo import (
    CONFLICT_END,
    CONFLICT_START,
    Replacement,
    append,
    commit_all,
    copier_config,
    copy_project,
    edit,
    files_with_new_conflict_markers,
    git,
    git_succeeds,
    path_spec,
    prepend,
    project_tree,
    recorded_answers,
    skip_patterns,
    snapshot_template,
    start_project,
    status,
    unmerged,
    update_project,
    user_owned_paths,
)

PACKAGE_DIR = "template/src/{{package_name}}"
PACKAGE = "customer_churn"  # the default answers' package
OLD_MODULE = f"src/{PACKAGE}/score.py"
NEW_MODULE = f"src/{PACKAGE}/batch_inference.py"

# Lines the scripted release v2 writes, each unique, so the tests can find exactly what landed.
V2_BATCH_DOCSTRING = '"""Batch inference step (renamed from score in v2): append predictions."""'
V2_PLATFORM_DOCSTRING = '"""Where the pipeline runs (v2 wording): this machine, or Databricks.'
V2_SETTINGS_NOTE = "# v2: thresholds are reviewed like code; change them in a pull request."
V2_BUNDLE_NOTE = "# v2: `databricks bundle validate -t <target>` checks this file."
V2_FEATURES_NOTE = "# v2: the template's example features were reorganised."

MIGRATION = """\
_migrations:
  - version: v2
    command:
      - "{{ _copier_python }}"
      - "{{ _copier_conf.src_path }}/hooks/migrations/follow_rename.py"
      - "src/{{ package_name }}/score.py"
      - "src/{{ package_name }}/batch_inference.py"
      - "--template"
      - "{{ _copier_conf.src_path }}"
      - "--answers-file"
      - "{{ _copier_conf.answers_file }}"
"""


def replace_first_line(path: Path, line: str) -> str:
    """Replace a file's first line; return the line it replaced."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    old = lines[0]
    lines[0] = line + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return old.rstrip("\n")


def release_v2(repo: Path) -> None:
    """The scripted release: rename score.py (with a migration) and reword its first line, change
    three template-owned files and one user-owned file, point the imports at the new module."""
    package = repo / PACKAGE_DIR
    git(repo, "mv", f"{PACKAGE_DIR}/score.py", f"{PACKAGE_DIR}/batch_inference.py")
    replace_first_line(package / "batch_inference.py", V2_BATCH_DOCSTRING)
    importers = [
        path
        for path in sorted((repo / "template").rglob("*.py*"))
        if ".score import" in path.read_text(encoding="utf-8")
    ]
    assert importers, "no template module imports score: the rename tests nothing"
    for path in importers:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(".score import", ".batch_inference import"), encoding="utf-8")
    replace_first_line(package / "platform.py", V2_PLATFORM_DOCSTRING)
    prepend(package / "settings.toml.jinja", V2_SETTINGS_NOTE)
    prepend(repo / "template/databricks.yml.jinja", V2_BUNDLE_NOTE)
    prepend(package / "features.py", V2_FEATURES_NOTE)
    edit(repo / "copier.yml", Replacement("_migrations: []\n", MIGRATION))


@dataclass(frozen=True)
class Releases:
    """A throwaway template repository with tags v1 (the working tree) and v2 (v1 + release_v2)."""

    path: Path


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    repo = snapshot_template(tmp_path_factory.mktemp("releases") / "template")
    commit_all(repo, "Release v1: the template as it is in the working tree")
    git(repo, "tag", "v1")
    release_v2(repo)
    commit_all(repo, "Release v2: score.py becomes batch_inference.py, plus template changes")
    git(repo, "tag", "v2")
    return Releases(repo)


def read(project: Path, relative: str) -> str:
    return (project / relative).read_text(encoding="utf-8")


def no_update_leftovers(project: Path) -> None:
    """No `.rej` files: copier's `conflict="inline"` must turn every rejected hunk into markers."""
    rejects = sorted(p.relative_to(project).as_posix() for p in project.rglob("*.rej"))
    assert not rejects, f"rejected hunks: {rejects}"


# --- A release with a rename lands; the team's edits survive -----------------------------------

TEAM_FEATURE = '''

# Team edit: a new model feature.
def tenure_years(tenure_months: int) -> float:
    """Tenure in years, which the churn model reads better than months."""
    return tenure_months / 12
'''
TEAM_SCORING = '''

# Team edit: scoring with a business rule on top of the model.
def high_risk(probability: float) -> bool:
    """Customers the retention team calls first."""
    return probability >= 0.8
'''
TEAM_TARGET = """\
  # Team edit: a QA target in the staging workspace.
  qa:
    mode: development
    variables:
      catalog: qa_sandbox

"""
TEAM_TEST = '''"""Team edit: a test of the team's own feature."""


def test_tenure_years() -> None:
    assert 24 / 12 == 2
'''
TEAM_THRESHOLD = "min_roc_auc = 0.82  # team edit: the business case needs 0.82"


def team_edits(project: Path) -> dict[str, str]:
    """Edit the project the way a team does in its first weeks; return the edited files' text."""
    append(project / f"src/{PACKAGE}/features.py", TEAM_FEATURE)
    append(project / OLD_MODULE, TEAM_SCORING)
    settings = project / f"src/{PACKAGE}/settings.toml"
    threshold = re.findall(
        r"^min_roc_auc = .*$", read(project, f"src/{PACKAGE}/settings.toml"), re.M
    )
    assert len(threshold) == 1, f"expected one min_roc_auc line in settings.toml, got {threshold}"
    edit(settings, Replacement(threshold[0], TEAM_THRESHOLD))
    edit(project / "databricks.yml", Replacement("\ntargets:\n", "\ntargets:\n" + TEAM_TARGET))
    (project / "tests/unit/test_team_feature.py").write_text(TEAM_TEST, encoding="utf-8")
    commit_all(project, "Team edits")
    edited = ("features.py", "score.py", "settings.toml")
    return {f"src/{PACKAGE}/{name}": read(project, f"src/{PACKAGE}/{name}") for name in edited} | {
        name: read(project, name) for name in ("databricks.yml", "tests/unit/test_team_feature.py")
    }


def test_release_with_rename_lands_and_every_team_edit_survives(
    releases: Releases, tmp_path: Path
) -> None:
    project = start_project(releases.path, tmp_path / "project", "v1")
    before = team_edits(project)
    tree_before = project_tree(project)

    update_project(project, "v2", trust=True)

    # The release landed: the rename, its reworded module, the new imports, template-owned files.
    assert not (project / OLD_MODULE).exists()
    batch = read(project, NEW_MODULE)
    assert batch.startswith(V2_BATCH_DOCSTRING + "\n")
    assert "from .batch_inference import" in read(project, f"src/{PACKAGE}/cli.py")
    assert read(project, f"src/{PACKAGE}/platform.py").startswith(V2_PLATFORM_DOCSTRING)
    settings = read(project, f"src/{PACKAGE}/settings.toml")
    bundle = read(project, "databricks.yml")
    assert settings.startswith(V2_SETTINGS_NOTE)
    assert bundle.startswith(V2_BUNDLE_NOTE)
    assert recorded_answers(project)["_commit"] == "v2"

    # Every team edit survived: merged into template-owned files, followed the renamed module.
    assert TEAM_SCORING in batch, "the team's scoring edit did not follow score.py to its new name"
    assert TEAM_THRESHOLD in settings
    assert TEAM_TARGET in bundle
    assert set(yaml.safe_load(bundle)["targets"]) >= {"dev", "qa"}
    assert (
        read(project, "tests/unit/test_team_feature.py")
        == before["tests/unit/test_team_feature.py"]
    )
    # features.py is user-owned: the team's file as committed, the template's v2 change not applied.
    assert read(project, f"src/{PACKAGE}/features.py") == before[f"src/{PACKAGE}/features.py"]

    # A clean merge: nothing rejected, nothing conflicted, nothing else left behind.
    no_update_leftovers(project)
    assert not files_with_new_conflict_markers(project, tree_before)
    assert not unmerged(project)
    changed = {line[3:] for line in status(project)}
    assert NEW_MODULE in changed and OLD_MODULE in changed


# --- Same line changed on both sides: visible conflict, unmerged state --------------------------


def test_same_line_edited_by_team_and_template_conflicts_visibly(
    releases: Releases, tmp_path: Path
) -> None:
    project = start_project(releases.path, tmp_path / "project", "v1")
    platform = f"src/{PACKAGE}/platform.py"
    team_line = '"""Team wording of the platform module docstring.'
    original = replace_first_line(project / platform, team_line)
    commit_all(project, "Team rewords platform.py")

    update_project(project, "v2", trust=True)

    text = read(project, platform)
    conflict = text[text.index(CONFLICT_START) : text.index(CONFLICT_END)]
    assert team_line in conflict and V2_PLATFORM_DOCSTRING in conflict
    assert original not in text.splitlines()
    assert unmerged(project) == [platform]
    assert f"UU {platform}" in status(project)
    # git refuses to commit the update until the conflict is resolved.
    assert not git_succeeds(project, "commit", "--message", "Update the template")
    no_update_leftovers(project)


def test_conflict_in_a_renamed_file_is_marked_too(releases: Releases, tmp_path: Path) -> None:
    """The migration's merge reports conflicts like copier: markers plus an unmerged index."""
    project = start_project(releases.path, tmp_path / "project", "v1")
    team_line = '"""Team wording: scores the weekly batch for the retention team."""'
    replace_first_line(project / OLD_MODULE, team_line)
    append(project / OLD_MODULE, TEAM_SCORING)
    commit_all(project, "Team rewords score.py")

    update_project(project, "v2", trust=True)

    text = read(project, NEW_MODULE)
    conflict = text[text.index(CONFLICT_START) : text.index(CONFLICT_END)]
    assert team_line in conflict and V2_BATCH_DOCSTRING in conflict
    assert TEAM_SCORING in text  # the non-conflicting edit merged cleanly
    assert unmerged(project) == [NEW_MODULE]
    assert not (project / OLD_MODULE).exists()
    no_update_leftovers(project)


def test_unedited_renamed_file_is_simply_the_new_release(
    releases: Releases, tmp_path: Path
) -> None:
    project = start_project(releases.path, tmp_path / "project", "v1")
    update_project(project, "v2", trust=True)
    fresh = tmp_path / "fresh"
    copy_project(releases.path, fresh, "v2")
    assert read(project, NEW_MODULE) == read(fresh, NEW_MODULE)
    assert not (project / OLD_MODULE).exists()
    assert not unmerged(project)


# --- Trust: rendering never needs it; only migrations do ---------------------------------------


def test_copy_needs_no_trust_even_with_migrations(releases: Releases, tmp_path: Path) -> None:
    assert copier_config(releases.path)["_migrations"], "v2 should carry a migration"
    copy_project(releases.path, tmp_path / "project", "v2")  # unsafe=False
    assert (tmp_path / "project" / NEW_MODULE).is_file()


def test_update_across_a_migration_asks_for_trust(releases: Releases, tmp_path: Path) -> None:
    project = start_project(releases.path, tmp_path / "project", "v1")
    with pytest.raises(UnsafeTemplateError, match="migrations"):
        update_project(project, "v2", trust=False)
    assert not status(project), "a refused update must leave the project untouched"


# --- Deleted files -------------------------------------------------------------------------------


def test_deleted_files_template_owned_stay_deleted_user_owned_come_back(
    releases: Releases, tmp_path: Path
) -> None:
    """Copier's rule, documented in docs/updating.md: a deleted template-owned file stays deleted
    (the deletion is an edit like any other), a deleted `_skip_if_exists` file is rendered again
    (skip only means "if it exists"). Teams delete such a file again in the update commit."""
    project = start_project(releases.path, tmp_path / "project", "v1")
    template_owned = ".pre-commit-config.yaml"
    user_owned = "tests/unit/test_model.py"
    assert user_owned in user_owned_paths(project)
    assert template_owned not in user_owned_paths(project)
    for name in (template_owned, user_owned):
        (project / name).unlink()
    commit_all(project, "Team deletes two files")

    update_project(project, "v2", trust=True)

    assert not (project / template_owned).exists()
    assert (project / user_owned).exists()


# --- Convergence: history → working tree, and answers changed through update ---------------------


@dataclass(frozen=True)
class History:
    """A clone of this repository with every commit tagged, plus the working tree as the newest
    tagged commit (others may be editing it; the tests see exactly what `git add -A` would)."""

    path: Path
    older: tuple[str, ...]
    newest: str


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    clone = tmp_path_factory.mktemp("history") / "template"
    git(REPO_ROOT, "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(clone))
    commits = git(clone, "rev-list", "--reverse", "--first-parent", "HEAD").split()
    tags = [f"v0.0.{index}" for index in range(1, len(commits) + 2)]
    for tag, commit in zip(tags, commits, strict=False):
        git(clone, "tag", tag, commit)
    git(clone, f"--work-tree={REPO_ROOT}", "add", "--all")
    git(clone, "commit", "--quiet", "--allow-empty", "--message", "Working tree snapshot")
    git(clone, "tag", tags[-1])
    # At most the first and the latest earlier commit: enough to cover both a long and a short
    # update path, without a render per commit as history grows.
    older = tuple(dict.fromkeys((tags[0], tags[-2])))
    return History(clone, older, tags[-1])


def assert_converges(
    updated: Path, fresh: Path, before_update: Mapping[str, bytes], user_owned: frozenset[str]
) -> None:
    """The updated project equals the fresh render, except that user-owned files keep the
    content they had before the update (an update never overwrites them)."""
    got, want = project_tree(updated), project_tree(fresh)
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    assert not extra and not missing, f"files only after the update: {extra}; only fresh: {missing}"
    differing = sorted(path for path in want if got[path] != want[path])
    template_owned = [path for path in differing if path not in user_owned]
    assert not template_owned, f"template-owned files differ from a fresh render: {template_owned}"
    for path in differing:
        assert got[path] == before_update[path], f"user-owned {path} changed in the update"


@pytest.mark.parametrize("answers", ANSWER_SETS[:2], ids=lambda a: a.id)
def test_update_from_earlier_commits_converges_on_a_fresh_render(
    history: History, answers: AnswerSet, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    copy_project(history.path, fresh, history.newest, answers.data)
    for tag in history.older:
        project = start_project(history.path, tmp_path / tag, tag, answers.data)
        before = project_tree(project)
        # The answers again: questions added since `tag` get the set's answers, not defaults.
        update_project(project, history.newest, answers.data, trust=True)
        no_update_leftovers(project)
        assert not unmerged(project)
        assert_converges(project, fresh, before, user_owned_paths(fresh))


def test_changing_answers_through_update_equals_a_fresh_render(
    releases: Releases, tmp_path: Path
) -> None:
    """No migration is involved (same release), so no trust either. Switching the endpoint on
    adds its module, tests, settings and docs."""
    changed = {
        "python_version": "3.11",
        "catalog_prod": "analytics_live",
        "serving_endpoint": True,
        "prod_query_group": "churn-api-callers",
    }
    project = start_project(releases.path, tmp_path / "project", "v1")
    before = project_tree(project)
    update_project(project, "v1", changed)
    fresh = tmp_path / "fresh"
    copy_project(releases.path, fresh, "v1", changed)

    answers = recorded_answers(project)
    assert {key: answers[key] for key in changed} == changed
    no_update_leftovers(project)
    assert_converges(project, fresh, before, user_owned_paths(fresh))
    changed_files = {
        path for path, content in project_tree(project).items() if before.get(path) != content
    }
    assert changed_files - {ANSWERS_FILE}, "the new answers changed no file: the test is vacuous"
    package = fresh / "src" / recorded_answers(fresh)["package_name"]
    assert (package / "endpoint.py").is_file()


def test_switching_the_feature_store_on_through_update_equals_a_fresh_render(
    releases: Releases, tmp_path: Path
) -> None:
    """The feature store reaches into every data step (feature_source.py), the jobs, settings and
    tests: an update that switches it on must leave exactly what a fresh render has."""
    changed = {"feature_store": True}
    project = start_project(releases.path, tmp_path / "project", "v1")
    before = project_tree(project)
    update_project(project, "v1", changed)
    fresh = tmp_path / "fresh"
    copy_project(releases.path, fresh, "v1", changed)

    assert recorded_answers(project)["feature_store"] is True
    no_update_leftovers(project)
    assert_converges(project, fresh, before, user_owned_paths(fresh))
    package = Path("src") / recorded_answers(fresh)["package_name"]
    for added in (package / "feature_store.py", Path("docs/feature-store.md")):
        assert (project / added).is_file() and added.as_posix() not in before
    feature_source = (package / "feature_source.py").as_posix()
    assert (project / feature_source).read_bytes() != before[feature_source]


# --- The answers file ----------------------------------------------------------------------------

# Shapes of credentials that must never reach a committed file.
SECRET_VALUE = re.compile(
    r"dapi[0-9a-f]{32}|gh[pousr]_[A-Za-z0-9]{30,}|-----BEGIN [A-Z ]*PRIVATE KEY|"
    r"AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}"
)
SECRET_NAME = re.compile(r"token|secret|password|passwd|credential|private_key|api_key", re.I)


def test_no_question_is_secret() -> None:
    """Secret answers are not written to the answers file, so an update would silently lose
    them; the template asks for none (credentials belong in CI secrets and CLI profiles)."""
    config = copier_config()
    secret = [
        name
        for name, spec in config.items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("secret")
    ]
    assert not secret


def test_answers_file_holds_exactly_the_answers(rendered: Rendered) -> None:
    """`.copier-answers.yml` records the answers to the questions asked (the update replays them)
    plus where the template came from, and nothing else: no computed values, no secrets."""
    answers = recorded_answers(rendered.path)
    assert {"_commit", "_src_path"} <= set(answers)
    asked = {key: value for key, value in answers.items() if not key.startswith("_")}
    assert asked == dict(rendered.answers)
    assert set(answers) - set(asked) == {"_commit", "_src_path"}

    config = copier_config()
    computed = {
        name
        for name, spec in config.items()
        if isinstance(spec, dict) and spec.get("when") is False
    }
    assert not computed & set(answers), "computed values must not be recorded as answers"
    assert not [key for key in asked if SECRET_NAME.search(key)]
    text = (rendered.path / ANSWERS_FILE).read_text(encoding="utf-8")
    assert not SECRET_VALUE.search(text)


def test_user_owned_entries_name_rendered_files(default_render: Rendered) -> None:
    """A stale `_skip_if_exists` entry (a file the template renamed) protects nothing; every entry
    must name a file that a render contains, and the update guides must list each one."""
    owned = user_owned_paths(default_render.path)
    assert owned, "copier.yml lists no user-owned files"
    stale = [
        pattern
        for pattern in skip_patterns()
        if not any(path_spec([pattern]).match_file(path) for path in owned)
    ]
    assert not stale, f"_skip_if_exists entries that match no rendered file: {stale}"
    package = default_render.package
    guides = {
        "docs/updating.md": (REPO_ROOT / "docs/updating.md").read_text(encoding="utf-8"),
        "generated docs/updating.md": (default_render.path / "docs/updating.md").read_text(
            encoding="utf-8"
        ),
    }
    for guide, text in guides.items():
        # The template's guide names them generically, the project's guide concretely.
        unlisted = sorted(
            path
            for path in owned
            if path not in text and path.replace(package, "<package>") not in text
        )
        assert not unlisted, f"{guide} does not list the user-owned files {unlisted}"


# --- The rename migration's safety nets -------------------------------------------------------

FOLLOW_RENAME = REPO_ROOT / "hooks/migrations/follow_rename.py"


def run_follow_rename(project: Path, *args: str) -> str:
    """Run the migration script as copier does (copier's interpreter, in the project)."""
    result = subprocess.run(
        [sys.executable, str(FOLLOW_RENAME), *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_rename_migration_restores_the_file_when_it_cannot_merge(tmp_path: Path) -> None:
    """When the previous release cannot be rendered (say the template lost that tag), the team's
    file must not be lost: it is put back at its old path, with a message saying what to do."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src/old.py").write_text("team's code\n", encoding="utf-8")
    git(project, "init", "--quiet")
    commit_all(project, "Team's project")
    (project / "src/old.py").unlink()  # as copier does for a file the new release no longer has

    message = run_follow_rename(
        project,
        "src/old.py",
        "src/new.py",
        "--template",
        str(tmp_path / "no-such-template"),
        "--from-ref",
        "v1",
    )

    assert read(project, "src/old.py") == "team's code\n"
    assert "by hand" in message
    assert not (project / "src/new.py").exists()


def test_rename_migration_does_nothing_without_the_old_file(tmp_path: Path) -> None:
    """A project that had deleted the file, or never had it, is left exactly as copier left it."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "kept.txt").write_text("x\n", encoding="utf-8")
    git(project, "init", "--quiet")
    commit_all(project, "Project without the old file")

    message = run_follow_rename(
        project, "src/old.py", "src/new.py", "--template", str(tmp_path), "--from-ref", "v1"
    )

    assert "nothing to carry over" in message
    assert not status(project)
