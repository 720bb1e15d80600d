"""Time the monitoring step of a generated project on a large inference window.

Run with the template's venv (`scripts/bootstrap` creates it):

    .venv/bin/python scripts/benchmark_monitoring.py [--rows 100000] [--shift 0.5]
        [--project PATH] [--keep]

Renders the template with default answers and installs the project (or uses an already installed
project given with `--project`), then, in the project's own venv: ingests the default training
data and a scoring batch of `--rows` customers, trains a model, scores the batch into the
inference table and times `monitor` twice: first in a fresh process (Spark and MLflow warm up on
the way), then again on the same window. Prints a table and writes the numbers to
`.benchmarks/monitoring-<UTC time>.json` (git-ignored). A measurement, not a test: nothing here
passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the helpers the tests use, so both measure alike

from support import (  # noqa: E402
    ANSWERS_FILE,
    DEFAULT_ANSWERS,
    install_project,
    render,
    run,
    user_env,
)

# Runs inside the project's venv; prints one JSON line last.
DRIVER = """
import json, sys, time, warnings
from pathlib import Path

warnings.filterwarnings("ignore")
from mlflow import MlflowClient
from {package}.features import write_feature_table
from {package}.ingest import ingest
from {package}.monitor import monitor
from {package}.platform import LocalPlatform
from {package}.registry import CHAMPION
from {package}.score import score
from {package}.settings import load_settings
from {package}.train import train

rows, shift, local_dir = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
settings = load_settings("local")
data = settings.data.model_copy(update={{"scoring_rows": rows}})
settings = settings.model_copy(update={{"local_dir": local_dir, "data": data}})
platform = LocalPlatform(settings)
seconds = {{}}

def timed(name, action):
    start = time.perf_counter()
    value = action()
    seconds[name] = round(time.perf_counter() - start, 2)
    return value

timed("start Spark", lambda: platform.spark)
timed("ingest", lambda: ingest(platform, shift=shift))
timed("features", lambda: write_feature_table(platform))
version = timed("train", lambda: train(platform)).version
MlflowClient().set_registered_model_alias(settings.registered_model_name, CHAMPION, version)
scored = timed("score (inference rows appended)", lambda: score(platform))
timed("monitor, first call in the process", lambda: monitor(platform))
result = timed("monitor, again on the same window", lambda: monitor(platform))
print(json.dumps({{
    "seconds": seconds,
    "inference_rows": scored.rows,
    "monitored_rows": int(result.value("row_count")),
    "baseline_rows": int(result.value("baseline_row_count")),
    "metrics": len(result.metrics),
    "breaches": [metric.describe() for metric in result.breaches],
    "report": str(result.report_path),
}}))
"""


def installed_project(options: argparse.Namespace, workdir: Path) -> tuple[Path, str]:
    """The project to measure and its package name: the one given, or a fresh default render."""
    if options.project:
        project = options.project.resolve()
        answers = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
        return project, str(answers["package_name"])
    rendered = render(workdir / "project", DEFAULT_ANSWERS.data)
    install_project(rendered, echo=False)
    return rendered.path, rendered.package


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="inference rows to monitor")
    parser.add_argument("--shift", type=float, default=0.5, help="drift of the scored batch")
    parser.add_argument("--project", type=Path, help="an installed project to use")
    parser.add_argument("--keep", action="store_true", help="keep the rendered project")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="monitoring-benchmark-"))
    try:
        project, package = installed_project(options, workdir)
        python = project / ".venv" / "bin" / "python"
        command = [
            python, "-c", DRIVER.format(package=package),
            str(options.rows), str(options.shift), str(workdir / ".local"),
        ]  # fmt: skip
        result = run(command, cwd=project, env=user_env(), echo=False)
        if result.returncode != 0:
            print(result.report(tail=60), file=sys.stderr)
            return 1
        measured = json.loads(result.output.strip().splitlines()[-1])
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    seconds = measured["seconds"]
    width = max(len(name) for name in seconds)
    print(
        f"{measured['monitored_rows']:,} inference rows monitored against "
        f"{measured['baseline_rows']:,} training rows; {measured['metrics']} metrics, "
        f"{len(measured['breaches'])} breached (shift {options.shift})"
    )
    print(f"\n{'step':<{width}}  seconds")
    for name, value in seconds.items():
        print(f"{name:<{width}}  {value:7.2f}")
    for breach in measured["breaches"]:
        print(f"  breached: {breach}")

    record = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rows": options.rows,
        "shift": options.shift,
        **measured,
    }
    out_dir = REPO_ROOT / ".benchmarks"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"monitoring-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(REPO_ROOT)}")
    if options.keep:
        print(f"work directory kept in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
