"""Benchmark the template's performance figures next to their floors, measured in the same run.

    .venv/bin/python scripts/benchmark.py [--runs 3] [--rows 100000 1000000] [--output DIR]

Each figure is run several times and reported as median, min and max, beside its floor and the
ratio of the medians (a noisy machine moves seconds more than ratios):

- render: `copier copy` with default answers, against a plain Jinja render of the same tree with
  the same answers;
- update: `copier update` of a project across three template commits;
- help: `<project> --help`;
- unit tests: the rendered project's unit layer (`make test-unit`: the unit tests that need no
  Spark), and its Spark layer (`make test-spark`) beside it;
- lifecycle: `run-pipeline --env local` on a fresh `.local`, against the sum of the steps' own
  work (Spark's start once, the fit, the champion's evaluation);
- scoring at each row count: the score step's Spark path, against bare `pyfunc.predict` on the
  same rows in pandas;
- monitoring at each row count: every metric of one window.

The table is printed and written, with the raw seconds and the machine, to
DIR/benchmark-<commit>.md and .json (default DIR: `.benchmarks/`, git-ignored). This is a
measurement, not a test: nothing here passes or fails on a number. The project is installed from
uv's cache; the first install on a machine downloads PySpark and MLflow. The monitoring step end
to end, on a scored inference window, has its own script: scripts/benchmark_monitoring.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402
import jinja2  # noqa: E402
from copier.errors import DirtyLocalWarning  # noqa: E402
from support import (  # noqa: E402
    GIT_IDENTITY,
    git_commit_all,
    install_project,
    render,
    run,
    user_env,
)
from template_repo import (  # noqa: E402
    commit_all,
    snapshot_template,
    start_project,
    update_project,
)

PROBE = ROOT / "scripts" / "benchmark_probe.py"
sys.path.insert(0, str(PROBE.parent))
from benchmark_probe import timed  # noqa: E402  (one timing loop for both sides)


@dataclass(frozen=True)
class Figure:
    """One row: the project's seconds per run, and its floor's (if it has one)."""

    name: str
    seconds: list[float]
    floor: list[float] | None = None
    target_ratio: float | None = None

    def row(self) -> str:
        median = statistics.median(self.seconds)
        cells = [self.name, f"{median:.2f}", f"{min(self.seconds):.2f}", f"{max(self.seconds):.2f}"]
        if self.floor:
            floor = statistics.median(self.floor)
            cells += [f"{floor:.2f}", f"{median / floor:.1f}x"]
        else:
            cells += ["", ""]
        cells.append(f"<= {self.target_ratio}x" if self.target_ratio else "")
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| Figure | Median s | Min s | Max s | Floor s | Ratio | Target ratio |\n"
    "|---|---|---|---|---|---|---|"
)


@contextmanager
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="template-benchmark-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def plain_jinja_render(
    template: Path, dst: Path, env: jinja2.Environment, context: dict[str, object]
) -> None:
    """What copier's render costs at least: every path and `.jinja` file through Jinja (with
    copier's environment, for its filters), written out; no questions, no git, no answers file."""
    source_root = template / "template"
    for source in sorted(source_root.rglob("*")):
        if source.is_dir():
            continue
        relative = env.from_string(str(source.relative_to(source_root))).render(context)
        relative = relative.removesuffix(".jinja") if source.suffix == ".jinja" else relative
        if not relative or relative.startswith("/") or relative.endswith("/") or "//" in relative:
            continue  # a conditional name that rendered empty: not in this project
        target = dst / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".jinja":
            text = env.from_string(source.read_text(encoding="utf-8")).render(context)
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, target)


def render_figure(runs: int) -> Figure:
    def copy() -> copier.Worker:
        with scratch() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", DirtyLocalWarning)
            return copier.run_copy(str(ROOT), tmp / "p", defaults=True, vcs_ref="HEAD", quiet=True)

    worker = copy()
    # The full context copier rendered with (answers and computed values); a private method,
    # acceptable in a benchmark.
    context, env = worker._render_context(), worker.jinja_env

    def plain() -> None:
        with scratch() as tmp:
            plain_jinja_render(ROOT, tmp / "p", env, dict(context))

    return Figure("copier copy vs plain Jinja", timed(copy, runs), timed(plain, runs), 3.0)


