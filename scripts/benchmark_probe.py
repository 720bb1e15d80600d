"""Timings taken inside a rendered, installed project, with the project's own interpreter.

scripts/benchmark.py runs this file as `<project>/.venv/bin/python benchmark_probe.py ...` from the
project's directory, after `run-pipeline` has made a champion. It prints one JSON object:
`{"<figure>": [seconds per run, ...], ...}`. Kept apart from the benchmark so that it imports only
what the project installs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(action: Callable[[], Any], runs: int) -> list[float]:
    """Seconds per run of ``action``."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def project_modules(package: str) -> dict[str, Any]:
    names = ("data", "evaluate", "feature_source", "features", "model", "monitor", "platform")
    names += ("registry", "score", "settings", "validate")
    return {name: importlib.import_module(f"{package}.{name}") for name in names}


def local_platform(m: dict[str, Any], spark: Any) -> Any:
    settings = m["settings"].load_settings("local")
    settings = settings.model_copy(update={"local_dir": Path.cwd() / ".local"})
    platform = m["platform"].LocalPlatform(settings, spark)
    platform.configure_mlflow()
    return platform


def lifecycle_floor(m: dict[str, Any], runs: int) -> dict[str, list[float]]:
    """The steps' own work: Spark's start (once), the fit, and the champion's evaluation."""
    start = time.perf_counter()
    spark = m["platform"].local_spark_session()
    spark.range(1).count()
    spark_start = time.perf_counter() - start
    platform = local_platform(m, spark)
    settings = platform.settings
    customers = m["data"].generate_customers(settings.data.training_rows, settings.data.seed)
    features = m["features"].build_features(spark.createDataFrame(customers))
    train, _ = m["features"].split_train_holdout(features, settings.data.holdout_fraction)
    frame = train.toPandas()
    holdout = m["validate"].load_holdout(platform)
    from mlflow import MlflowClient

    name = settings.registered_model_name
    champion = m["score"].champion_version(MlflowClient(), name)
    import mlflow

    def evaluate() -> None:
        with mlflow.start_run(run_name="benchmark"):
            m["evaluate"].evaluate_version(name, champion, holdout)

    return {
        "spark_start": [spark_start],
        "fit": timed(lambda: m["model"].fit_model(frame, settings.model, settings.data.seed), runs),
        "evaluate": timed(evaluate, runs),
    }


def scoring(m: dict[str, Any], rows: int, runs: int) -> dict[str, list[float]]:
    """The score step's Spark path against bare ``pyfunc.predict`` on the same rows in pandas."""
    import mlflow
    from mlflow import MlflowClient

    spark = m["platform"].local_spark_session()
    platform = local_platform(m, spark)
    name = platform.settings.registered_model_name
    uri = m["registry"].version_uri(name, m["score"].champion_version(MlflowClient(), name))
    batch = m["data"].generate_customers(rows, seed=5, first_id=100_000_000, labelled=False)
    frame = spark.createDataFrame(batch.assign(batch_id="benchmark")).cache()
    frame.count()
    columns = list(m["features"].FEATURE_COLUMNS)
    features = m["features"].build_features(frame).select(*columns).toPandas()
    model = mlflow.pyfunc.load_model(uri)

    def spark_path() -> None:
        scored = m["feature_source"].score_batch(platform, frame, uri)
        scored.write.format("noop").mode("overwrite").save()

    return {
        "score_path": timed(spark_path, runs),
        "bare_predict": timed(lambda: model.predict(features[columns]), runs),
    }


def monitoring(m: dict[str, Any], rows: int, runs: int) -> dict[str, list[float]]:
    """Every metric of one window of ``rows`` rows against a baseline of as many."""
    settings = m["settings"].load_settings("local")
    columns = list(m["features"].FEATURE_COLUMNS)

    def window(seed: int, shift: float) -> Any:
        frame = m["data"].generate_customers(rows, seed=seed, shift=shift)
        frame["total_charges"] = frame["tenure_months"] * frame["monthly_charges"]
        frame = frame.astype(dict.fromkeys(m["features"].NUMERIC_FEATURES, "float64"))
        return frame[[*columns, "churned"]].assign(prediction=frame["churned"].astype("int32"))

    baseline, current = window(1, 0.0), window(2, 1.0)
    return {
        "monitoring": timed(
            lambda: m["monitor"].compute_metrics(baseline, current, settings.monitoring), runs
        )
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("figure", choices=["lifecycle-floor", "scoring", "monitoring"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    modules = project_modules(args.package)
    if args.figure == "lifecycle-floor":
        result = lifecycle_floor(modules, args.runs)
    elif args.figure == "scoring":
        result = scoring(modules, args.rows, args.runs)
    else:
        result = monitoring(modules, args.rows, args.runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
