"""Throwaway git repositories of the template, and projects rendered and updated from them.

`copier update` only works between git-tagged versions of a template, and only on a clean git
project. The update tests therefore build their own template repositories (from the working tree,
or from this repository's history) and tag them, all locally: no network, no shared state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pathspec
import yaml
from copier.errors import DirtyLocalWarning
from packaging.version import Version
from support import ANSWERS_FILE, GIT_IDENTITY, REPO_ROOT, TOOL_DIRS

# What a template release consists of: everything else in the repository (tests, docs, scripts)
# never reaches a rendered project.
TEMPLATE_SOURCES = ("copier.yml", "template", "hooks")

CONFLICT_START = "<<<<<<< before updating"
CONFLICT_END = ">>>>>>> after updating"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git with the tests' fixed identity and no user or system configuration, so that a
    developer's hooks, signing or default branch cannot change what the tests see."""
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} in {cwd} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def git_succeeds(cwd: Path, *args: str) -> bool:
    """Whether a git command succeeds (for commands that are expected to be refused)."""
    try:
        git(cwd, *args)
    except RuntimeError:
        return False
    return True


def commit_all(cwd: Path, message: str) -> None:
    """Stage everything and commit (an empty commit is allowed: a step may change nothing)."""
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--allow-empty", "--message", message)


def init_repo(path: Path) -> None:
    git(path, "init", "--quiet", "--initial-branch", "main")


def working_tree_sources(repo: Path = REPO_ROOT) -> list[str]:
    """The template's files as they are in the working tree now: tracked and new files that git
    does not ignore (so no caches), without tracked files that were deleted."""
    listed = git(
        repo,
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        "--",
        *TEMPLATE_SOURCES,
    )
    return sorted({name for name in listed.split("\0") if name and (repo / name).is_file()})


def snapshot_template(dst: Path, repo: Path = REPO_ROOT) -> Path:
    """Copy the working tree's template into a new git repository at `dst` (not yet committed)."""
    dst.mkdir(parents=True)
    for name in working_tree_sources(repo):
        target = dst / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    init_repo(dst)
    return dst


def copy_project(
    template: Path, dst: Path, ref: str, data: Mapping[str, Any] | None = None
) -> copier.Worker:
    """`copier copy` at a tag, default answers for everything not in `data`, and never trusted:
    rendering must not need --trust."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DirtyLocalWarning)
        return copier.run_copy(
            src_path=str(template),
            dst_path=dst,
            data=dict(data or {}),
            vcs_ref=ref,
            defaults=True,
            quiet=True,
        )


def update_project(
    project: Path, ref: str | None, data: Mapping[str, Any] | None = None, *, trust: bool = False
) -> copier.Worker:
    """`copier update` to a tag (`None`: copier's default, the newest release tag, as a project's
    update job runs it), keeping previous answers, with inline conflict markers (copier's default,
    stated here because the tests rely on it). `trust` only where migrations run."""
    return copier.run_update(
        dst_path=project,
        data=dict(data or {}),
        vcs_ref=ref,
        defaults=True,
        overwrite=True,
        unsafe=trust,
        conflict="inline",
        quiet=True,
    )


def start_project(
    template: Path, dst: Path, ref: str, data: Mapping[str, Any] | None = None
) -> Path:
    """Render and commit, as a team does right after `copier copy`."""
    copy_project(template, dst, ref, data)
    init_repo(dst)
    commit_all(dst, "Start from the template")
    return dst


def status(project: Path) -> list[str]:
    """`git status --porcelain` lines, untracked files listed one by one."""
    return git(project, "status", "--porcelain", "--untracked-files=all").splitlines()


def unmerged(project: Path) -> list[str]:
    """Paths that git considers unmerged (a conflict `git add` has not resolved yet)."""
    return git(project, "diff", "--name-only", "--diff-filter=U").split()


def project_tree(root: Path) -> dict[str, bytes]:
    """Every file of a project by relative path, without git and tool directories, and with the
    answers file's `_commit` line removed (it names the template commit, which differs between
    an update and a fresh render of the same release)."""
    tree: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in TOOL_DIRS]
        for name in filenames:
            path = Path(dirpath, name)
            relative = path.relative_to(root).as_posix()
            content = path.read_bytes()
            if relative == ANSWERS_FILE:
                content = b"".join(
                    line
                    for line in content.splitlines(keepends=True)
                    if not line.startswith(b"_commit:")
                )
            tree[relative] = content
    assert ANSWERS_FILE in tree, f"{root} is no rendered project"
    return tree


def recorded_answers(project: Path) -> dict[str, Any]:
    """The answers file of a project, parsed."""
    loaded = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def copier_config(template: Path = REPO_ROOT) -> dict[str, Any]:
    """copier.yml of a template, parsed."""
    loaded = yaml.safe_load((template / "copier.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def name_list(name: str, template: Path = REPO_ROOT) -> list[str]:
    """One of copier.yml's constant name lists, as copier reads it: a string parsed as YAML."""
    names = yaml.safe_load(copier_config(template)[name]["default"])
    assert isinstance(names, list), f"{name} must parse as a list"
    return [str(entry) for entry in names]


def skip_patterns(template: Path = REPO_ROOT) -> list[str]:
    """The `_skip_if_exists` entries of a template's copier.yml."""
    return [str(entry) for entry in copier_config(template).get("_skip_if_exists", [])]


def path_spec(patterns: list[str]) -> pathspec.PathSpec:
    """Patterns compiled as copier compiles them (gitignore style; pathspec 1.0 renamed it)."""
    style = "gitignore" if Version(pathspec.__version__) >= Version("1.0.0") else "gitwildmatch"
    return pathspec.PathSpec.from_lines(style, patterns)


def user_owned_paths(project: Path, template: Path = REPO_ROOT) -> frozenset[str]:
    """The files of a rendered project that `_skip_if_exists` protects (an update never
    overwrites them), matched the way copier matches them."""
    spec = path_spec(skip_patterns(template))
    return frozenset(path for path in project_tree(project) if spec.match_file(path))


@dataclass(frozen=True)
class Replacement:
    """One scripted edit of a file: `old` must occur exactly once, so that a template change that
    moves the anchor fails loudly here instead of making the test vacuous."""

    old: str
    new: str


def edit(path: Path, *replacements: Replacement) -> None:
    text = path.read_text(encoding="utf-8")
    for replacement in replacements:
        count = text.count(replacement.old)
        if count != 1:
            raise AssertionError(
                f"{path}: expected exactly one {replacement.old!r} to edit, found {count}; "
                "update the scripted edit in the test to the template's new text"
            )
        text = text.replace(replacement.old, replacement.new)
    path.write_text(text, encoding="utf-8")


def prepend(path: Path, line: str) -> None:
    path.write_text(line + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _marker_lines(content: bytes) -> int:
    markers = {CONFLICT_START.encode(), CONFLICT_END.encode()}
    return sum(1 for line in content.splitlines() if line in markers)


def files_with_new_conflict_markers(root: Path, before: Mapping[str, bytes]) -> list[str]:
    """Files with more conflict-marker lines than before the update (the generated update guide
    shows the markers as an example, so their mere presence proves nothing)."""
    return sorted(
        relative
        for relative, content in project_tree(root).items()
        if _marker_lines(content) > _marker_lines(before.get(relative, b""))
    )
