#!/usr/bin/env python3
"""The template's releases, read from CHANGELOG.md, and the git tags that publish them.

Generated projects update to the newest git tag `vX.Y.Z` of the template (copier's default), so a
release exists exactly when its tag does. CHANGELOG.md is where a release is decided: a
`## X.Y.Z` heading, newest first, below `## Unreleased`. This tool keeps the two in step:

    python3 scripts/release.py                # print the newest released version (0.2.0)
    python3 scripts/release.py --check        # fail on a malformed changelog, say why
    python3 scripts/release.py --tag-if-new   # tag HEAD vX.Y.Z unless that tag exists

`.github/workflows/release.yml` runs the last two on every change of CHANGELOG.md on main and
pushes the tag it creates. Standard library only: it runs with the runner's python3, before any
setup.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CHANGELOG = Path("CHANGELOG.md")
UNRELEASED = "Unreleased"
# Semantic versioning's X.Y.Z: no leading zeros, no prefix, no suffix (pre-releases and build
# metadata are not used: copier skips pre-release tags, so they would never reach a project).
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
SECTION = re.compile(r"## (.*)")
FENCE = re.compile(r"\s*(```|~~~)")


class ChangelogError(Exception):
    """Why no version can be printed or tagged (a malformed changelog, a HEAD that is not the
    release); the message says what to fix."""


@dataclass(frozen=True)
class Version:
    """A release's X.Y.Z, ordered numerically (0.10.0 is newer than 0.9.0)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version | None:
        match = SEMVER.fullmatch(text)
        if match is None:
            return None
        major, minor, patch = (int(part) for part in match.groups())
        return cls(major, minor, patch)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def tag(self) -> str:
        return f"v{self}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class Section:
    """One `## ` section of the changelog: its title, the line it starts on, and its body."""

    title: str
    line: int
    body: str

    @property
    def has_entries(self) -> bool:
        """Whether the section says anything: sub-headings alone (### Generated projects, kept
        ready under Unreleased) are no entries."""
        return any(
            line.strip() and not line.lstrip().startswith("#") for line in self.body.splitlines()
        )


@dataclass(frozen=True)
class Release:
    version: Version
    section: Section


@dataclass(frozen=True)
class Changelog:
    """The changelog's releases, newest first, and its Unreleased section if it has one."""

    releases: tuple[Release, ...]
    unreleased: Section | None

    @property
    def newest(self) -> Release | None:
        return self.releases[0] if self.releases else None


def sections(text: str) -> list[Section]:
    """Split the changelog at its `## ` headings. Headings inside fenced code blocks are text:
    an example heading in a code block must not become a release."""
    found: list[Section] = []
    title: str | None = None
    start = 0
    body: list[str] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else SECTION.fullmatch(line.rstrip())
        if heading is None:
            body.append(line)
            continue
        if title is not None:
            found.append(Section(title, start, "\n".join(body).strip()))
        title, start, body = heading.group(1).strip(), number, []
    if title is not None:
        found.append(Section(title, start, "\n".join(body).strip()))
    return found


def parse(text: str, name: str = str(CHANGELOG)) -> Changelog:
    """Read and validate a changelog: every `## ` heading is `Unreleased` (at most once, first)
    or a version X.Y.Z, and versions strictly decrease from top to bottom. Anything else would
    make "the newest release" ambiguous, and a tag from it could move projects backwards."""
    releases: list[Release] = []
    unreleased: Section | None = None
    for section in sections(text):
        where = f"{name}:{section.line}"
        if section.title == UNRELEASED:
            if unreleased is not None or releases:
                raise ChangelogError(
                    f"{where}: `## {UNRELEASED}` must come once, above every release"
                )
            unreleased = section
            continue
        version = Version.parse(section.title)
        if version is None:
            raise ChangelogError(
                f"{where}: `## {section.title}` is neither `## {UNRELEASED}` nor a release "
                "`## X.Y.Z` (semantic version: three numbers without leading zeros, no `v`, "
                "nothing after them)"
            )
        if releases and version.key >= releases[-1].version.key:
            previous = releases[-1]
            raise ChangelogError(
                f"{where}: {version} comes below {previous.version} (line "
                f"{previous.section.line}); releases must be newest first, each version once"
            )
        releases.append(Release(version, section))
    return Changelog(tuple(releases), unreleased)


