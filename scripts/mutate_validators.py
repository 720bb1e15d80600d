"""Mutation testing of the template's answer validators: do the question tests notice a planted bug?

The validators are Jinja: the `validator:` values of copier.yml and the macros of
hooks/validators.jinja. No maintained mutation tool reads Jinja, so this script plants the bugs
itself, one at a time, in the validator text only:

- comparisons: `>` <-> `>=`, `<` <-> `<=`, `==` <-> `!=`;
- integer literals: n -> n + 1 and n -> n * 10 (length limits);
- `not ` removed; `and` <-> `or`;
- one entry removed from an inline list or dict (e.g. a cloud's workspace domains), and a sample
  of the entries of `reserved_package_names` and `python_keywords` (see NAME_LIST_SAMPLES);
- a `^` or `$` anchor removed from a `regex_search` pattern;
- a whole `{% elif ... %}` branch dropped.

Each mutant is written into a private copy of the repository (`render()` in tests/support.py
renders the repository its tests live in), and that copy's tests/test_questions.py and
tests/test_bundle_questions.py run against it with `-x`. A failing run kills the mutant; a passing
run means no test noticed the bug. The unmutated copy is tested too and must pass, or every
mutant would be "killed" by an already failing suite.

The Markdown report gives the score (killed / all mutants) and each survivor's diff, with the
reason recorded for it in tests/mutation/validators_equivalent.toml (keyed by file, original lines
and mutated lines, so that entries survive unrelated edits) or marked UNEXPLAINED. The exit status
is non-zero when the score is below --min-score or a survivor is unexplained.

    .venv/bin/python scripts/mutate_validators.py [--report mutation-report/validators.md]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import inspect
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = "copier.yml"
VALIDATORS_JINJA = "hooks/validators.jinja"
FILES = (COPIER_YML, VALIDATORS_JINJA)
EQUIVALENTS = Path("tests/mutation/validators_equivalent.toml")
# The tests that judge the mutants: every render runs every validator, so both files can kill.
TEST_FILES = ("tests/test_questions.py", "tests/test_bundle_questions.py")
DEFAULT_REPORT = Path("mutation-report/validators.md")
MIN_SCORE = 0.9
# A hung test run counts as killed (it would fail CI too); no run here should take this long.
TIMEOUT_SECONDS = 900
# `reserved_package_names` holds ~90 entries; mutating each would mostly re-test the same
# `in` check. A sample of each kind: the Databricks SDK (what the jobs' launcher imports), a
# keyword and a module the project imports (tests/test_render.py checks the whole list against
# the rendered imports). `python_keywords`, the slug's list, gets two keywords, and the standard
# library's list one module.
NAME_LIST_SAMPLES = {
    "reserved_package_names": ("databricks", "class", "yaml"),
    "python_keywords": ("class", "import"),
    "stdlib_module_names": ("statistics",),
}
# Directories of the repository that a copy does not need (and that may be large).
NOT_COPIED = (".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "mutation-report")

COMPARISONS = {">": ">=", ">=": ">", "<": "<=", "<=": "<", "==": "!=", "!=": "=="}
COMPARISON = re.compile(r"(?<![<>=!])(>=|<=|==|!=|>|<)(?!=)")
INTEGER = re.compile(r"(?<![\w.])\d+(?![\w.])")
NOT = re.compile(r"\bnot\s+")
BOOLEAN = re.compile(r"\b(and|or)\b")
REGEX_SEARCH = re.compile(r"\bregex_search\s*\(")
# A Jinja statement or expression: group 1 or 2 is its code, without the `-` whitespace markers.
TAG = re.compile(r"\{%-?(.*?)-?%\}|\{\{-?(.*?)-?\}\}", re.DOTALL)
MACRO_BODY = re.compile(r"\{%-?\s*macro\b.*?%\}(.*?)\{%-?\s*endmacro\s*-?%\}", re.DOTALL)
VALIDATOR_KEY = re.compile(r"^(?P<indent>[ \t]*)validator:[ \t]*(?P<value>.*)$")


@dataclass(frozen=True)
class Mutant:
    """One planted bug: `text[start:end]` of `file` replaced by `replacement`."""

    file: str
    start: int
    end: int
    replacement: str
    kind: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.replacement + text[self.end :]

    def change(self, text: str) -> str:
        """What the mutant does, in short: "`>` -> `>=`", "removed `'gcp.databricks.com'`"."""
        old = " ".join(text[self.start : self.end].split())
        old = old if len(old) <= 60 else old[:57] + "..."
        return f"`{old}` -> `{self.replacement}`" if self.replacement else f"removed `{old}`"

    def lines(self, text: str) -> tuple[str, str]:
        """The whole lines the mutant changes, before and after, each line stripped: the part of
        its identity that does not move when other lines of the file are edited."""
        first = text.rfind("\n", 0, self.start) + 1
        last = text.find("\n", self.end)
        last = len(text) if last < 0 else last
        before = text[first:last]
        after = text[first : self.start] + self.replacement + text[self.end : last]
        return _strip_lines(before), _strip_lines(after)


def _strip_lines(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines())


@dataclass(frozen=True)
class Identity:
    """How a survivor is named in the equivalents file: stable across unrelated edits. `where`
    is the question (copier.yml) or the macro (hooks/validators.jinja) the mutant is in."""

    file: str
    where: str
    original: str
    mutated: str


# What names the place of a mutant: the last question key or macro before it.
PLACE = {
    COPIER_YML: re.compile(r"^([A-Za-z_]\w*):", re.MULTILINE),
    VALIDATORS_JINJA: re.compile(r"\bmacro\s+(\w+)"),
}


# --- Finding the mutation points ------------------------------------------------------------------


def validator_regions(file: str, text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the validator text of a file: copier.yml's `validator:` values
    (one-line or block scalars), or hooks/validators.jinja's macro bodies."""
    if file == VALIDATORS_JINJA:
        return [match.span(1) for match in MACRO_BODY.finditer(text)]
    regions: list[tuple[int, int]] = []
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for number, line in enumerate(lines):
        match = VALIDATOR_KEY.match(line.rstrip("\n"))
        if not match:
            continue
        value = match.group("value")
        if value and value[0] not in ">|":
            start = offsets[number] + match.start("value")
            regions.append((start, start + len(value)))
            continue
        indent = len(match.group("indent"))
        end = number + 1
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        regions.append((offsets[number + 1], offsets[end]))
    return regions


