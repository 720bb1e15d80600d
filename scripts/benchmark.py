"""Measure what a user waits for: rendering, installing, the local lifecycle, the project's tests.

Run with the template's venv (`scripts/bootstrap` creates it):

    .venv/bin/python scripts/benchmark.py [--renders 5] [--keep]

Prints a table and writes the numbers, with the machine they were taken on, to
`.benchmarks/benchmark-<UTC time>.json` (git-ignored). This is a measurement, not a test: nothing
here passes or fails on time. The install is timed with whatever uv's cache holds; the first one on
a machine downloads PySpark and MLflow and is much slower than the ones after it.
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the helpers the tests use, so both measure alike

from support import (  # noqa: E402
    DEFAULT_ANSWERS,
    GIT_IDENTITY,
    git_commit_all,
    install_project,
    render,
    run,
    user_env,
)

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Seconds `action` took, and what it returned."""
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def template_revision() -> str:
    """The template commit measured, marked `+dirty` when the work tree has local changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "no-commit"
    return commit + ("+dirty" if git("status", "--porcelain") else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=5, help="renders to take the median of")
    parser.add_argument("--keep", action="store_true", help="keep the rendered project")
    options = parser.parse_args()
    os.environ.update(GIT_IDENTITY)

    workdir = Path(tempfile.mkdtemp(prefix="template-benchmark-"))
    seconds: dict[str, float] = {}
    failed: dict[str, int] = {}  # a failed command's time is recorded, but flagged
    try:
        render_times = [
            timed(lambda i=i: render(workdir / f"render-{i}", DEFAULT_ANSWERS.data))[0]
            for i in range(options.renders)
        ]
        seconds["render (copier copy, median)"] = statistics.median(render_times)

        project = workdir / "project"
        rendered = render(project, DEFAULT_ANSWERS.data)
        git_commit_all(project, "Start from the template", echo=False)
        seconds["install (uv venv + pip install -e .[dev])"], installed = timed(
            lambda: install_project(rendered, echo=False)
        )

        env = user_env()
        pipeline = [installed.bin(rendered.slug), "run-pipeline", "--env", "local"]
        commands = {
            "lifecycle (run-pipeline --env local, fresh)": pipeline,
            "lifecycle again (existing state)": pipeline,
            "project test suite (pytest)": [installed.bin("pytest"), "-q"],
        }
        shutil.rmtree(project / ".local", ignore_errors=True)
        for name, command in commands.items():
            seconds[name], result = timed(
                lambda c=command: run(c, cwd=project, env=env, echo=False)
            )
            if result.returncode != 0:
                failed[name] = result.returncode
                print(result.report(tail=60), file=sys.stderr)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    width = max(len(name) for name in seconds)
    print(f"\n{'measurement':<{width}}  seconds")
    for name, value in seconds.items():
        flag = f"  FAILED (exit {failed[name]})" if name in failed else ""
        print(f"{name:<{width}}  {value:7.1f}{flag}")

    record = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "template_revision": template_revision(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "render_runs": [round(s, 3) for s in render_times],
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "failed": failed,
    }
    out_dir = REPO_ROOT / ".benchmarks"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"benchmark-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(REPO_ROOT)}")
    if options.keep:
        print(f"project kept in {workdir / 'project'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
