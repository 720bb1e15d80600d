"""Typed settings for every environment, read from ``settings.toml`` shipped inside the package.

The file travels inside the wheel, so a Databricks job reads exactly the values that were reviewed
and deployed with the code. Validation is strict (unknown keys are errors) so that a typo in a
threshold name fails loudly instead of silently keeping a default.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Environment = Literal["local", "dev", "test", "staging", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)
SETTINGS_FILE = "settings.toml"
# Environments whose catalogs hold real data only: the generator never writes there.
PRODUCTION_ENVIRONMENTS = frozenset({"staging", "prod"})
SourceRole = Literal["training_data", "scoring_input", "labels"]
# Per-developer names (the dev environment): filled in with the identity that runs the step.
USER_PLACEHOLDER = "{user}"  # the short name: jane.doe@example.com -> jane_doe
USER_NAME_PLACEHOLDER = "{user_name}"  # the full user name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tables(_Section):
    """Short table names; ``Settings.table`` qualifies them with catalog and schema."""

    training_data: str
    features: str
    scoring_input: str
    predictions: str
    labels: str
    monitoring_metrics: str
    monitoring_baseline: str


class Sources(_Section):
    """Where the raw data comes from: the bundled generator, or tables of your own.

    With ``generator``, the ingest steps write generated rows into the project's own tables
    (``tables.training_data``, ``tables.scoring_input``, ``tables.labels``). With ``tables``, the
    steps read the three tables named here where they are, and never write to them.
    """

    kind: Literal["generator", "tables"]
    training_data: str = Field(default="", pattern=r"^$|^[^.\s]+\.[^.\s]+\.[^.\s]+$")
    scoring_input: str = Field(default="", pattern=r"^$|^[^.\s]+\.[^.\s]+\.[^.\s]+$")
    labels: str = Field(default="", pattern=r"^$|^[^.\s]+\.[^.\s]+\.[^.\s]+$")


class SourceNotConfiguredError(LookupError):
    """The environment reads its data from tables, and the setting naming one is empty."""


class DataSettings(_Section):
    """How much data the bundled generator writes, and how the holdout set is carved out.

    ``scoring_shift`` and ``flipped_label_fraction`` make the generated scoring batch drift from
    the training data (its inputs, and its labels) so that monitoring can be tried out.
    """

    training_rows: int = Field(gt=0)
    scoring_rows: int = Field(gt=0)
    seed: int
    holdout_fraction: float = Field(gt=0, lt=1)
    scoring_shift: float = Field(ge=0)
    flipped_label_fraction: float = Field(ge=0, le=1)


class ModelParams(_Section):
    """Hyperparameters of the gradient-boosted classifier."""

    learning_rate: float = Field(gt=0)
    max_iter: int = Field(gt=0)
    max_depth: int | None = Field(default=None, gt=0)
    l2_regularization: float = Field(default=0.0, ge=0)


class ParamRange(_Section):
    """Where the tuner looks for one hyperparameter: ``[low, high]``, on a log scale if ``log``."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _usable(self) -> ParamRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low above 0, got {self.low}")
        return self


class TuningSettings(_Section):
    """The development-time search for ``[common.model]`` (the ``tune`` step).

    Each trial fits on the training rows less ``validation_fraction`` and is scored with ROC AUC
    on the rest; the holdout set, which validation and deploy judge versions on, is never seen.
    """

    trials: int = Field(gt=0)
    validation_fraction: float = Field(gt=0, lt=1)
    search_space: dict[str, ParamRange] = Field(min_length=1)

    @model_validator(mode="after")
    def _searches_model_params(self) -> TuningSettings:
        unknown = sorted(set(self.search_space) - set(ModelParams.model_fields))
        if unknown:
            known = ", ".join(ModelParams.model_fields)
            raise ValueError(f"search_space names {', '.join(unknown)}; the model has {known}")
        return self


class DataChecks(_Section):
    """Expectations the training data must meet before a model learns from it (``data_checks``).

    ``ranges`` maps a numeric column to its ``[low, high]``, both included.
    """

    min_rows: int = Field(gt=0)
    max_null_fraction: float = Field(ge=0, le=1)
    min_label_fraction: float = Field(ge=0, le=0.5)
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> DataChecks:
        for column, (low, high) in self.ranges.items():
            if low > high:
                raise ValueError(f"ranges.{column}: low {low} is above high {high}")
        return self


Metric = Literal["roc_auc", "accuracy_score", "f1_score", "precision_score", "recall_score"]


class SliceGate(_Section):
    """A floor for every slice of the holdout set: each value of each of ``columns``.

    Slices with fewer than ``min_rows`` rows are reported but not judged: their score is noise.
    """

    columns: tuple[str, ...] = ()
    metric: Metric = "roc_auc"
    min_score: float = Field(default=0.0, ge=0, le=1)
    min_rows: int = Field(default=1, gt=0)