def read(path: Path) -> Changelog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ChangelogError(f"cannot read {path}: {error.strerror}") from error
    return parse(text, str(path))


def git(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=False
    )


def tag_commit(repo: Path, tag: str) -> str | None:
    """The commit an existing tag names, or None when there is no such tag."""
    result = git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    return result.stdout.strip() if result.returncode == 0 else None


def tag_message(release: Release) -> str:
    """The tag carries the release's changelog entry, so `git show vX.Y.Z` says what it is."""
    return f"Release {release.version}\n\n{release.section.body}\n"


def tag_if_new(changelog: Changelog, repo: Path, path: Path) -> tuple[str | None, bool]:
    """Tag HEAD with the newest release unless its tag exists. Returns (tag, created).

    HEAD becomes the release, so it must be exactly what the changelog says was released: a
    changelog with uncommitted edits, or with entries still under Unreleased, means HEAD holds
    changes outside the release, and tagging it would ship them unannounced."""
    release = changelog.newest
    if release is None:
        print(f"{path} has no release yet (no `## X.Y.Z` heading): nothing to tag.")
        return None, False
    tag = release.version.tag
    existing = tag_commit(repo, tag)
    if existing is not None:
        print(f"{tag} already exists (commit {existing[:12]}): nothing to tag.")
        return tag, False
    head = git(repo, "rev-parse", "--verify", "HEAD")
    if head.returncode != 0:
        raise ChangelogError(f"no commit to tag in {repo}: {head.stderr.strip()}")
    diff = git(repo, "diff", "--quiet", "HEAD", "--", str(path))
    if diff.returncode == 1:
        raise ChangelogError(
            f"{path} has uncommitted changes: commit them first, so that {tag} names the commit "
            "whose changelog announces it"
        )
    if diff.returncode != 0:
        raise ChangelogError(f"cannot compare {path} with HEAD: {diff.stderr.strip()}")
    if changelog.unreleased is not None and changelog.unreleased.has_entries:
        raise ChangelogError(
            f"{path}:{changelog.unreleased.line}: `## {UNRELEASED}` has entries, so HEAD holds "
            f"changes that are not part of {release.version}. Move them under a new release "
            f"heading, or tag the commit that released {release.version} by hand: "
            f"git tag --annotate {tag} <commit>"
        )
    created = git(
        repo,
        "tag",
        "--annotate",
        "--cleanup=whitespace",
        "--file=-",
        tag,
        "HEAD",
        stdin=tag_message(release),
    )
    if created.returncode != 0:
        raise ChangelogError(f"git tag {tag} failed: {created.stderr.strip()}")
    print(f"Tagged {tag} at {head.stdout.strip()[:12]}.")
    return tag, True


def write_outputs(path: Path, tag: str | None, created: bool) -> None:
    """key=value lines for the caller's next steps (GitHub Actions: $GITHUB_OUTPUT)."""
    with path.open("a", encoding="utf-8") as outputs:
        outputs.write(f"tag={tag or ''}\ncreated={str(created).lower()}\n")


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="validate the changelog (exit 1 if malformed)"
    )
    mode.add_argument(
        "--tag-if-new",
        action="store_true",
        help="create the annotated tag vX.Y.Z of the newest release at HEAD unless it exists",
    )
    parser.add_argument(
        "--changelog", type=Path, default=CHANGELOG, help="default: CHANGELOG.md (in the cwd)"
    )
    parser.add_argument(
        "--outputs",
        type=Path,
        help="with --tag-if-new: append tag=vX.Y.Z and created=true|false to this file",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    try:
        changelog = read(args.changelog)
        if args.check:
            newest = changelog.newest
            state = f"newest release {newest.version}" if newest else "no release yet"
            print(f"{args.changelog} is well-formed: {state}.")
        elif args.tag_if_new:
            tag, created = tag_if_new(changelog, Path.cwd(), args.changelog)
            if args.outputs is not None:
                write_outputs(args.outputs, tag, created)
        elif changelog.newest is None:
            raise ChangelogError(f"{args.changelog} has no release yet (no `## X.Y.Z` heading)")
        else:
            print(changelog.newest.version)
    except ChangelogError as error:
        print(f"release.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
