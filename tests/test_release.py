"""Releases: CHANGELOG.md decides them, `scripts/release.py` tags them, projects get only them.

- release.py reads the newest release from a changelog and refuses, with a message saying what to
  fix, headings that are not `## Unreleased` or `## X.Y.Z` and versions that do not strictly
  decrease; the repository's own CHANGELOG.md passes;
- `--tag-if-new` tags HEAD once (an annotated tag carrying the release's entry) and does nothing
  when the tag exists, and refuses to tag a HEAD that holds unreleased changes;
- end to end, in a throwaway template repository tagged by release.py from the repository's own
  changelog: a project on the first release, updated without `--vcs-ref` as its update job does,
  equals a fresh render of the next release, and an untagged commit on top of that release is
  never proposed, neither by `copier update` nor by `copier check-update`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import ANSWERS_FILE, GIT_IDENTITY, REPO_ROOT, TOOLS_BIN, run
from template_repo import (
    commit_all,
    copy_project,
    git,
    init_repo,
    prepend,
    project_tree,
    recorded_answers,
    snapshot_template,
    start_project,
    update_project,
)

RELEASE_SCRIPT = REPO_ROOT / "scripts" / "release.py"
CHANGELOG = "CHANGELOG.md"


def _load_release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release", RELEASE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


release = _load_release()

HEADER = """\
# Changelog

Releases of the template, newest first.
"""
ENTRY_020 = """\
## 0.2.0

### Generated projects

- A new thing.

### Updating to this release