class ValidationThresholds(_Section):
    """Gates a new model version must pass before it may become ``challenger``.

    Besides the scores, a version needs a description and every tag of ``required_tags``.
    """

    min_roc_auc: float = Field(ge=0, le=1)
    min_accuracy: float = Field(ge=0, le=1)
    max_roc_auc_drop_vs_champion: float = Field(ge=0)
    required_tags: tuple[str, ...] = ()
    slices: SliceGate = SliceGate()


class PromotionPolicy(_Section):
    """When ``challenger`` replaces ``champion``."""

    metric: Metric
    min_improvement: float
    # A person approves each promotion (the version's tag approval_champion = Approved).
    requires_approval: bool = False


class MonitoringSettings(_Section):
    """What monitoring compares, over which window, and the thresholds that call for retraining.

    Upper bounds are named ``max_*`` and lower bounds ``min_*``; a metric beyond its bound is
    "breached", and any breach makes the monitoring step signal that the model needs retraining.
    """

    window_hours: int = Field(gt=0)
    max_rows: int = Field(gt=0)
    max_psi: float = Field(gt=0)
    max_ks_statistic: float = Field(gt=0, le=1)
    max_js_distance: float = Field(gt=0, le=1)
    max_null_fraction: float = Field(ge=0, le=1)
    max_out_of_range_fraction: float = Field(ge=0, le=1)
    max_unseen_category_fraction: float = Field(ge=0, le=1)
    min_labelled_rows: int = Field(gt=0)
    min_accuracy: float = Field(ge=0, le=1)
    min_f1: float = Field(ge=0, le=1)
    granularities: tuple[str, ...] = Field(min_length=1)
    assets_dir: str
    refresh_timeout_minutes: int = Field(ge=0)
    alert_emails: tuple[str, ...] = ()


