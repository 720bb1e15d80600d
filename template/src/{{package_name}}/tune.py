"""Tune step: search hyperparameters in development; production trains with the result.

A data scientist runs ``tune --env local`` (or ``--env dev`` against the workspace) and Optuna
searches ``[common.tuning.search_space]``. Each trial fits on most of the training rows and is
scored with ROC AUC on the rest; every trial is a nested MLflow run under one ``tune`` run, so the
search can be compared in the MLflow UI. The best set is written into ``[common.model]`` of
``settings.toml``, where every training job reads it: the change is reviewed and merged like
code, and no job ever searches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from .data import LABEL_COLUMN
from .features import FEATURE_COLUMNS
from .model import fit_model
from .platform import Platform
from .settings import SETTINGS_FILE, ModelParams, ParamRange, TuningSettings
from .train import load_training_split

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

MODEL_SECTION = "common.model"


@dataclass(frozen=True)
class TuningResult:
    """The best set found, how it scored, and where it was written."""

    best_params: ModelParams
    best_roc_auc: float
    trials: int
    run_id: str
    settings_file: Path


def suggest(trial: optuna.Trial, name: str, space: ParamRange) -> float | int:
    """Draw one value for ``name``: an integer for integer parameters, else a float."""
    annotation = str(ModelParams.model_fields[name].annotation)
    if "int" in annotation:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, space.low, space.high, log=space.log)


def split_for_tuning(
    train: pd.DataFrame, tuning: TuningSettings, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the training rows into rows to fit on and rows to score trials on (stratified)."""
    fit, score = train_test_split(
        train, test_size=tuning.validation_fraction, random_state=seed, stratify=train[LABEL_COLUMN]
    )
    return fit, score


def trial_score(fit: pd.DataFrame, score: pd.DataFrame, params: ModelParams, seed: int) -> float:
    """Fit on ``fit`` with ``params`` and return ROC AUC on ``score``."""
    model = fit_model(fit, params, seed)
    probabilities = model.predict_proba(score[list(FEATURE_COLUMNS)])[:, 1]
    return float(roc_auc_score(score[LABEL_COLUMN], probabilities))


def search(
    train: pd.DataFrame, base: ModelParams, tuning: TuningSettings, trials: int, seed: int
) -> tuple[ModelParams, float]:
    """Run ``trials`` Optuna trials, each a nested MLflow run; return the best set and score."""
    import optuna  # a development dependency: the jobs never tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fit, score = split_for_tuning(train, tuning, seed)

    def objective(trial: optuna.Trial) -> float:
        drawn = {name: suggest(trial, name, space) for name, space in tuning.search_space.items()}
        params = base.model_copy(update=drawn)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(params.model_dump())
            result = trial_score(fit, score, params, seed)
            mlflow.log_metric("roc_auc", result)
        return result

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return readable(base.model_copy(update=study.best_params)), float(study.best_value)


def write_model_params(path: Path, params: ModelParams) -> None:
    """Replace the values of ``[common.model]`` in ``path``, keeping its comments and layout.

    Raises:
        ValueError: the file has no ``[common.model]`` table, or a parameter line is missing.

    """
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = f"[{MODEL_SECTION}]"
    if header not in (line.strip() for line in lines):
        raise ValueError(f"{path} has no {header} table to write the tuned values to.")
    values = params.model_dump(exclude_none=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == header) + 1
    written = set()
    for index in range(start, len(lines)):
        line = lines[index]
        if line.lstrip().startswith("["):
            break  # the next table
        key, equals, rest = line.partition("=")
        if not equals or key.strip() not in values:
            continue
        name = key.strip()
        value, hash_sign, comment = rest.partition("#")
        spacing = value[len(value.rstrip()) :].replace("\n", "") if hash_sign else ""
        lines[index] = f"{name} = {values[name]!r}{spacing}{hash_sign}{comment.rstrip()}\n"
        written.add(name)
    missing = sorted(set(values) - written)
    if missing:
        raise ValueError(f"{header} in {path} has no line for {', '.join(missing)}.")
    path.write_text("".join(lines), encoding="utf-8")


def readable(params: ModelParams) -> ModelParams:
    """Round float parameters to 6 significant digits: what a reviewer reads is what trains."""
    rounded = {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in params}
    return params.model_copy(update=rounded)


def settings_source() -> Path:
    """Return this checkout's ``settings.toml`` of the package, which the next wheel carries."""
    return Path(__file__).with_name(SETTINGS_FILE)


def tune(
    platform: Platform, trials: int | None = None, settings_file: Path | None = None
) -> TuningResult:
    """Search, log every trial, and write the best set into ``[common.model]``.

    ``trials`` overrides ``[common.tuning] trials``; ``settings_file`` is the file to write
    (default: this checkout's ``settings.toml``).
    """
    settings = platform.settings
    tuning = settings.tuning
    count = trials or tuning.trials
    target = settings_file or settings_source()
    platform.configure_mlflow()
    train, _ = load_training_split(platform)
    with mlflow.start_run(run_name="tune") as run:
        mlflow.log_params({"trials": count, "search_space": list(tuning.search_space)})
        best, best_roc_auc = search(train, settings.model, tuning, count, settings.data.seed)
        mlflow.log_params({f"best_{key}": value for key, value in best.model_dump().items()})
        mlflow.log_metric("best_roc_auc", best_roc_auc)
    write_model_params(target, best)
    logger.info("Best of %d trials: ROC AUC %.4f with %s", count, best_roc_auc, best)
    return TuningResult(best, best_roc_auc, count, run.info.run_id, target)
