"""Summarise a mutmut run: the score of each module and every mutant the unit tests missed.

`make mutation` runs mutmut, then this script. A mutant that survives is a planted bug no unit
test noticed. A few change nothing anyone can observe (equivalent mutants); those are listed in
tests/mutation_equivalents.toml with the reason, matched by function and changed lines rather than
by mutmut's running number, so an entry stays valid when other code in the function changes. The
run fails when any other mutant survives, when a module has mutants that were never run, or when
the score is below MIN_SCORE.

Usage: python scripts/mutation_report.py [--report mutation-report/mutation.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MIN_SCORE = 0.90
EQUIVALENTS_FILE = Path("tests/mutation_equivalents.toml")
MUTANTS_DIR = Path("mutants/src")

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code). A timeout or a type-check
# failure also means the planted bug was noticed.
KILLED = "killed"
SURVIVED = "survived"
NO_TESTS = "no tests"
TIMEOUT = "timeout"
NOT_CHECKED = "not checked"
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: KILLED,
    3: KILLED,
    37: KILLED,
    0: SURVIVED,
    5: NO_TESTS,
    33: NO_TESTS,
    36: TIMEOUT,
    24: TIMEOUT,
    -24: TIMEOUT,
    152: TIMEOUT,
    255: TIMEOUT,
    None: NOT_CHECKED,
}
DETECTED = {KILLED, TIMEOUT}
MISSED = {SURVIVED, NO_TESTS}


@dataclass(frozen=True)
class Mutant:
    """One mutant and what its run found."""

    key: str  # mutmut's name, e.g. pkg.deploy.x_decide__mutmut_3
    module: str  # deploy
    function: str  # deploy.decide, or jobs.JobRunner.run for a method
    status: str


@dataclass(frozen=True)
class Equivalent:
    """A survivor that changes nothing observable, and why."""

    function: str
    original: str
    mutant: str
    reason: str


@dataclass(frozen=True)
class Survivor:
    """A mutant no test killed, with its diff and, if it is equivalent, the reason."""

    mutant: Mutant
    removed: str
    added: str
    reason: str | None


def function_of(key: str) -> tuple[str, str]:
    """Return (module, module.function) for a mutmut name, without the package."""
    qualified = key.rsplit("__mutmut_", 1)[0]
    *modules, mangled = qualified.split(".")
    module = ".".join(modules[1:])
    # mutmut names a function x_name and a method xǁClassǁname.
    if mangled.startswith("xǁ"):
        name = mangled.removeprefix("xǁ").replace("ǁ", ".")
    else:
        name = mangled.removeprefix("x_")
    return module, f"{module}.{name}"


def read_mutants(mutants_dir: Path) -> list[Mutant]:
    """Read every mutant's result from mutmut's metadata files."""
    mutants = []
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        for key, code in sorted(exit_codes.items()):
            module, function = function_of(key)
            status = STATUS_BY_EXIT_CODE.get(code, "suspicious")
            mutants.append(Mutant(key, module, function, status))
    return mutants


def read_equivalents(path: Path) -> list[Equivalent]:
    """Read the survivors known to be equivalent; none if the file does not exist."""
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text()).get("equivalent", [])
    return [
        Equivalent(e["function"], e["original"].strip(), e["mutant"].strip(), e["reason"])
        for e in entries
    ]


def changed_lines(key: str) -> tuple[str, str]:
    """Return the lines a mutant removes and adds, each stripped, from ``mutmut show``."""
    diff = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", key], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    removed = [line[1:].strip() for line in diff if line.startswith("-") and line[:3] != "---"]
    added = [line[1:].strip() for line in diff if line.startswith("+") and line[:3] != "+++"]
    return "\n".join(removed), "\n".join(added)


def explain(mutant: Mutant, equivalents: list[Equivalent]) -> Survivor:
    """Pair a missed mutant with its diff and the reason it is harmless, if one is recorded."""
    removed, added = changed_lines(mutant.key)
    reason = next(
        (
            e.reason
            for e in equivalents
            if (e.function, e.original, e.mutant) == (mutant.function, removed, added)
        ),
        None,
    )
    return Survivor(mutant, removed, added, reason)


def score(counts: Counter[str]) -> float:
    """Share of mutants detected; 1.0 for a module without mutants."""
    total = sum(counts.values())
    return sum(counts[s] for s in DETECTED) / total if total else 1.0


def percent(share: float) -> str:
    """Format a share as a percentage with one decimal."""
    return format(share, ".1%")


def table(mutants: list[Mutant]) -> list[str]:
    """Tabulate the counts and the score per module, and in all, as Markdown."""
    rows = [
        "| Module | Mutants | Killed | Timeout | Survived | No tests | Score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    modules = sorted({m.module for m in mutants})
    for name, group in [(f"`{m}`", [x for x in mutants if x.module == m]) for m in modules] + [
        ("**all**", mutants)
    ]:
        counts = Counter(m.status for m in group)
        rows.append(
            f"| {name} | {len(group)} | {counts[KILLED]} | {counts[TIMEOUT]} | "
            f"{counts[SURVIVED]} | {counts[NO_TESTS]} | {percent(score(counts))} |"
        )
    return rows


def diff_block(survivor: Survivor) -> list[str]:
    """Show the survivor's change as a small diff."""
    lines = [f"- {line}" for line in survivor.removed.splitlines()]
    lines += [f"+ {line}" for line in survivor.added.splitlines()]
    return ["  ```diff", *(f"  {line}" for line in lines), "  ```"]


