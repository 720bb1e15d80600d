"""Model registry vocabulary: aliases, tags and URIs, in one place.

Aliases carry the workflow state (``challenger`` passed validation, ``champion`` serves
predictions); version tags record why. Both work the same in Unity Catalog and in the local
MLflow registry, which accepts the same three-part model names.
"""

from __future__ import annotations

import logging

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"

VALIDATION_STATUS_TAG = "model_validation_status"
PENDING = "PENDING"
PASSED = "PASSED"
FAILED = "FAILED"

# Champion history, for rollback. Deploy tags the version it promotes with the champion it
# replaced; rollback tags the version it takes ``champion`` away from, and the one it restores.
PREVIOUS_CHAMPION_TAG = "previous_champion_version"
ROLLED_BACK_TAG = "rolled_back"
ROLLBACK_REASON_TAG = "rollback_reason"
ROLLED_BACK_TO_TAG = "rolled_back_to"
RESTORED_FROM_TAG = "restored_from"
TRUE = "true"


def version_uri(model_name: str, version: str) -> str:
    """Return the URI of one registered version."""
    return f"models:/{model_name}/{version}"


def alias_uri(model_name: str, alias: str) -> str:
    """Return the URI that follows an alias, e.g. ``models:/catalog.schema.model@champion``."""
    return f"models:/{model_name}@{alias}"


def version_for_alias(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """Return the version an alias points at; None if the alias or the model does not exist."""
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
            return None
        raise


def latest_version(client: MlflowClient, model_name: str) -> str | None:
    """Return the highest registered version number; None when nothing is registered."""
    versions = client.search_model_versions(f"name = '{model_name}'")
    if not versions:
        return None
    return str(max(int(version.version) for version in versions))


def remove_alias(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """Delete an alias if it exists; return the version it pointed at."""
    version = version_for_alias(client, model_name, alias)
    if version is not None:
        client.delete_registered_model_alias(model_name, alias)
        logger.info("Removed %s from %s version %s", alias, model_name, version)
    return version


def set_version_tags(
    client: MlflowClient, model_name: str, version: str, tags: dict[str, object]
) -> None:
    """Record facts about a version as string tags."""
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, str(value))
