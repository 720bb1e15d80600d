"""Carry a project's edits to a template file that a release renamed or moved.

Run by `copier update` as an *after* migration (see `_migrations` in copier.yml and
docs/updating.md), with paths already rendered for the project:

    follow_rename.py OLD_PATH NEW_PATH --template SRC --answers-file FILE

Why this exists: copier diffs the old render against the project per path, so without help an
edited file at OLD_PATH is deleted (the template no longer has it) and NEW_PATH arrives as a
fresh render: the team's edits vanish from the working tree. Moving the file *before* the update
is not enough either: copier then sees two unrelated additions of NEW_PATH and conflicts on every
line that differs, the template's own changes included.

What it does instead, after copier has written the new release: a real three-way merge of
    base   = OLD_PATH as the previous template release rendered it (rendered again here),
    ours   = OLD_PATH as the project had it before the update (git HEAD),
    theirs = NEW_PATH as the new release rendered it (the working tree),
written to NEW_PATH. Independent edits on both sides merge cleanly; edits of the same lines get
the same conflict markers and unmerged index entries that copier itself produces, so `git status`
lists the file as unmerged until the user resolves it.

It changes nothing when the project never had OLD_PATH, left it as rendered (then the new render
is already right), or already has NEW_PATH in git. When the previous release cannot be rendered,
it restores the project's file at OLD_PATH and says so: nothing is lost, the move is left to the
user. It never runs on `copier copy`.

Kept to the standard library plus copier (and its dependency PyYAML), since it runs with
copier's own interpreter (`_copier_python`), and compatible with Python 3.9.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

LABELS = ("before updating", "last update", "after updating")  # copier's own conflict labels


def git(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run git in the project (the migration's working directory) without raising."""
    return subprocess.run(["git", *args], input=stdin, capture_output=True, text=True, check=False)


def committed_text(path: str) -> str | None:
    """The file as committed at HEAD (the project before the update), or None if absent."""
    result = git("show", f"HEAD:{path}")
    return result.stdout if result.returncode == 0 else None


def previous_answers(answers_file: str) -> dict[str, Any]:
    """The answers of the previous render: the answers file as committed before the update."""
    import yaml  # copier's dependency; imported late so `--help` works anywhere

    text = committed_text(answers_file)
    if text is None:
        raise LookupError(f"{answers_file} is not committed")
    loaded = yaml.safe_load(text) or {}
    return {key: value for key, value in loaded.items() if not key.startswith("_")}


def render_previous(template: str, ref: str, answers_file: str, old_path: str) -> str:
    """OLD_PATH exactly as the previous template release rendered it for these answers.

    Rendering the whole previous release is the only faithful way to get the merge base: the file
    may be Jinja, and its name may depend on answers. Templates are small, so it takes a second.
    """
    import copier

    with tempfile.TemporaryDirectory(prefix="follow-rename-") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copier.run_copy(
                src_path=template,
                dst_path=tmp,
                data=previous_answers(answers_file),
                vcs_ref=ref,
                defaults=True,
                quiet=True,
                skip_tasks=True,
                unsafe=True,  # the update that runs this migration is already trusted
            )
        return Path(tmp, old_path).read_text(encoding="utf-8")


def merge(ours: str, base: str, theirs: str) -> tuple[str, bool]:
    """Three-way merge with `git merge-file`; returns the text and whether conflicts remain."""
    with tempfile.TemporaryDirectory(prefix="follow-rename-") as tmp:
        files = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            file = Path(tmp, name)
            file.write_text(text, encoding="utf-8")
            files.append(str(file))
        label_args = [arg for label in LABELS for arg in ("-L", label)]
        result = subprocess.run(
            ["git", "merge-file", "--stdout", *label_args, *files],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode < 0 or result.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {result.stderr.strip()}")
    return result.stdout, result.returncode > 0


def mark_unmerged(path: str, ours: str, base: str, theirs: str) -> None:
    """Record the conflict in the index (stages 1-3), as copier does for its own conflicts, so
    `git status` shows the file as unmerged and a commit is refused until it is resolved."""
    mode = "100755" if os.access(path, os.X_OK) else "100644"
    entries = [f"0 {'0' * 40}\t{path}"]
    for stage, text in ((1, base), (2, ours), (3, theirs)):
        blob = git("hash-object", "-w", "--stdin", stdin=text).stdout.strip()
        entries.append(f"{mode} {blob} {stage}\t{path}")
    result = git("update-index", "--index-info", stdin="\n".join(entries) + "\n")
    if result.returncode != 0:
        raise RuntimeError(f"git update-index failed: {result.stderr.strip()}")


def follow(old_path: str, new_path: str, template: str, ref: str, answers_file: str) -> str:
    """Carry the project's edits of OLD_PATH to NEW_PATH; return what was done, for the log."""
    ours = committed_text(old_path)
    if ours is None:
        return f"{old_path} was not in the project; nothing to carry over"
    if committed_text(new_path) is not None:
        return f"{new_path} was already in the project; left as copier merged it"
    try:
        base = render_previous(template, ref, answers_file, old_path)
    except Exception as exc:  # any failure must leave the user's file, not lose it
        git("checkout", "HEAD", "--", old_path)
        return (
            f"could not render the previous release ({exc}); restored your {old_path}: "
            f"move your changes to {new_path} by hand, then delete {old_path}"
        )
    if ours == base:
        return f"{old_path} had no local edits; {new_path} is the new release's version"
    target = Path(new_path)
    theirs = target.read_text(encoding="utf-8") if target.exists() else base
    merged, conflicted = merge(ours, base, theirs)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(merged, encoding="utf-8")
    if conflicted:
        mark_unmerged(new_path, ours, base, theirs)
        return f"your edits of {old_path} merged into {new_path} with conflicts to resolve"
    return f"your edits of {old_path} merged into {new_path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old_path", help="the file's path in the previous release (rendered)")
    parser.add_argument("new_path", help="the file's path in the new release (rendered)")
    parser.add_argument("--template", required=True, help="the template (`_copier_conf.src_path`)")
    parser.add_argument(
        "--from-ref",
        default=os.environ.get("VERSION_FROM", ""),
        help="the previous release's git ref (default: $VERSION_FROM, set by copier)",
    )
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    args = parser.parse_args(argv)
    if not args.from_ref:
        parser.error("--from-ref is required outside copier (VERSION_FROM is not set)")
    message = follow(args.old_path, args.new_path, args.template, args.from_ref, args.answers_file)
    print(f"follow_rename: {message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