def _string_spans(code: str, base: int) -> list[tuple[int, int]]:
    """(start, end) offsets of the quoted string literals of Jinja code, quotes included."""
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(code):
        quote = code[index]
        if quote not in "'\"":
            index += 1
            continue
        end = index + 1
        while end < len(code) and code[end] != quote:
            end += 2 if code[end] == "\\" else 1
        spans.append((base + index, base + end + 1))
        index = end + 1
    return spans


@dataclass(frozen=True)
class Region:
    """Validator text with its Jinja code located: `code` has the file's length, and holds the
    code outside string literals where the file has it, and spaces everywhere else (template
    text, string contents), so that a regex match on it is a match in code, at the same offset."""

    text: str
    code: str
    strings: tuple[tuple[int, int], ...]
    tags: tuple[tuple[int, int, str], ...]  # (start of `{%`, end of `%}`, first word)


def locate_code(text: str, regions: Sequence[tuple[int, int]]) -> Region:
    """Find the Jinja tags, their code and its string literals in the regions of `text`."""
    code = [" " if char != "\n" else "\n" for char in text]
    strings: list[tuple[int, int]] = []
    tags: list[tuple[int, int, str]] = []
    for start, end in regions:
        for tag in TAG.finditer(text, start, end):
            group = 1 if tag.group(1) is not None else 2
            code_start, code_end = tag.span(group)
            code[code_start:code_end] = text[code_start:code_end]
            for string_start, string_end in _string_spans(tag.group(group), code_start):
                code[string_start:string_end] = " " * (string_end - string_start)
                strings.append((string_start, string_end))
            if group == 1:
                words = tag.group(1).split()
                tags.append((tag.start(), tag.end(), words[0] if words else ""))
    return Region(text, "".join(code), tuple(strings), tuple(tags))


