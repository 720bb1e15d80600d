"""A deterministic generator of customer records, standing in for real ingestion.

It makes a realistic churn problem (numeric and categorical features, a label that depends on
them non-linearly, noise) of any size, with no download. ``shift`` moves the distributions of
``monthly_charges`` and ``contract`` while leaving the other features and the label mechanism
alone, which is how drift shows up in production: the world changes, the model does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ID_COLUMN = "customer_id"
LABEL_COLUMN = "churned"

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("card", "bank-transfer", "electronic-check", "mailed-check")
INTERNET_SERVICES = ("fiber", "dsl", "none")

# Columns that ``shift`` changes; monitoring should flag these and only these.
SHIFTED_COLUMNS = ("monthly_charges", "contract")


def generate_customers(
    rows: int,
    seed: int,
    *,
    shift: float = 0.0,
    first_id: int = 1,
    labelled: bool = True,
) -> pd.DataFrame:
    """Return ``rows`` customers; the same arguments always give the same frame.

    Args:
        rows: number of customers.
        seed: random seed; different seeds give independent samples of the same population.
        shift: 0 for the training population; 1 moves mean monthly charges up by about one
            standard deviation and makes month-to-month contracts much more common.
        first_id: the first ``customer_id``; use disjoint ranges for training and scoring data.
        labelled: whether to include the ``churned`` label (scoring input has none).

    """
    if rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    if shift < 0:
        raise ValueError(f"shift must be zero or positive, got {shift}")
    rng = np.random.default_rng(seed)

    contract_weights = np.array([0.55, 0.25, 0.20]) + shift * np.array([0.30, -0.15, -0.15])
    contract_weights = np.clip(contract_weights, 0.02, None)
    contract = rng.choice(CONTRACTS, size=rows, p=contract_weights / contract_weights.sum())
    payment_method = rng.choice(PAYMENT_METHODS, size=rows, p=[0.35, 0.25, 0.25, 0.15])
    internet_service = rng.choice(INTERNET_SERVICES, size=rows, p=[0.45, 0.40, 0.15])
    tenure_months = rng.gamma(shape=2.0, scale=14.0, size=rows).clip(1, 72).round().astype("int64")
    base_charges = np.select(
        [internet_service == "fiber", internet_service == "dsl"], [80.0, 55.0], default=25.0
    )
    monthly_charges = (base_charges + rng.normal(10.0 * shift, 12.0, size=rows)).clip(15, 150)
    support_calls = rng.poisson(1.2, size=rows).astype("int64")

    frame = pd.DataFrame(
        {
            ID_COLUMN: np.arange(first_id, first_id + rows, dtype="int64"),
            "tenure_months": tenure_months,
            "monthly_charges": monthly_charges.round(2),
            "support_calls": support_calls,
            "contract": contract,
            "payment_method": payment_method,
            "internet_service": internet_service,
        }
    )
    if labelled:
        frame[LABEL_COLUMN] = _churn_label(frame, rng)
    return frame


def _churn_label(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Draw churn from a logistic model with interactions, so trees beat a linear baseline."""
    month_to_month = (frame["contract"] == "month-to-month").to_numpy()
    logit = (
        -2.2
        + 1.6 * month_to_month
        - 0.045 * frame["tenure_months"].to_numpy()
        + 0.022 * (frame["monthly_charges"].to_numpy() - 60.0)
        + 0.45 * frame["support_calls"].to_numpy()
        + 0.7 * (frame["payment_method"] == "electronic-check").to_numpy()
        + 0.8 * (month_to_month & (frame["internet_service"] == "fiber").to_numpy())
        - 0.6 * ((frame["support_calls"] == 0).to_numpy() & ~month_to_month)
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    return (rng.random(len(frame)) < probability).astype("int64")
