"""The monitoring report: one HTML page, with a plot for each column that drifted.

It is written for a person deciding what to do about an alert: the verdict and its reasons first,
then how each drifted column's distribution moved, then every metric with its threshold. The page
and its PNG plots are self-contained files, so MLflow can keep them as artifacts of the run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .monitor import Metric, MonitoringResult

REPORT_FILE = "report.html"
HISTOGRAM_BINS = 30

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 70rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.verdict { padding: 0.8rem 1rem; border-radius: 6px; font-weight: 600; }
.alert { background: #fde2e1; border: 1px solid #e0837f; }
.ok { background: #e3f4e1; border: 1px solid #85c27d; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.8rem; border-bottom: 1px solid #ddd; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.breached td { background: #fde2e1; font-weight: 600; }
img { max-width: 100%; margin: 0.5rem 0; }
"""


def format_value(value: float) -> str:
    """Show counts as integers, p-values and other tiny values in scientific notation."""
    if value.is_integer() and abs(value) >= 1:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}"


def write_report(
    directory: Path,
    model_name: str,
    result: MonitoringResult,
    baseline: pd.DataFrame,
    current: pd.DataFrame,
) -> Path:
    """Write ``report.html`` and one PNG per drifted column to ``directory``; return the page."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = [
        plot_distributions(
            column,
            baseline[column],
            current[column],
            directory,
            caption="; ".join(m.describe() for m in result.breaches if m.feature == column),
        )
        for column in sorted(result.drifted_features)
        if column in baseline and column in current
    ]
    page = directory / REPORT_FILE
    page.write_text(render_html(model_name, result, plots), encoding="utf-8")
    return page


def plot_distributions(
    column: str, baseline: pd.Series, current: pd.Series, directory: Path, caption: str = ""
) -> Path:
    """Overlay the training and recent distributions of one column; return the PNG's path."""
    figure = Figure(figsize=(7, 3.2), layout="constrained")
    axes = figure.subplots()
    expected, actual = baseline.dropna(), current.dropna()
    if pd.api.types.is_numeric_dtype(expected) and expected.nunique() > 2:
        values = np.concatenate([expected.to_numpy(float), actual.to_numpy(float)])
        edges = np.histogram_bin_edges(values, bins=HISTOGRAM_BINS)
        axes.hist(expected, bins=edges, density=True, alpha=0.5, label="training")
        axes.hist(actual, bins=edges, density=True, alpha=0.5, label="recent")
        axes.set_ylabel("density")
    else:
        shares = pd.DataFrame(
            {
                "training": expected.astype(str).value_counts(normalize=True),
                "recent": actual.astype(str).value_counts(normalize=True),
            }
        ).fillna(0.0)
        positions = np.arange(len(shares))
        axes.bar(positions - 0.2, shares["training"], width=0.4, label="training")
        axes.bar(positions + 0.2, shares["recent"], width=0.4, label="recent")
        axes.set_xticks(positions, shares.index)
        axes.set_ylabel("share of rows")
    axes.set_title(caption or column, fontsize="medium")
    axes.legend()
    path = directory / f"drift_{column}.png"
    figure.savefig(path, dpi=100)
    return path


def render_html(model_name: str, result: MonitoringResult, plots: Iterable[Path]) -> str:
    """Render the page: verdict, reasons, plots, then every metric."""
    title = f"Monitoring of {model_name} version {result.model_version}"
    if result.retraining_needed:
        verdict = (
            f'<p class="verdict alert">Retraining needed: {len(result.breaches)} of '
            f"{len(result.metrics)} metrics crossed their thresholds.</p>"
        )
        reasons = "<ul>" + "".join(_item(m.describe()) for m in result.breaches) + "</ul>"
    else:
        verdict = '<p class="verdict ok">Every metric is within its threshold.</p>'
        reasons = ""
    images = "".join(
        f'<img src="{html.escape(path.name)}" alt="{html.escape(path.stem)}">' for path in plots
    )
    drift_section = f"<h2>Drifted columns</h2>{images}" if images else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Predictions scored from {html.escape(str(result.window))}, "
        "compared with the training split of the feature table.</p>"
        f"{verdict}{reasons}{drift_section}"
        f"<h2>All metrics</h2>{_metrics_table(result.metrics)}"
        "</body></html>\n"
    )


def _item(text: str) -> str:
    return f"<li>{html.escape(text)}</li>"


def _metrics_table(metrics: Iterable[Metric]) -> str:
    rows = []
    for metric in metrics:
        bound = {"max": "at most ", "min": "at least "}.get(metric.bound or "", "")
        threshold = "" if metric.threshold is None else f"{bound}{metric.threshold:g}"
        rows.append(
            f'<tr class="{"breached" if metric.breached else ""}">'
            f"<td>{html.escape(metric.feature or '(window)')}</td>"
            f"<td>{html.escape(metric.name)}</td>"
            f'<td class="number">{format_value(metric.value)}</td>'
            f"<td>{threshold}</td>"
            f"<td>{'BREACHED' if metric.breached else ''}</td></tr>"
        )
    header = "<tr><th>Column</th><th>Metric</th><th>Value</th><th>Threshold</th><th></th></tr>"
    return f"<table>{header}{''.join(rows)}</table>"