def operator_mutants(file: str, region: Region) -> Iterator[Mutant]:
    """Comparisons, integers, `not`, `and`/`or`: in code, never in messages or strings."""
    for match in COMPARISON.finditer(region.code):
        yield Mutant(file, *match.span(), COMPARISONS[match.group()], "comparison")
    for match in INTEGER.finditer(region.code):
        number = int(match.group())
        for replacement in (number + 1, number * 10):
            yield Mutant(file, *match.span(), str(replacement), "integer")
    for match in NOT.finditer(region.code):
        yield Mutant(file, *match.span(), "", "not removed")
    for match in BOOLEAN.finditer(region.code):
        yield Mutant(file, *match.span(), "or" if match.group() == "and" else "and", "and/or")


def _literal_entries(region: Region, opening: int) -> list[tuple[int, int]]:
    """The top-level entries of the list or dict literal opening at offset `opening`, as
    (start, end) offsets, whitespace trimmed, empty ones (after a trailing comma) left out."""
    code = region.code  # brackets and commas inside strings are blanked out there
    closing = {"[": "]", "{": "}", "(": ")"}
    depth = 0
    entries: list[tuple[int, int]] = []
    entry_start = opening + 1
    index = opening
    while True:
        char = code[index]
        if char in closing:
            depth += 1
        elif char in closing.values():
            depth -= 1
            if depth == 0:
                break
        elif char == "," and depth == 1:
            entries.append((entry_start, index))
            entry_start = index + 1
        index += 1
    entries.append((entry_start, index))
    trimmed = []
    for start, end in entries:
        chunk = region.text[start:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            trimmed.append((start + lead, start + len(chunk.rstrip())))
    return trimmed


def literal_mutants(file: str, region: Region) -> Iterator[Mutant]:
    """One entry removed from each inline list or dict literal of the code (a subscript such as
    `names[cloud]` is not a literal). The entry goes with the comma after it, or the comma before
    it when it is the last one."""
    for match in re.finditer(r"[\[{]", region.code):
        before = region.code[: match.start()].rstrip()
        if match.group() == "[" and before and (before[-1].isalnum() or before[-1] in "_)]"):
            continue
        entries = _literal_entries(region, match.start())
        for number, (start, end) in enumerate(entries):
            if number + 1 < len(entries):
                yield Mutant(file, start, entries[number + 1][0], "", "entry removed")
            elif number > 0:
                yield Mutant(file, entries[number - 1][1], end, "", "entry removed")
            else:
                yield Mutant(file, start, end, "", "entry removed")


def anchor_mutants(file: str, region: Region) -> Iterator[Mutant]:
    """A `^` or `$` anchor removed from the pattern of a `regex_search` (a `^` that negates a
    character class, `[^...]`, is not an anchor; nor is an escaped one)."""
    starts = {start: end for start, end in region.strings}
    for match in REGEX_SEARCH.finditer(region.code):
        rest = region.text[match.end() :]
        pattern = match.end() + len(rest) - len(rest.lstrip())  # where the pattern's quote is
        if pattern not in starts:
            continue
        for index in range(pattern + 1, starts[pattern] - 1):
            char = region.text[index]
            escapes = len(region.text[:index]) - len(region.text[:index].rstrip("\\"))
            if char not in "^$" or escapes % 2:
                continue
            if char == "^" and region.text[index - 1] == "[":
                continue
            yield Mutant(file, index, index + 1, "", "anchor removed")


def branch_mutants(file: str, region: Region) -> Iterator[Mutant]:
    """A whole `{% elif ... %}` branch dropped: from its tag to the next `elif`, `else` or
    `endif` of the same `if`."""
    tags = region.tags
    for number, (start, _, word) in enumerate(tags):
        if word != "elif":
            continue
        depth = 0
        for next_start, _, next_word in tags[number + 1 :]:
            if next_word in ("if", "for"):
                depth += 1
            elif next_word in ("endif", "endfor") and depth:
                depth -= 1
            elif next_word in ("elif", "else", "endif") and not depth:
                yield Mutant(file, start, next_start, "", "branch dropped")
                break


def name_list_mutants(text: str) -> Iterator[Mutant]:
    """NAME_LIST_SAMPLES' entries, each removed from its list of names in copier.yml."""
    for key, names in NAME_LIST_SAMPLES.items():
        block = re.search(rf"^{key}:\n(?:[ \t]+.*\n|\n)+", text, re.MULTILINE)
        if block is None:
            raise SystemExit(f"{COPIER_YML}: no {key} block")
        for name in names:
            entry = re.compile(rf"(?<=[\[\s,]){name},[ \t]*|,\s*{name}(?=\s*\])")
            match = entry.search(text, block.start(), block.end())
            if match is None:
                raise SystemExit(f"{COPIER_YML}: {name!r} is not in {key}")
            yield Mutant(COPIER_YML, *match.span(), "", "entry removed")


def find_mutants(root: Path) -> list[Mutant]:
    """Every mutant of the validators, in file order."""
    mutants: list[Mutant] = []
    for file in FILES:
        text = (root / file).read_text(encoding="utf-8")
        regions = validator_regions(file, text)
        if not regions:
            raise SystemExit(f"{file}: no validator text found")
        region = locate_code(text, regions)
        for finder in (operator_mutants, literal_mutants, anchor_mutants, branch_mutants):
            mutants.extend(finder(file, region))
        if file == COPIER_YML:
            mutants.extend(name_list_mutants(text))
    return sorted(set(mutants), key=lambda m: (m.file, m.start, m.end, m.replacement))


def identities(root: Path, mutants: Sequence[Mutant]) -> dict[Mutant, Identity]:
    """Each mutant's identity; one that repeats (the same line twice in a question) gets its
    occurrence number appended to `mutated`."""
    texts = {file: (root / file).read_text(encoding="utf-8") for file in {m.file for m in mutants}}
    seen: Counter[Identity] = Counter()
    named: dict[Mutant, Identity] = {}
    for mutant in mutants:
        text = texts[mutant.file]
        places = PLACE[mutant.file].findall(text, 0, mutant.start)
        identity = Identity(mutant.file, places[-1] if places else "", *mutant.lines(text))
        seen[identity] += 1
        if seen[identity] > 1:
            identity = Identity(
                identity.file,
                identity.where,
                identity.original,
                f"{identity.mutated}\n#{seen[identity]}",
            )
        named[mutant] = identity
    return named


def load_equivalents(path: Path) -> dict[Identity, str]:
    """The recorded equivalent mutants: identity -> the reason no test can kill it."""
    if not path.is_file():
        return {}
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("equivalent", [])
    return {
        Identity(
            entry["file"],
            entry["where"],
            _strip_lines(entry["original"]),
            _strip_lines(entry["mutated"]),
        ): entry["reason"]
        for entry in entries
    }


# --- Running the tests against each mutant --------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant | None  # None: the unmutated baseline
    killed: bool
    seconds: float
    detail: str  # the first failing test, or why the run counts as killed


def copy_repository(destination: Path) -> Path:
    """A copy of the working tree with its git directory: copier renders `HEAD` plus uncommitted
    changes of the copy, so the copy renders exactly what this checkout renders."""
    shutil.copytree(REPO_ROOT, destination, ignore=shutil.ignore_patterns(*NOT_COPIED))
    return destination


def judged_questions(root: Path, where: str) -> list[str]:
    """The questions whose validator uses `where` (a question, a macro or a list of names): the
    tests that answer them are the likeliest to kill a mutant there."""
    config = yaml.safe_load((root / COPIER_YML).read_text(encoding="utf-8"))
    return [
        name
        for name, spec in config.items()
        if isinstance(spec, dict)
        and re.search(rf"\b{re.escape(where)}\b", str(spec.get("validator", "")))
    ]


# The environment variable that tells the plugin below which questions to run the tests of first.
FIRST_QUESTIONS = "MUTATE_VALIDATORS_FIRST_QUESTIONS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pytest hook, when this module runs as a plugin (`-p mutate_validators`): tests that answer
    the mutated questions run first, so that `-x` stops a killed mutant's run early. Only the
    order changes; a mutant survives only when every test passes."""
    questions = [q for q in os.environ.get(FIRST_QUESTIONS, "").split(",") if q]

    def unrelated(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        function = getattr(item, "function", None)
        texts = [repr(callspec.params) if callspec else ""]
        texts.append(inspect.getsource(function) if function else "")
        return not any(question in text for question in questions for text in texts)

    items.sort(key=unrelated)  # stable: the related tests first, each group in its usual order


def run_tests(copy: Path, first: Sequence[str]) -> tuple[bool, str]:
    """Run the question tests in `copy`, those of the `first` questions first; return (failed,
    the first failing test or the output's last line)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    command += ["-p", Path(__file__).stem, *TEST_FILES]
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    # The plugin is the copy's own version of this script, which cannot change during the run.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(copy / "scripts"), *filter(None, [env.get("PYTHONPATH")])]
    )
    env[FIRST_QUESTIONS] = ",".join(first)
    try:
        result = subprocess.run(
            command,
            cwd=copy,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return True, f"timed out after {TIMEOUT_SECONDS} s"
    if result.returncode == 0:
        return False, ""
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.MULTILINE)
    if failed:
        return True, failed.group(1)
    tail = (result.stdout + result.stderr).strip().splitlines()
    return True, tail[-1] if tail else f"pytest exited {result.returncode}"


def judge(mutant: Mutant | None, first: Sequence[str], copies: queue.Queue[Path]) -> Outcome:
    """Plant the mutant in a free copy, run the tests, and restore the file."""
    copy = copies.get()
    started = time.monotonic()
    try:
        if mutant is None:
            failed, detail = run_tests(copy, first)
            return Outcome(None, failed, time.monotonic() - started, detail)
        path = copy / mutant.file
        original = path.read_text(encoding="utf-8")
        path.write_text(mutant.apply(original), encoding="utf-8")
        try:
            failed, detail = run_tests(copy, first)
        finally:
            path.write_text(original, encoding="utf-8")
        return Outcome(mutant, failed, time.monotonic() - started, detail)
    finally:
        copies.put(copy)


# --- Report ---------------------------------------------------------------------------------------


def diff(root: Path, mutant: Mutant) -> str:
    original = (root / mutant.file).read_text(encoding="utf-8")
    return "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            mutant.apply(original).splitlines(keepends=True),
            f"a/{mutant.file}",
            f"b/{mutant.file}",
            n=1,
        )
    )


