"""Refuse to deploy a shared target whose registered model belongs to someone else.

A staging or prod target without a service principal runs its jobs as whoever deploys it
(`run_as: user_name` in databricks.yml), and the first deploy creates the target's registered
model in Unity Catalog, owned by that first deployer. Only a model's owner may move its aliases:
a deploy by anyone else would succeed, and the jobs it leaves behind would fail with
PERMISSION_DENIED in their `validate` and `deploy` steps.

`make bundle-deploy` runs this before deploying such a target. It asks the Databricks CLI who is
deploying (`databricks current-user me`) and who owns the target's model
(`databricks registered-models get`), and exits non-zero, saying what to do, when they differ. No
model yet means the deployer will own it: nothing to refuse. A service principal deploying a
target that names its deployer as a user is refused too: the bundle must name it as a service
principal. docs/deploy.md ("Who owns staging and prod") explains the choice.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GUIDE = "docs/deploy.md#who-owns-staging-and-prod"
# The question that gives each target its service principal (test shares staging's).
QUESTIONS = {"staging": "staging_service_principal", "prod": "prod_service_principal"}
# How Unity Catalog words a missing model, schema or catalog ("Routine or Model 'a.b.c' does not
# exist."), and the error codes the CLI prints with some versions.
NOT_FOUND = re.compile(r"does not exist|RESOURCE_DOES_NOT_EXIST|NOT_FOUND", re.IGNORECASE)
# Service principals sign in with their application ID (a UUID) as their user name.
APPLICATION_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", re.IGNORECASE)


class CliError(RuntimeError):
    """A Databricks CLI call failed; the message holds what the CLI printed."""


@dataclass(frozen=True)
class Identity:
    """Who the CLI is authenticated as: the user name and the groups it is a direct member of."""

    user_name: str
    groups: frozenset[str]

    @property
    def is_service_principal(self) -> bool:
        """Whether this is a service principal (its user name is its application ID)."""
        return bool(APPLICATION_ID.match(self.user_name))

    def owns(self, owner: str) -> bool:
        """Whether a securable owned by ``owner`` (a user, service principal or group) is ours."""
        names = {self.user_name.casefold(), *(group.casefold() for group in self.groups)}
        return owner.casefold() in names


def databricks(*args: str, target: str) -> dict[str, Any]:
    """Run ``databricks <args> --target <target> --output json`` and return its JSON answer.

    ``--target`` makes the CLI use that target's workspace from databricks.yml, as the deploy does.
    """
    command = ["databricks", *args, "--target", target, "--output", "json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError as missing:
        raise CliError("no Databricks CLI on PATH: run `make databricks-cli`") from missing
    if result.returncode != 0:
        printed = (result.stderr or result.stdout).strip()
        raise CliError(printed or f"`{' '.join(command)}` exited {result.returncode}")
    try:
        answer = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise CliError(f"`{' '.join(command)}` printed no JSON: {result.stdout[:200]!r}") from error
    if not isinstance(answer, dict):
        raise CliError(f"`{' '.join(command)}` printed {type(answer).__name__}, not an object")
    return answer


def current_identity(target: str) -> Identity:
    """Return who deploys: ``userName`` and the groups' names of ``current-user me``."""
    me = databricks("current-user", "me", target=target)
    groups = frozenset(str(g["display"]) for g in me.get("groups") or [] if g.get("display"))
    return Identity(str(me.get("userName") or ""), groups)


def model_owner(full_name: str, target: str) -> str | None:
    """Return the owner of the registered model ``full_name``; None when it does not exist."""
    try:
        model = databricks("registered-models", "get", full_name, target=target)
    except CliError as error:
        if NOT_FOUND.search(str(error)):
            return None
        raise
    return str(model.get("owner") or "") or None


def refusal(target: str, full_name: str, me: Identity, owner: str | None) -> str | None:
    """Why ``me`` must not deploy ``target``, or None when it may."""
    question = QUESTIONS.get(target, f"{target}_service_principal")
    if me.is_service_principal:
        return (
            f"you deploy as the service principal {me.user_name}, but {target} has none: it "
            f"names whoever deploys as a user (run_as: user_name), which a service principal is "
            f"not. Make it the target's service principal ({GUIDE}):\n"
            f"  copier update --data {question}={me.user_name}"
        )
    if owner is None or me.owns(owner):
        return None
    return (
        f"{full_name} is owned by {owner}; you are {me.user_name}. Only its owner can move its "
        f"aliases: deploy as {owner}, or give the target a service principal ({GUIDE}):\n"
        f"  copier update --data {question}=<application id>"
    )


def check(target: str, models: dict[str, str]) -> str | None:
    """Ask the CLI and return the refusal for ``target``; None when it has no model to check."""
    full_name = models.get(target)
    if full_name is None:
        return None
    me = current_identity(target)
    if not me.user_name:
        raise CliError("`databricks current-user me` returned no userName")
    owner = None if me.is_service_principal else model_owner(full_name, target)
    return refusal(target, full_name, me, owner)


def parse_models(pairs: Sequence[str]) -> dict[str, str]:
    """``["staging=cat.schema.model", ...]`` as ``{"staging": "cat.schema.model", ...}``."""
    models = {}
    for pair in pairs:
        target, sep, full_name = pair.partition("=")
        if not sep or not target or full_name.count(".") != 2:
            raise SystemExit(f"expected TARGET=<catalog>.<schema>.<model>, got {pair!r}")
        models[target] = full_name
    return models


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments; print the refusal and return 1, or return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="the bundle target about to be deployed")
    parser.add_argument(
        "models",
        nargs="*",
        metavar="TARGET=MODEL",
        help="the registered model (<catalog>.<schema>.<model>) of each target to check; "
        "other targets are not checked",
    )
    args = parser.parse_args(argv)
    try:
        problem = check(args.target, parse_models(args.models))
    except CliError as error:
        problem = f"cannot tell who owns the model of {args.target}: {error}"
    if problem is None:
        return 0
    print(f"refusing to deploy TARGET={args.target}: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