- Nothing to do.
"""
ENTRY_0100 = "## 0.10.0\n\n- Ten comes after nine.\n"
ENTRY_090 = "## 0.9.0\n\n- Nine.\n"
ENTRY_010 = "## 0.1.0\n\n- The first release.\n"
EMPTY_UNRELEASED = "## Unreleased\n\n### Generated projects\n"


def changelog(*sections: str) -> str:
    return "\n".join((HEADER, *sections))


def release_py(path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """release.py's main on a changelog file: (exit status, stdout, stderr)."""
    status = release.main([*args, "--changelog", str(path)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CHANGELOG
    path.write_text(text, encoding="utf-8")
    return path


# --- Reading and checking a changelog ------------------------------------------------------------


def test_the_newest_release_is_the_first_version_heading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        changelog("## Unreleased\n\n- Not yet.\n", ENTRY_0100, ENTRY_090, ENTRY_020, ENTRY_010),
    )
    assert release_py(path, capsys=capsys) == (0, "0.10.0\n", "")
    status, out, _ = release_py(path, "--check", capsys=capsys)
    assert status == 0 and "well-formed: newest release 0.10.0" in out


def test_a_changelog_with_unreleased_changes_only_has_no_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Well-formed (a template before its first release), but there is no version to print or
    tag, and each mode says so instead of inventing one."""
    path = write(tmp_path, changelog("## Unreleased\n\n- Everything so far.\n"))
    status, out, err = release_py(path, capsys=capsys)
    assert status == 1 and out == ""
    assert "has no release yet (no `## X.Y.Z` heading)" in err
    status, out, _ = release_py(path, "--check", capsys=capsys)
    assert status == 0 and "no release yet" in out


@pytest.mark.parametrize(
    "heading",
    ["## v0.2.0", "## 0.2", "## 0.2.0.1", "## 02.0.0", "## 0.2.0 (2025-06-01)", "## 0.2.0-rc.1"],
)
def test_a_heading_that_is_no_semantic_version_is_refused(
    heading: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, changelog(EMPTY_UNRELEASED, f"{heading}\n\n- Something.\n", ENTRY_010))
    line = path.read_text(encoding="utf-8").splitlines().index(heading) + 1
    for args in ((), ("--check",), ("--tag-if-new",)):
        status, out, err = release_py(path, *args, capsys=capsys)
        assert status == 1 and out == "", args
        assert f"{path}:{line}: `{heading}` is neither `## Unreleased` nor a release" in err
        assert "`## X.Y.Z` (semantic version" in err


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ((ENTRY_010, ENTRY_020), "0.2.0 comes below 0.1.0"),
        ((ENTRY_020, ENTRY_020), "0.2.0 comes below 0.2.0"),
        ((ENTRY_090, ENTRY_0100), "0.10.0 comes below 0.9.0"),
    ],
    ids=["increasing", "repeated", "numeric-not-text-order"],
)
def test_versions_must_strictly_decrease_from_top_to_bottom(
    sections: tuple[str, ...], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, changelog(EMPTY_UNRELEASED, *sections))
    status, _, err = release_py(path, "--check", capsys=capsys)
    assert status == 1
    assert message in err and "releases must be newest first, each version once" in err


def test_unreleased_must_be_above_every_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, changelog(ENTRY_020, EMPTY_UNRELEASED, ENTRY_010))
    status, _, err = release_py(path, "--check", capsys=capsys)
    assert status == 1 and "`## Unreleased` must come once, above every release" in err


def test_headings_in_code_blocks_are_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = "- Releases look like this:\n\n  ```markdown\n  ## 9.9.9\n  ## not a version\n  ```\n"
    path = write(tmp_path, changelog(EMPTY_UNRELEASED, "## 0.2.0\n\n" + example, ENTRY_010))
    assert release_py(path, "--check", capsys=capsys)[0] == 0
    assert release_py(path, capsys=capsys)[1] == "0.2.0\n"


def test_a_missing_changelog_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = release_py(tmp_path / CHANGELOG, "--check", capsys=capsys)
    assert status == 1 and f"cannot read {tmp_path / CHANGELOG}" in err


def test_the_repository_s_changelog_passes_the_check() -> None:
    """As the release workflow runs it: python3, from the repository's root."""
    result = run(["python3", RELEASE_SCRIPT, "--check"], cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 0, result.report()
    assert "CHANGELOG.md is well-formed: newest release " in result.output


# --- Tagging -------------------------------------------------------------------------------------


def _git_env() -> dict[str, str]:
    """The tests' git identity and no user configuration (no signing, no hooks)."""
    return {
        **os.environ,
        **GIT_IDENTITY,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def tag_if_new(repo: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """`release.py --tag-if-new` as the release workflow runs it (from the repository's root),
    with the outputs it hands to the workflow's next step."""
    outputs = repo.parent / "outputs.txt"
    outputs.write_text("", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(RELEASE_SCRIPT), "--tag-if-new", "--outputs", str(outputs)],
        cwd=repo,
        env=_git_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    pairs = (line.partition("=") for line in outputs.read_text(encoding="utf-8").splitlines())
    return result, {key: value for key, _, value in pairs}


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "--list").split()


def changelog_repo(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    init_repo(path)
    (path / CHANGELOG).write_text(text, encoding="utf-8")
    commit_all(path, "Release")
    return path


def test_tag_if_new_tags_head_once_then_does_nothing(tmp_path: Path) -> None:
    repo = changelog_repo(tmp_path / "repo", changelog(EMPTY_UNRELEASED, ENTRY_020, ENTRY_010))
    head = git(repo, "rev-parse", "HEAD").strip()

    first, outputs = tag_if_new(repo)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"Tagged v0.2.0 at {head[:12]}.\n"
    assert outputs == {"tag": "v0.2.0", "created": "true"}
    assert tags(repo) == ["v0.2.0"]
    assert git(repo, "cat-file", "-t", "v0.2.0").strip() == "tag", "an annotated tag"
    assert git(repo, "rev-parse", "v0.2.0^{commit}").strip() == head
    message = git(repo, "tag", "--list", "--format=%(contents)", "v0.2.0")
    # The release's whole entry, Markdown headings included (git would strip them as comments).
    assert message.startswith("Release 0.2.0\n\n### Generated projects\n\n- A new thing.\n")
    assert "### Updating to this release" in message and "0.1.0" not in message

    commit_all(repo, "A later commit")
    second, outputs = tag_if_new(repo)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"v0.2.0 already exists (commit {head[:12]}): nothing to tag.\n"
    assert outputs == {"tag": "v0.2.0", "created": "false"}
    assert tags(repo) == ["v0.2.0"]
    assert git(repo, "rev-parse", "v0.2.0^{commit}").strip() == head


def test_tag_if_new_without_a_release_tags_nothing(tmp_path: Path) -> None:
    repo = changelog_repo(tmp_path / "repo", changelog("## Unreleased\n\n- Not yet.\n"))
    result, outputs = tag_if_new(repo)
    assert result.returncode == 0, result.stderr
    assert "has no release yet (no `## X.Y.Z` heading): nothing to tag." in result.stdout
    assert outputs == {"tag": "", "created": "false"}
    assert tags(repo) == []


def test_tag_if_new_refuses_a_head_with_unreleased_entries(tmp_path: Path) -> None:
    """HEAD would be tagged 0.2.0 while holding changes that 0.2.0 does not announce."""
    text = changelog("## Unreleased\n\n### Generated projects\n\n- Later.\n", ENTRY_020)
    repo = changelog_repo(tmp_path / "repo", text)
    result, outputs = tag_if_new(repo)
    assert result.returncode == 1
    assert "`## Unreleased` has entries, so HEAD holds changes that are not part of 0.2.0" in (
        result.stderr
    )
    assert "git tag --annotate v0.2.0 <commit>" in result.stderr
    assert outputs == {} and tags(repo) == []


def test_tag_if_new_refuses_an_uncommitted_changelog(tmp_path: Path) -> None:
    repo = changelog_repo(tmp_path / "repo", changelog(EMPTY_UNRELEASED, ENTRY_010))
    (repo / CHANGELOG).write_text(changelog(EMPTY_UNRELEASED, ENTRY_020, ENTRY_010), "utf-8")
    result, _ = tag_if_new(repo)
    assert result.returncode == 1
    assert "CHANGELOG.md has uncommitted changes: commit them first" in result.stderr
    assert tags(repo) == []


# --- Projects are offered releases, never untagged commits ---------------------------------------

UNRELEASED_HEADING = "## Unreleased\n"
RELEASED_LINE = "# Changed in the next release."
UNRELEASED_LINE = "# Changed on main after the next release, not released."


def released_only(text: str) -> str:
    """The changelog as it was right after its newest release: `## Unreleased` left empty."""
    head, rest = text.split(UNRELEASED_HEADING, 1)
    return head + UNRELEASED_HEADING + "\n" + rest[rest.index("\n## ") + 1 :]


def with_unreleased_entry(text: str, entry: str) -> str:
    return text.replace(UNRELEASED_HEADING, f"{UNRELEASED_HEADING}\n- {entry}\n", 1)


def cut(text: str, version: str) -> str:
    """Cut a release as docs/updating.md says: a heading below `## Unreleased`, so that every
    unreleased entry moves under it."""
    return text.replace(UNRELEASED_HEADING, f"{UNRELEASED_HEADING}\n## {version}\n", 1)


def next_minor(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"{major}.{int(minor) + 1}.0"


def check_update(project: Path) -> dict[str, object]:
    """`copier check-update` as the update job runs it (no --vcs-ref), read as JSON."""
    result = run(
        [TOOLS_BIN / "copier", "check-update", "--output-format", "json"],
        cwd=project,
        timeout=120,
    )
    assert result.returncode == 0, result.report()
    loaded = json.loads(result.output.strip().splitlines()[-1])
    assert isinstance(loaded, dict)
    return loaded


def test_projects_update_from_release_to_release_never_to_untagged_commits(
    tmp_path: Path,
) -> None:
    """The whole release flow in a throwaway template repository: the repository's changelog
    and release.py decide the tags, and the project follows them as its update job would."""
    repo = snapshot_template(tmp_path / "template")
    text = released_only((REPO_ROOT / CHANGELOG).read_text(encoding="utf-8"))
    (repo / CHANGELOG).write_text(text, encoding="utf-8")
    commit_all(repo, "The template as it is in the working tree, released")
    first, outputs = tag_if_new(repo)
    assert first.returncode == 0, first.stderr
    first_tag = outputs["tag"]
    newest = subprocess.run(
        [sys.executable, str(RELEASE_SCRIPT)], cwd=repo, capture_output=True, text=True, check=True
    )
    assert first_tag == f"v{newest.stdout.strip()}" and outputs["created"] == "true"

    # A change is merged: an unreleased entry, and the release workflow leaves the tags alone.
    prepend(repo / "template/databricks.yml.jinja", RELEASED_LINE)
    text = with_unreleased_entry(text, "The bundle file gains a comment.")
    (repo / CHANGELOG).write_text(text, encoding="utf-8")
    commit_all(repo, "A template change")
    assert tag_if_new(repo)[1] == {"tag": first_tag, "created": "false"}

    # The platform team cuts the next minor release; the workflow tags it.
    second_version = next_minor(first_tag.removeprefix("v"))
    text = cut(text, second_version)
    (repo / CHANGELOG).write_text(text, encoding="utf-8")
    commit_all(repo, f"Release {second_version}")
    second, outputs = tag_if_new(repo)
    assert second.returncode == 0, second.stderr
    second_tag = f"v{second_version}"
    assert outputs == {"tag": second_tag, "created": "true"}

    # More work lands on main, untagged.
    prepend(repo / "template/.gitignore", UNRELEASED_LINE)
    text = with_unreleased_entry(text, "The .gitignore gains a comment.")
    (repo / CHANGELOG).write_text(text, encoding="utf-8")
    commit_all(repo, "Unreleased work")
    assert tag_if_new(repo)[1] == {"tag": second_tag, "created": "false"}
    assert sorted(tags(repo)) == sorted([first_tag, second_tag])

    project = start_project(repo, tmp_path / "project", first_tag)
    offered = check_update(project)
    assert offered["update_available"] is True
    assert offered["latest_version"] == second_version

    update_project(project, None)
    assert recorded_answers(project)["_commit"] == second_tag
    fresh = tmp_path / "fresh"
    copy_project(repo, fresh, second_tag)
    updated, expected = project_tree(project), project_tree(fresh)
    assert sorted(updated) == sorted(expected)
    assert [path for path in expected if updated[path] != expected[path]] == []
    assert RELEASED_LINE in (project / "databricks.yml").read_text(encoding="utf-8")
    assert UNRELEASED_LINE not in (project / ".gitignore").read_text(encoding="utf-8")

    commit_all(project, f"Update the project template to {second_tag}")
    offered = check_update(project)
    assert offered["update_available"] is False, "the untagged commit was offered"
    assert offered["current_version"] == offered["latest_version"] == second_version
    assert f"_commit: {second_tag}" in (project / ANSWERS_FILE).read_text(encoding="utf-8")