def toml_entry(identity: Identity) -> str:
    """An equivalents file entry for a survivor, its reason left to fill in."""
    return "\n".join(
        [
            "[[equivalent]]",
            f'file = "{identity.file}"',
            f'where = "{identity.where}"',
            f"original = '''\n{identity.original}'''",
            f"mutated = '''\n{identity.mutated}'''",
            'reason = "..."',
        ]
    )


def write_report(
    path: Path,
    outcomes: Sequence[Outcome],
    named: dict[Mutant, Identity],
    equivalents: dict[Identity, str],
    min_score: float,
    seconds: float,
) -> list[str]:
    """Write the Markdown report; return the reasons the run fails (none when it passes)."""
    mutants = [o for o in outcomes if o.mutant is not None]
    killed = sum(o.killed for o in mutants)
    score = killed / len(mutants) if mutants else 0.0
    survivors = [o for o in mutants if not o.killed]
    unexplained = [o for o in survivors if o.mutant and named[o.mutant] not in equivalents]
    stale = sorted(
        set(equivalents) - {named[o.mutant] for o in survivors if o.mutant},
        key=lambda i: (i.file, i.original),
    )
    by_kind: dict[str, Counter[bool]] = {}
    for outcome in mutants:
        assert outcome.mutant is not None
        by_kind.setdefault(outcome.mutant.kind, Counter())[outcome.killed] += 1

    lines = [
        "# Mutation testing of the answer validators",
        "",
        f"Score: **{killed} / {len(mutants)} killed ({score:.1%})**, required {min_score:.0%}; "
        f"{len(survivors)} survived, {len(unexplained)} unexplained. "
        f"Judged by {', '.join(TEST_FILES)} in {seconds / 60:.1f} min.",
        "",
        "| Mutation | Killed | Survived |",
        "|---|---:|---:|",
        *(f"| {kind} | {c[True]} | {c[False]} |" for kind, c in sorted(by_kind.items())),
        "",
        "## Survivors",
        "",
    ]
    if not survivors:
        lines += ["None.", ""]
    for outcome in survivors:
        assert outcome.mutant is not None
        reason = equivalents.get(named[outcome.mutant])
        verdict = f"equivalent: {reason}" if reason else "**UNEXPLAINED**"
        lines += [
            f"### {outcome.mutant.file} {named[outcome.mutant].where}: "
            f"{outcome.mutant.kind} ({verdict})",
            "",
            "```diff",
            diff(REPO_ROOT, outcome.mutant).rstrip("\n"),
            "```",
            "",
        ]
        if not reason:
            lines += [
                "Add a test that kills it; or, if no answer can tell it from the original, "
                f"record it in {EQUIVALENTS}:",
                "",
                "```toml",
                toml_entry(named[outcome.mutant]),
                "```",
                "",
            ]
    if stale:
        lines += ["## Equivalents file entries that match no survivor", ""]
        lines += [f"- {i.file} {i.where}: `{i.original}` -> `{i.mutated}`" for i in stale]
        lines += [""]
    lines += ["## Killed", "", "| Where | Mutation | Killed by |", "|---|---|---|"]
    texts = {file: (REPO_ROOT / file).read_text(encoding="utf-8") for file in FILES}
    for outcome in mutants:
        if outcome.killed and outcome.mutant is not None:
            identity = named[outcome.mutant]
            change = outcome.mutant.change(texts[identity.file]).replace("|", "\\|")
            detail = outcome.detail.replace("|", "\\|")
            lines.append(
                f"| {identity.file} {identity.where} | {outcome.mutant.kind}: {change} | {detail} |"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    failures = []
    if score < min_score:
        failures.append(f"score {score:.1%} is below the required {min_score:.0%}")
    if unexplained:
        failures.append(f"{len(unexplained)} survivors are not explained in {EQUIVALENTS}")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="Markdown report path")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--min-score", type=float, default=MIN_SCORE, help="required score, 0-1")
    parser.add_argument("--only", help="test only mutants whose changed line contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants; run nothing")
    args = parser.parse_args(argv)

    mutants = find_mutants(REPO_ROOT)
    named = identities(REPO_ROOT, mutants)
    if args.only:
        mutants = [m for m in mutants if args.only in named[m].original]
    if args.list:
        for mutant in mutants:
            identity = named[mutant]
            print(f"{mutant.file} {identity.where} [{mutant.kind}]")
            print(f"  - {identity.original}\n  + {identity.mutated}")
        print(f"{len(mutants)} mutants")
        return 0
    equivalents = load_equivalents(REPO_ROOT / EQUIVALENTS)
    texts = {file: (REPO_ROOT / file).read_text(encoding="utf-8") for file in FILES}

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutate-validators-") as work:
        copies: queue.Queue[Path] = queue.Queue()
        for number in range(args.jobs):
            copies.put(copy_repository(Path(work) / f"copy-{number}"))
        print(f"{len(mutants)} mutants, {args.jobs} at a time", flush=True)
        outcomes: list[Outcome] = []
        done = 0
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(judge, None, [], copies)]
            futures += [
                pool.submit(judge, mutant, judged_questions(REPO_ROOT, named[mutant].where), copies)
                for mutant in mutants
            ]
            for future in concurrent.futures.as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                if outcome.mutant is not None:
                    verdict = "killed" if outcome.killed else "SURVIVED"
                    done += 1
                    print(
                        f"[{done}/{len(mutants)}] {verdict:8} "
                        f"{outcome.seconds:4.0f} s  {named[outcome.mutant].where}: "
                        f"{outcome.mutant.change(texts[outcome.mutant.file])}",
                        flush=True,
                    )
    seconds = time.monotonic() - started
    baseline = next(o for o in outcomes if o.mutant is None)
    if baseline.killed:
        print(f"The unmutated tests fail ({baseline.detail}): no mutant can be judged.")
        return 2
    order = {mutant: number for number, mutant in enumerate(mutants)}
    outcomes.sort(key=lambda o: -1 if o.mutant is None else order[o.mutant])
    failures = write_report(args.report, outcomes, named, equivalents, args.min_score, seconds)
    print(f"Report: {args.report} ({seconds / 60:.1f} min)")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
