"""Approval: where a person must say yes before a validated version may become ``champion``.

The shape is MLflow 3's deployment-job approval: a job task named ``approval_champion`` passes
only when the model version's tag of the same name is ``Approved``. Environments whose
``[<env>.promotion]`` sets ``requires_approval`` wait for it; the others pass at once. A person
approves by setting the tag (Catalog Explorer, or ``MlflowClient().set_model_version_tag``) and
then repairs the training job's run, which runs this task and ``deploy`` again.

``deploy`` checks the same tag, so no path (a rerun, the command line) promotes an unapproved
version where approval is required.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow import MlflowClient

from .platform import Platform
from .registry import CHALLENGER, version_for_alias

APPROVAL_TAG = "approval_champion"  # also the training job's task name, as MLflow 3 expects
APPROVED = "Approved"


class ApprovalPendingError(RuntimeError):
    """The version may become champion only once a person has approved it."""


def approval_refusal(
    required: bool, tags: Mapping[str, str], name: str, version: str
) -> str | None:
    """Return why ``version`` may not be promoted yet; None if it may."""
    if not required or tags.get(APPROVAL_TAG) == APPROVED:
        return None
    return (
        f"{name} version {version} waits for approval: set its tag {APPROVAL_TAG} = {APPROVED} "
        f"(Catalog Explorer, or MlflowClient().set_model_version_tag), then repair the run."
    )


def require_approval(platform: Platform, version: str | None = None) -> str:
    """Pass if ``version`` (default: the challenger) may be promoted; return the version checked.

    Raises:
        LookupError: no version given and no challenger to check.
        ApprovalPendingError: this environment requires approval and the version has none.

    """
    settings = platform.settings
    platform.configure_mlflow()
    client = MlflowClient()
    name = settings.registered_model_name
    if version is None:
        version = version_for_alias(client, name, CHALLENGER)
        if version is None:
            raise LookupError(f"{name} has no {CHALLENGER!r} alias: run the validate step first.")
    tags = client.get_model_version(name, version).tags
    refusal = approval_refusal(settings.promotion.requires_approval, tags, name, version)
    if refusal is not None:
        raise ApprovalPendingError(refusal)
    return version