def render(mutants: list[Mutant], survivors: list[Survivor], stale: list[Equivalent]) -> str:
    """Write the report as Markdown."""
    explained = [s for s in survivors if s.reason]
    unexplained = [s for s in survivors if not s.reason]
    lines = [
        "# Mutation testing",
        "",
        "Each mutant is one planted bug; the unit tests that cover its function run against it.",
        "Score: mutants detected (killed or timed out) / all mutants. "
        f"Required: {percent(MIN_SCORE)}.",
        "",
        *table(mutants),
        "",
        f"## Survivors not explained ({len(unexplained)})",
        "",
    ]
    for s in unexplained:
        lines += [f"- `{s.mutant.key}` ({s.mutant.status})", *diff_block(s)]
    lines += ["", f"## Equivalent survivors ({len(explained)})", ""]
    for s in explained:
        lines += [f"- `{s.mutant.function}`: {s.reason}", *diff_block(s)]
    if stale:
        lines += ["", "## Equivalents that matched no survivor (remove them)", ""]
        lines += [f"- `{e.function}`: `{e.original}` -> `{e.mutant}`" for e in stale]
    return "\n".join(lines) + "\n"


def problems(mutants: list[Mutant], survivors: list[Survivor]) -> list[str]:
    """Say what makes the run fail; empty when it passes."""
    found = []
    unchecked = sum(m.status == NOT_CHECKED for m in mutants)
    if not mutants:
        found.append(f"no mutants under {MUTANTS_DIR}: run `mutmut run` first")
    if unchecked:
        found.append(f"{unchecked} mutants were never run: the mutmut run did not finish")
    overall = score(Counter(m.status for m in mutants))
    if mutants and overall < MIN_SCORE:
        found.append(f"score {percent(overall)} is below the required {percent(MIN_SCORE)}")
    unexplained = sum(not s.reason for s in survivors)
    if unexplained:
        found.append(f"{unexplained} surviving mutants are not explained in {EQUIVALENTS_FILE}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Write the report; return 1 if the tests missed a mutant nobody explained."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("mutation-report/mutation.md"))
    args = parser.parse_args(argv)

    mutants = read_mutants(MUTANTS_DIR)
    equivalents = read_equivalents(EQUIVALENTS_FILE)
    survivors = [explain(m, equivalents) for m in mutants if m.status in MISSED]
    used = {(s.mutant.function, s.removed, s.added) for s in survivors if s.reason}
    stale = [e for e in equivalents if (e.function, e.original, e.mutant) not in used]

    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(render(mutants, survivors, stale))
    print("\n".join(table(mutants)))
    print(f"Report: {args.report}")
    failures = problems(mutants, survivors)
    for failure in failures:
        print(f"mutation testing failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