class ServingSettings(_Section):
    """The Model Serving endpoint that answers real-time requests with ``champion``.

    Only environments with an ``endpoint_name`` have one (test, staging and prod); deploy and
    rollback point it at the new champion, and wait until it answers, before they move the alias.
    ``query_group`` may query it (empty: only its owner and workspace admins).

    With ``challenger_traffic_percent`` above 0, a challenger that wins offline is first tried
    online: the endpoint sends it that share of the requests, and it becomes champion only when
    both versions have ``min_online_labelled_requests`` answered requests whose outcome is known
    and it scores at least as well on them (the ``online`` module).
    """

    endpoint_name: str = Field(default="", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    workload_size: Literal["Small", "Medium", "Large"]
    scale_to_zero: bool
    inference_table_prefix: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    ready_timeout_minutes: int = Field(gt=0)
    query_group: str = ""
    challenger_traffic_percent: int = Field(default=0, ge=0, le=50)
    min_online_labelled_requests: int = Field(default=500, gt=0)

    @property
    def online_trials(self) -> bool:
        """Whether a challenger is tried on live requests before it may become champion."""
        return bool(self.endpoint_name) and self.challenger_traffic_percent > 0


class FeatureStoreSettings(_Section):
    """The feature store's label table (``feature_store.py``); features stay in ``tables.features``.

    ``training_labels`` holds each training outcome with the time it was observed, which is the
    moment its features are looked up as of.
    """

    training_labels: str


class Settings(_Section):
    """Everything a pipeline step needs to know about the environment it runs in."""

    env: Environment
    catalog: str
    schema_: str = Field(alias="schema")
    model_name: str
    experiment_name: str
    local_dir: Path | None = None
    tables: Tables
    sources: Sources
    data: DataSettings
    model: ModelParams
    tuning: TuningSettings
    data_checks: DataChecks
    validation: ValidationThresholds
    promotion: PromotionPolicy
    monitoring: MonitoringSettings
    serving: ServingSettings | None = None  # None: batch scoring only
    feature_store: FeatureStoreSettings | None = None  # None: features in a plain table

    @model_validator(mode="after")
    def _no_generated_data_in_production(self) -> Settings:
        if self.env in PRODUCTION_ENVIRONMENTS and self.sources.kind == "generator":
            raise ValueError(
                f"[{self.env}.sources] kind is 'generator', but generated data never lands in "
                f"{' or '.join(sorted(PRODUCTION_ENVIRONMENTS))}: set kind = 'tables' and name "
                "the tables to read"
            )
        return self

    @property
    def is_local(self) -> bool:
        """Whether this environment runs on this machine rather than on Databricks."""
        return self.env == "local"

    @property
    def registered_model_name(self) -> str:
        """The three-part model name, as Unity Catalog (and the local registry) expects it."""
        return f"{self.catalog}.{self.schema_}.{self.model_name}"

    def table(self, short_name: str) -> str:
        """Qualify a short table name as ``catalog.schema.table``."""
        return f"{self.catalog}.{self.schema_}.{short_name}"

    @property
    def is_per_user(self) -> bool:
        """Whether names still hold a placeholder for the developer who runs the step."""
        names = (self.schema_, self.experiment_name)
        return any(p in name for p in (USER_PLACEHOLDER, USER_NAME_PLACEHOLDER) for name in names)

    def for_user(self, user_name: str) -> Settings:
        """Fill the per-developer placeholders with ``user_name`` (and its short name)."""
        short = user_short_name(user_name)

        def fill(text: str) -> str:
            return text.replace(USER_NAME_PLACEHOLDER, user_name).replace(USER_PLACEHOLDER, short)

        return self.model_copy(
            update={"schema_": fill(self.schema_), "experiment_name": fill(self.experiment_name)}
        )

    @property
    def generates_data(self) -> bool:
        """Whether the bundled generator stands in for the sources in this environment."""
        return self.sources.kind == "generator"

    def source_table(self, role: SourceRole) -> str:
        """Return the table the raw data of ``role`` is read from.

        Raises:
            SourceNotConfiguredError: the environment reads tables and this one is not named.

        """
        if self.generates_data:
            return self.table(getattr(self.tables, role))
        name: str = getattr(self.sources, role)
        if not name:
            raise SourceNotConfiguredError(
                f"Environment {self.env!r} reads its data from tables, and [{self.env}.sources] "
                f"{role} in {SETTINGS_FILE} is empty: name the Unity Catalog table "
                "(catalog.schema.table) to read. Nothing was written."
            )
        return name


def user_short_name(user_name: str) -> str:
    """Return a name fit for a schema: the part before the ``@``, lower case, ``_`` for the rest.

    Databricks derives ``${workspace.current_user.short_name}`` the same way, so the bundle's dev
    target and the code agree on each developer's schema.
    """
    short = "_".join(re.findall(r"[a-z0-9]+", user_name.split("@")[0].lower()))
    return short or "user"


class SettingsError(ValueError):
    """The settings file is missing a value, has an unknown key, or a value out of range."""


# Overlaid on every environment's settings by ``load_settings``: see ``overridden_settings``.
_OVERRIDES: ContextVar[dict[str, Any] | None] = ContextVar("settings_overrides", default=None)


@contextmanager
def overridden_settings(overrides: dict[str, Any]) -> Iterator[None]:
    """Overlay ``overrides`` on the settings that ``load_settings`` returns within the block.

    Job tasks load their own settings, as they do on Databricks, so a local run of whole jobs
    (``run-pipeline --shift 1``, or a test that wants less data) changes them here rather than
    through arguments the jobs do not have. Values are validated like the file's own.
    """
    token = _OVERRIDES.set(_deep_merge(_OVERRIDES.get() or {}, overrides))
    try:
        yield
    finally:
        _OVERRIDES.reset(token)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_settings_file(path: Path | None = None) -> dict[str, Any]:
    """Read the raw TOML document: the packaged file unless ``path`` is given."""
    source = path or resources.files(__package__).joinpath(SETTINGS_FILE)
    return tomllib.loads(source.read_bytes().decode())  # TOML is UTF-8, whatever the locale


def _unknown_names(document: dict[str, Any]) -> list[str]:
    """Name each section and key of the settings document that no setting has.

    Every section is checked, not only those one environment reads, so that a typo in ``[prod]``
    stops the first local run rather than the first production one.
    """
    unknown = [f"[{name}]" for name in document if name not in {"common", *ENVIRONMENTS}]
    for name, section in document.items():
        if not isinstance(section, dict):
            continue  # reported by load_settings
        try:
            Settings.model_validate(section)
        except ValidationError as error:
            for problem in error.errors():
                if problem["type"] == "extra_forbidden":
                    *tables, key = (name, *problem["loc"])
                    unknown.append(f"[{'.'.join(map(str, tables))}] {key}")
    return unknown


def load_settings(env: str, path: Path | None = None) -> Settings:
    """Return the validated settings of ``env``: ``[common]`` overlaid with ``[<env>]``."""
    if env not in ENVIRONMENTS:
        raise SettingsError(
            f"Unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}."
        )
    document = read_settings_file(path)
    if unknown := _unknown_names(document):
        raise SettingsError(f"Unknown in {SETTINGS_FILE} (misspelled?): {', '.join(unknown)}.")
    if loose := [name for name, section in document.items() if not isinstance(section, dict)]:
        raise SettingsError(
            f"Not a section in {SETTINGS_FILE}: {', '.join(loose)}. Every setting belongs in "
            f"[common] or in an environment's section ({', '.join(ENVIRONMENTS)})."
        )
    values = _deep_merge(document.get("common", {}), document.get(env, {}))
    values = _deep_merge(values, _OVERRIDES.get() or {})
    try:
        return Settings.model_validate({**values, "env": env})
    except ValidationError as error:
        raise SettingsError(f"Invalid settings for environment {env!r}:\n{error}") from error