def update_figure(runs: int) -> Figure:
    """`copier update` from a tagged release across three later commits of the template."""
    seconds = []
    for _ in range(runs):
        with scratch() as tmp:
            template = snapshot_template(tmp / "template")
            commit_all(template, "v1")
            subprocess.run(["git", "tag", "v1"], cwd=template, check=True)
            for number in (2, 3, 4):
                makefile = template / "template" / "Makefile.jinja"
                makefile.write_text(makefile.read_text() + f"# change {number}\n")
                commit_all(template, f"change {number}")
            subprocess.run(["git", "tag", "v2"], cwd=template, check=True)
            project = start_project(template, tmp / "project", "v1")
            start = time.perf_counter()
            update_project(project, "v2")
            seconds.append(time.perf_counter() - start)
    return Figure("copier update across 3 commits", seconds)


def run_in(project: Path, args: list[str | Path]) -> str:
    """Run a command in the project as its user would; return its output, raise if it fails."""
    result = run(args, cwd=project, env=user_env(), timeout=3600, echo=False)
    if result.returncode != 0:
        raise RuntimeError(result.report())
    return result.output


def probe(project: Path, package: str, *args: str) -> dict[str, list[float]]:
    output = run_in(project, [project / ".venv" / "bin" / "python", PROBE, package, *args])
    # The probe prints its JSON on one line; warnings may come before or after it.
    (line,) = [line for line in output.splitlines() if line.startswith("{")][-1:]
    return json.loads(line)


def command_seconds(project: Path, args: list[str | Path], runs: int) -> list[float]:
    return timed(lambda: run_in(project, args), runs)


def project_figures(runs: int, row_counts: list[int]) -> list[Figure]:
    figures = []
    with scratch() as tmp:
        rendered = render(tmp / "project", {})
        git_commit_all(rendered.path, "Start from the template", echo=False)
        install = time.perf_counter()
        installed = install_project(rendered, echo=False)
        seconds = time.perf_counter() - install
        figures.append(Figure("install (uv, warm cache, compiled)", [seconds]))
        project, package, slug = rendered.path, rendered.package, rendered.slug
        cli = installed.bin(slug)
        figures.append(Figure("--help", command_seconds(project, [cli, "--help"], max(runs, 5))))
        pytest = installed.bin("pytest")
        unit_tests = [pytest, "-q", "-p", "no:cacheprovider", "tests/unit"]
        unit = [*unit_tests, "-m", "not spark"]
        figures.append(Figure("unit tests (no Spark)", command_seconds(project, unit, runs)))
        spark = [*unit_tests, "-m", "spark"]
        figures.append(Figure("unit tests with Spark", command_seconds(project, spark, runs)))

        def fresh_pipeline() -> None:
            shutil.rmtree(project / ".local", ignore_errors=True)
            run_in(project, [cli, "run-pipeline", "--env", "local"])

        lifecycle = timed(fresh_pipeline, runs)
        floor = probe(project, package, "lifecycle-floor", "--runs", str(runs))
        floor_seconds = [
            floor["spark_start"][0] + fit + evaluate
            for fit, evaluate in zip(floor["fit"], floor["evaluate"], strict=True)
        ]
        figures.append(Figure("run-pipeline (fresh .local)", lifecycle, floor_seconds))
        for rows in row_counts:
            scores = probe(project, package, "scoring", "--rows", str(rows), "--runs", str(runs))
            figures.append(
                Figure(f"scoring {rows:,} rows", scores["score_path"], scores["bare_predict"], 2.0)
            )
        for rows in row_counts:
            monitored = probe(project, package, "monitoring", "--rows", str(rows), "--runs", "1")
            figures.append(Figure(f"monitoring {rows:,} rows", monitored["monitoring"]))
    return figures


def commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, text=True, capture_output=True, check=True
    ).stdout.strip()
    return f"{head}-dirty" if dirty else head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--output", type=Path, default=ROOT / ".benchmarks")
    args = parser.parse_args()
    os.environ.update(GIT_IDENTITY)
    figures = [render_figure(args.runs), update_figure(args.runs)]
    figures += project_figures(args.runs, args.rows)
    measured = commit()
    table = "\n".join([HEADER, *(figure.row() for figure in figures)])
    print(f"Benchmark of {measured} ({args.runs} runs each):\n\n{table}")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"benchmark-{measured}.md").write_text(table + "\n", encoding="utf-8")
    raw = {
        "commit": measured,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": {f.name: {"seconds": f.seconds, "floor": f.floor} for f in figures},
    }
    (args.output / f"benchmark-{measured}.json").write_text(json.dumps(raw, indent=2) + "\n")


if __name__ == "__main__":
    main()
