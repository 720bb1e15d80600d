"""The CI/CD each `cicd_platform` answer renders: valid for its platform, secure, wired to the
project's own Makefile targets, and addable later with `copier update`.

- GitHub workflows pass the GitHub workflow schema and `zizmor --offline` without findings;
  GitLab and Azure DevOps pipelines pass their platforms' schemas;
- every command a job runs is a Makefile target (or, on GitLab, preparing the runner image), each
  target's recipe runs only what the project provides, and `make -n` accepts every call;
- the flow is the same everywhere: checks on every change request, the training, batch inference
  and monitoring jobs on the `test` target for same-repository change requests (stopping at the
  first that fails) with a destroy that always runs, staging from the default branch, prod from
  the release branch behind an approval; authentication by workload identity federation, with
  the answered hosts and service principals;
- staging and prod deploy only from their branch: the pipeline's rules or conditions, and
  `make bundle-deploy` itself, given the branch by the pipeline (runners check out a detached
  HEAD, where the Databricks CLI skips its `git.branch` check);
- GitHub queues the runs of every pull request on the shared `test` target: none cancels another;
- `none` renders no CI at all, and `copier update --data cicd_platform=...` adds exactly what a
  fresh render has;
- the CI's lint step passes on a rendered, installed project (slow).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bundle_checks import for_target, load_bundle, resolve
from cicd_checks import (
    CI_FILES,
    CI_LOCATIONS,
    COPIER_UPDATE_COMMANDS,
    DEPLOY_BRANCH_FROM,
    PLATFORMS,
    PULL_REQUEST_JOBS,
    RELEASE_TAGS_CHECK,
    RUNNER_SETUP,
    SCHEMAS,
    UPDATE_JOB_FILES,
    ZIZMOR_OPTIONS,
    CiCommand,
    FakeDatabricks,
    MakeCall,
    Makefile,
    action_references,
    azure_jobs,
    azure_steps,
    ci_commands,
    ci_files,
    console_scripts,
    dev_distributions,
    file_commands,
    gitlab_jobs,
    load_yaml,
    make_calls,
    unpinned_actions,
)
from conftest import RenderFn
from support import (
    ANSWER_SETS,
    ANSWERS_FILE,
    DEFAULT_ANSWERS,
    GIT_IDENTITY,
    TOOLS_BIN,
    AnswerSet,
    InstallFn,
    Rendered,
    on_its_worker,
    run,
    user_env,
)
from template_repo import (
    commit_all,
    copy_project,
    git,
    project_tree,
    snapshot_template,
    start_project,
    update_project,
)

# Every workspace answer given, on the cloud each platform's users most often run.
ANSWERED = {
    "staging_service_principal": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "prod_service_principal": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
    "default_branch": "trunk",
    "release_branch": "releases/stable",
}
AWS_URLS = {
    "cloud": "aws",
    "staging_workspace_url": "https://dbc-0a1b2c3d-4e5f.cloud.databricks.com",
    "prod_workspace_url": "https://dbc-9e8d7c6b-5a4f.cloud.databricks.com/?o=1234567890",
}
AZURE_URLS = {
    "cloud": "azure",
    "staging_workspace_url": "https://adb-1234567890123456.7.azuredatabricks.net",
    "prod_workspace_url": "https://adb-6543210987654321.8.azuredatabricks.net",
}
CI_ANSWER_SETS: tuple[AnswerSet, ...] = (
    AnswerSet("github-unanswered", {"cicd_platform": "github_actions"}),
    AnswerSet("github-answered", {"cicd_platform": "github_actions", **AWS_URLS, **ANSWERED}),
    AnswerSet("gitlab-unanswered", {"cicd_platform": "gitlab"}),
    AnswerSet("gitlab-answered", {"cicd_platform": "gitlab", **AWS_URLS, **ANSWERED}),
    AnswerSet("azure-devops-on-aws", {"cicd_platform": "azure_devops"}),
    AnswerSet("azure-devops-answered", {"cicd_platform": "azure_devops", **AZURE_URLS, **ANSWERED}),
    AnswerSet(
        "azure-devops-answered-on-aws", {"cicd_platform": "azure_devops", **AWS_URLS, **ANSWERED}
    ),
    AnswerSet("none", {"cicd_platform": "none"}),
)
# The render matrix's answer sets too: their CI sees their unusual names and branches.
ALL_SETS = CI_ANSWER_SETS + ANSWER_SETS
WITH_CI = [a for a in ALL_SETS if a.data.get("cicd_platform", "github_actions") != "none"]


def _ids(sets: tuple[AnswerSet, ...] | list[AnswerSet]) -> list[str]:
    return [a.id for a in sets]


def _on(platform: str) -> list[AnswerSet]:
    return [a for a in ALL_SETS if a.data.get("cicd_platform", "github_actions") == platform]


GITHUB, GITLAB, AZURE = _on("github_actions"), _on("gitlab"), _on("azure_devops")


def _rendered_for(name: str, sets: tuple[AnswerSet, ...] | list[AnswerSet]):
    """A fixture, called ``name``, that yields the render of each answer set in ``sets``."""

    @pytest.fixture(name=name, params=sets, ids=_ids(sets))
    def rendered(request: pytest.FixtureRequest, render_answers: RenderFn) -> Rendered:
        return render_answers(request.param)

    return rendered


project = _rendered_for("project", ALL_SETS)
ci_project = _rendered_for("ci_project", WITH_CI)
github_project = _rendered_for("github_project", GITHUB)
gitlab_project = _rendered_for("gitlab_project", GITLAB)
azure_project = _rendered_for("azure_project", AZURE)


def platform_of(rendered: Rendered) -> str:
    return str(rendered.answers["cicd_platform"])


def ci_document(rendered: Rendered) -> Any:
    (rel,) = CI_FILES[platform_of(rendered)]
    return load_yaml(rendered.path / rel)


# --- Files --------------------------------------------------------------------------------------


def test_each_platform_renders_its_pipeline_and_no_other_platform_s(project: Rendered) -> None:
    chosen = platform_of(project)
    for rel in CI_FILES[chosen]:
        assert (project.path / rel).is_file(), f"{rel} is missing"
    own = {rel.split("/")[0] for rel in CI_FILES[chosen]}
    foreign = [
        location
        for location in CI_LOCATIONS
        if location not in own and (project.path / location).exists()
    ]
    assert foreign == [], f"CI files of another platform for cicd_platform={chosen}"


def test_every_platform_and_none_is_covered() -> None:
    covered = {a.data.get("cicd_platform", "github_actions") for a in ALL_SETS}
    assert covered == set(PLATFORMS)


def test_setup_guide_is_written_for_the_chosen_platform(project: Rendered) -> None:
    guide = (project.path / "docs" / "ci-cd.md").read_text(encoding="utf-8")
    chosen = platform_of(project)
    assert f"cicd_platform: {chosen}" in guide
    for rel in CI_FILES[chosen]:
        assert f"`{rel}`" in guide
    if chosen == "none":
        assert "copier update --defaults --data cicd_platform=" in guide
    else:
        assert "federation" in guide
        for environment in ("test", "staging", "prod"):
            assert f"`{environment}`" in guide


# --- Platform validators ------------------------------------------------------------------------


def test_ci_files_match_their_platform_schema(ci_project: Rendered) -> None:
    chosen = platform_of(ci_project)
    workflows = ci_project.path / ".github" / "workflows"
    others = sorted(str(p.relative_to(ci_project.path)) for p in workflows.glob("*.yml"))
    for rel in sorted({*CI_FILES[chosen], *others}):
        result = run(
            [TOOLS_BIN / "check-jsonschema", *SCHEMAS[chosen], rel],
            cwd=ci_project.path,
            timeout=300,
        )
        assert result.returncode == 0, result.report()


def test_zizmor_finds_nothing_in_the_github_workflows(github_project: Rendered) -> None:
    result = run(
        [TOOLS_BIN / "zizmor", *ZIZMOR_OPTIONS, ".github"],
        cwd=github_project.path,
        timeout=300,
    )
    assert result.returncode == 0, result.report()
    assert "No findings" in result.output, result.report()


# --- Commands -----------------------------------------------------------------------------------


def test_jobs_run_only_make_targets_of_the_project(ci_project: Rendered) -> None:
    chosen = platform_of(ci_project)
    commands = ci_commands(ci_project.path, chosen)
    assert commands, "the pipeline runs no command"
    makefile = Makefile.read(ci_project.path / "Makefile")
    problems = []
    for command in commands:
        program = command.argv[0]
        if program in RUNNER_SETUP[chosen]:
            continue
        if program != "make":
            problems.append(f"{command.job}: `{command.line}` is not a make target")
            continue
        call = MakeCall.parse(command.argv)
        problems += [
            f"{command.job}: `{command.line}`: no target {goal!r} in the Makefile"
            for goal in call.goals
            if goal not in makefile.targets
        ]
        problems += [
            f"{command.job}: `{command.line}`: the Makefile has no variable {name}"
            for name, _ in call.variables
            if name not in makefile.variables
        ]
    assert problems == []


def test_make_accepts_every_call_of_the_pipeline(ci_project: Rendered) -> None:
    """`make -n` parses the Makefile and resolves each call's targets without running them."""
    for call in set(make_calls(ci_commands(ci_project.path, platform_of(ci_project)))):
        args = [*call.goals, *(f"{name}={value}" for name, value in call.variables)]
        result = run(["make", "-n", *args], cwd=ci_project.path, env=user_env(), timeout=60)
        assert result.returncode == 0, result.report()


def test_pipeline_targets_are_bundle_targets(ci_project: Rendered) -> None:
    bundle_targets = set(load_bundle(ci_project.path).targets)
    used = {c.target for c in make_calls(ci_commands(ci_project.path, platform_of(ci_project)))}
    assert used - {None} <= bundle_targets


def test_every_platform_runs_the_same_flow(ci_project: Rendered) -> None:
    calls = make_calls(ci_commands(ci_project.path, platform_of(ci_project)))
    steps = {(goal, call.target) for call in calls for goal in call.goals}
    expected = {
        ("install", None),
        ("lint", None),
        ("test-unit", None),
        ("test-spark", None),
        ("test-integration", None),
        ("databricks-cli", None),
        ("bundle-validate", "test"),
        ("bundle-deploy", "test"),
        ("bundle-run", "test"),
        ("bundle-destroy", "test"),
        ("bundle-deploy", "staging"),
        ("bundle-deploy", "prod"),
    }
    assert steps == expected


def test_makefile_recipes_run_what_the_project_provides(project: Rendered) -> None:
    makefile = Makefile.read(project.path / "Makefile")
    dev_tools = dev_distributions(project.path)
    scripts = console_scripts(project.path)
    interpreters = {"$(PYTHON)", "$(VENV)/bin/python", "python3"}
    problems = []
    for target, line in makefile.recipe_commands():
        argv = line.split()
        program = argv[0]
        if program in interpreters:
            script = next((a for a in argv[1:] if a.endswith(".py")), None)
            if script and not (project.path / script).is_file():
                problems.append(f"{target}: {script} does not exist")
        elif program == "databricks":
            # Installed by `make databricks-cli`, into the venv that PATH starts with.
            if "databricks-cli" not in makefile.targets:
                problems.append(f"{target}: nothing installs the Databricks CLI")
        elif program in {"grep", "case"} or re.match(r"^[A-Za-z_]\w*=", program):
            # Shell logic of the recipe itself: listing targets, refusing a TARGET or a branch.
            continue
        elif program not in dev_tools and program not in scripts:
            problems.append(f"{target}: `{program}` is neither a dev tool nor a console script")
    assert problems == []


def test_ci_installs_what_the_bundle_builds_with(project: Rendered) -> None:
    """CI deploys after `make install`: the wheel's build command must come with it."""
    artifacts = load_bundle(project.path).config.get("artifacts", {})
    provided = dev_distributions(project.path) | console_scripts(project.path)
    for name, artifact in artifacts.items():
        program = str(artifact.get("build", "")).split()[:1]
        assert not program or program[0] in provided, f"artifact {name}: {program[0]} not installed"


def test_makefile_documents_every_target(project: Rendered) -> None:
    makefile = Makefile.read(project.path / "Makefile")
    assert set(makefile.targets) == makefile.documented
    result = run(["make"], cwd=project.path, env=user_env(), timeout=60)
    assert result.returncode == 0, result.report()
    for target in makefile.targets:
        assert re.search(rf"^\s+{re.escape(target)}\s", result.output, re.MULTILINE), target


def _make_env(**overrides: str) -> dict[str, str]:
    """A user's environment for make, without a DEPLOY_BRANCH of the machine running the tests."""
    env = user_env(**overrides)
    if "DEPLOY_BRANCH" not in overrides:
        env.pop("DEPLOY_BRANCH", None)
    return env


def _bundle_runs(output: str) -> list[str]:
    """The `databricks bundle run` commands in the output of `make -n`."""
    return [
        line.strip() for line in output.splitlines() if line.startswith("databricks bundle run")
    ]


def test_makefile_runs_the_bundle_s_three_jobs_in_order(project: Rendered) -> None:
    jobs = load_bundle(project.path).config["resources"]["jobs"]
    assert set(PULL_REQUEST_JOBS) <= set(jobs)
    result = run(
        ["make", "-n", "bundle-run", "TARGET=test"],
        cwd=project.path,
        env=_make_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.report()
    assert _bundle_runs(result.output) == [
        f"databricks bundle run --target test {job}" for job in PULL_REQUEST_JOBS
    ]


@pytest.mark.parametrize("failing", [None, *PULL_REQUEST_JOBS])
def test_bundle_run_stops_at_the_first_job_that_fails(
    default_render: Rendered, tmp_path: Path, failing: str | None
) -> None:
    cli = FakeDatabricks(tmp_path / "venv", fail=failing or "")
    result = run(
        ["make", "bundle-run", "TARGET=test", f"VENV={cli.venv}"],
        cwd=default_render.path,
        env=_make_env(),
        timeout=60,
    )
    last = len(PULL_REQUEST_JOBS) if failing is None else PULL_REQUEST_JOBS.index(failing) + 1
    ran = PULL_REQUEST_JOBS[:last]
    assert cli.calls == [f"bundle run --target test {job}" for job in ran]
    assert (result.returncode == 0) is (failing is None), result.report()


def test_makefile_run_job_runs_one_job_of_resources_on_this_machine(project: Rendered) -> None:
    makefile = Makefile.read(project.path / "Makefile")
    assert makefile.variables["JOB"] == "model_training_job"
    text = (project.path / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*?)(?<!\\)$", text, re.MULTILINE | re.DOTALL)
    assert phony and "run-job" in phony.group(1).split()
    assert "pipeline" in makefile.targets
    jobs = load_bundle(project.path).config["resources"]["jobs"]
    for args, job in (
        (["run-job"], "model_training_job"),
        (["run-job", "JOB=monitoring_job"], "monitoring_job"),
    ):
        assert job in jobs
        result = run(["make", "-n", *args], cwd=project.path, env=_make_env(), timeout=60)
        assert result.returncode == 0, result.report()
        assert result.output.strip() == f"{project.slug} run-job {job}"


def _deploy(project: Path, target: str, cli: FakeDatabricks, **env: str) -> tuple[bool, str]:
    """`make bundle-deploy TARGET=<target>`: whether it reached the CLI, and its output."""
    result = run(
        ["make", "bundle-deploy", f"TARGET={target}", f"VENV={cli.venv}"],
        cwd=project,
        env=_make_env(**env),
        timeout=60,
    )
    deployed = f"bundle deploy --target {target}" in cli.calls
    assert deployed is (result.returncode == 0), result.report()
    return deployed, result.output


@pytest.mark.parametrize(
    ("target", "branch", "allowed"),
    [
        ("prod", "release", True),
        ("prod", "refs/heads/release", True),
        ("prod", "main", False),
        ("prod", "refs/heads/main", False),
        ("prod", "release-candidate", False),
        ("prod", "", False),
        ("staging", "main", True),
        ("staging", "refs/heads/main", True),
        ("staging", "release", False),
        ("staging", "feature/x", False),
        ("test", "feature/x", True),
        ("dev", "", True),
    ],
)
def test_bundle_deploy_refuses_staging_and_prod_from_another_branch(
    default_render: Rendered, tmp_path: Path, target: str, branch: str, allowed: bool
) -> None:
    cli = FakeDatabricks(tmp_path / "venv")
    deployed, output = _deploy(default_render.path, target, cli, DEPLOY_BRANCH=branch)
    assert deployed is allowed
    if not allowed:
        assert f"refusing to deploy TARGET={target}" in output


@pytest.mark.parametrize(("checked_out", "allowed"), [("release", True), ("main", False)])
def test_bundle_deploy_checks_the_branch_checked_out_without_deploy_branch(
    default_render: Rendered, tmp_path: Path, checked_out: str, allowed: bool
) -> None:
    """On a developer's machine the CLI sees the branch too; the Makefile agrees with it."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Makefile").write_bytes((default_render.path / "Makefile").read_bytes())
    shutil.copytree(default_render.path / "scripts", project / "scripts")
    git_init = ["git", "init", "--quiet", "-b", checked_out]
    result = run(git_init, cwd=project, env=_make_env(), timeout=60)
    assert result.returncode == 0, result.report()
    deployed, output = _deploy(project, "prod", FakeDatabricks(tmp_path / "venv"))
    assert deployed is allowed, output


# Who deploys staging and prod when they have no service principal: the owner of their model.
DEPLOYER = "deployer@example.com"
OTHER_OWNER = "alice@example.com"
OWNERSHIP_GUIDE = "docs/deploy.md#who-owns-staging-and-prod"
STAGING_SP_ONLY = AnswerSet(
    "staging-sp-only", {"staging_service_principal": ANSWERED["staging_service_principal"]}
)
SPS_ANSWERED = next(a for a in CI_ANSWER_SETS if a.id == "github-answered")


def _registered_model(project: Path, target: str) -> str:
    """The full name of the registered model that the bundle deploys to `target`."""
    config = for_target(load_bundle(project), target)
    (model,) = resolve(config, config)["resources"]["registered_models"].values()
    return f"{model['catalog_name']}.{model['schema_name']}.{model['name']}"


def _own_branch(rendered: Rendered, target: str) -> str:
    """A branch that `make bundle-deploy` accepts for `target`."""
    if target == "prod":
        return str(rendered.answers["release_branch"])
    return str(rendered.answers["default_branch"])


@pytest.mark.parametrize("target", ["staging", "prod"])
@pytest.mark.parametrize(
    ("owner", "groups", "allowed"),
    [
        (None, (), True),  # no model yet: the deployer will own it
        (DEPLOYER, (), True),
        ("ml-deployers", ("ml-deployers",), True),  # a group the deployer is a member of
        (OTHER_OWNER, ("ml-deployers",), False),
    ],
    ids=["no-model-yet", "deployer-owns-it", "deployer-s-group-owns-it", "someone-else-owns-it"],
)
def test_bundle_deploy_refuses_whoever_does_not_own_the_target_s_model(
    default_render: Rendered,
    tmp_path: Path,
    target: str,
    owner: str | None,
    groups: tuple[str, ...],
    allowed: bool,
) -> None:
    """Without a service principal, staging and prod run as whoever deploys them and their
    model belongs to its first deployer: only that owner may move its aliases, so anyone else is
    refused before the deploy, with what to do."""
    model = _registered_model(default_render.path, target)
    cli = FakeDatabricks(
        tmp_path / "venv", user=DEPLOYER, groups=groups, models={model: owner} if owner else {}
    )
    branch = _own_branch(default_render, target)
    deployed, output = _deploy(default_render.path, target, cli, DEPLOY_BRANCH=branch)
    assert deployed is allowed, output
    # The target's own workspace (--target), as the deploy uses.
    assert cli.calls[:2] == [
        f"current-user me --target {target} --output json",
        f"registered-models get {model} --target {target} --output json",
    ]
    if not allowed:
        assert cli.calls == cli.calls[:2], "refused, yet the CLI was called again"
        assert (
            f"{model} is owned by {OTHER_OWNER}; you are {DEPLOYER}. Only its owner can move its "
            f"aliases: deploy as {OTHER_OWNER}, or give the target a service principal "
            f"({OWNERSHIP_GUIDE})"
        ) in output
        assert f"copier update --data {target}_service_principal=<application id>" in output
        guide = (default_render.path / "docs" / "deploy.md").read_text(encoding="utf-8")
        assert "\n## Who owns staging and prod\n" in guide, "the message links a missing section"


@pytest.mark.parametrize("target", ["staging", "prod"])
def test_bundle_deploy_refuses_a_service_principal_the_target_names_as_a_user(
    default_render: Rendered, tmp_path: Path, target: str
) -> None:
    """Staging and prod name their deployer in `run_as: user_name`; a service principal (its
    user name is its application ID) must be the answered service principal instead."""
    principal = "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
    cli = FakeDatabricks(tmp_path / "venv", user=principal)
    branch = _own_branch(default_render, target)
    deployed, output = _deploy(default_render.path, target, cli, DEPLOY_BRANCH=branch)
    assert not deployed
    assert cli.calls == [f"current-user me --target {target} --output json"]
    assert f"copier update --data {target}_service_principal={principal}" in output


def test_bundle_deploy_refuses_when_the_model_s_owner_cannot_be_read(
    default_render: Rendered, tmp_path: Path
) -> None:
    """Any CLI error but "does not exist" (no access, no network) stops the deploy: the check
    never passes because it could not look."""
    cli = FakeDatabricks(tmp_path / "venv", fail="registered-models")
    branch = _own_branch(default_render, "prod")
    deployed, output = _deploy(default_render.path, "prod", cli, DEPLOY_BRANCH=branch)
    assert not deployed
    assert "cannot tell who owns the model of prod" in output


@pytest.mark.parametrize(
    ("answer_set", "target", "checked"),
    [
        (DEFAULT_ANSWERS, "dev", False),
        (DEFAULT_ANSWERS, "test", False),
        (SPS_ANSWERED, "staging", False),
        (SPS_ANSWERED, "prod", False),
        (STAGING_SP_ONLY, "staging", False),
        (STAGING_SP_ONLY, "prod", True),
    ],
    ids=["dev", "test", "sps-staging", "sps-prod", "staging-sp-staging", "staging-sp-prod"],
)
def test_bundle_deploy_checks_the_owner_only_where_no_service_principal_was_answered(
    render_answers: RenderFn, tmp_path: Path, answer_set: AnswerSet, target: str, checked: bool
) -> None:
    """A target with a service principal runs as it, whoever deploys; dev and test are not
    production targets. Neither asks the CLI anything before deploying."""
    rendered = render_answers(answer_set)
    models = {_registered_model(rendered.path, t): OTHER_OWNER for t in ("test", "staging", "prod")}
    cli = FakeDatabricks(tmp_path / "venv", models=models)
    branch = _own_branch(rendered, target)
    deployed, output = _deploy(rendered.path, target, cli, DEPLOY_BRANCH=branch)
    assert deployed is not checked, output
    if checked:
        assert f"is owned by {OTHER_OWNER}" in output
    else:
        assert cli.calls == [f"bundle deploy --target {target}"]


def _deploy_commands(rendered: Rendered, target: str) -> list[CiCommand]:
    return [
        command
        for command in ci_commands(rendered.path, platform_of(rendered))
        if command.argv[0] == "make"
        and "bundle-deploy" in MakeCall.parse(command.argv).goals
        and MakeCall.parse(command.argv).target == target
    ]


@pytest.mark.parametrize("target", ["staging", "prod"])
def test_ci_deploys_give_make_the_branch_they_build(
    ci_project: Rendered, tmp_path: Path, target: str
) -> None:
    """The deploy job passes its branch (the platform's own variable) to `make bundle-deploy`,
    which deploys from the target's branch and refuses the other branches."""
    chosen = platform_of(ci_project)
    expression, value = DEPLOY_BRANCH_FROM[chosen]
    own = ci_project.answers["default_branch" if target == "staging" else "release_branch"]
    other = ci_project.answers["release_branch" if target == "staging" else "default_branch"]
    (command,) = _deploy_commands(ci_project, target)
    assert dict(command.env).get("DEPLOY_BRANCH") == expression, command
    for branch, allowed in ((own, True), (other, False), (f"{own}-hotfix", False)):
        cli = FakeDatabricks(tmp_path / f"venv-{branch}".replace("/", "-"))
        deployed, output = _deploy(ci_project.path, target, cli, DEPLOY_BRANCH=value.format(branch))
        assert deployed is allowed, output


def test_every_platform_s_pull_request_path_runs_the_three_jobs(ci_project: Rendered) -> None:
    """The change-request job deploys to `test`, then runs training, batch inference and
    monitoring there (make stops at the first that fails), with the Makefile's own job list."""
    commands = ci_commands(ci_project.path, platform_of(ci_project))
    calls = [MakeCall.parse(c.argv) for c in commands if c.argv[0] == "make"]
    (run_call,) = [c for c in calls if "bundle-run" in c.goals]
    assert run_call.target == "test"
    assert "JOBS" not in dict(run_call.variables)
    test_goals = [goal for call in calls if call.target == "test" for goal in call.goals]
    assert test_goals.index("bundle-deploy") < test_goals.index("bundle-run")
    args = [*run_call.goals, *(f"{name}={value}" for name, value in run_call.variables)]
    result = run(["make", "-n", *args], cwd=ci_project.path, env=_make_env(), timeout=60)
    assert result.returncode == 0, result.report()
    assert _bundle_runs(result.output) == [
        f"databricks bundle run --target test {job}" for job in PULL_REQUEST_JOBS
    ]


@pytest.mark.parametrize("target", ["staging", "prod"])
def test_makefile_refuses_to_destroy_shared_targets(project: Rendered, target: str) -> None:
    result = run(
        ["make", "bundle-destroy", f"TARGET={target}"],
        cwd=project.path,
        env=user_env(),
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to destroy" in result.output


# --- The Databricks CLI installer ---------------------------------------------------------------


def _load_installer(project: Path) -> Any:
    import importlib.util

    path = project / "scripts" / "install_databricks_cli.py"
    spec = importlib.util.spec_from_file_location("install_databricks_cli", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_release(root: Path, version: str, name: str, *, tamper: bool = False) -> str:
    """A release directory laid out like GitHub's, with a stand-in binary; returns its URL."""
    release = root / f"v{version}"
    release.mkdir(parents=True)
    with zipfile.ZipFile(release / name, "w") as archive:
        archive.writestr("databricks", "#!/bin/sh\necho fake databricks\n")
        archive.writestr("README.md", "not extracted")
    digest = hashlib.sha256((release / name).read_bytes()).hexdigest()
    if tamper:
        digest = digest[::-1]
    (release / f"databricks_cli_{version}_SHA256SUMS").write_text(
        f"{'0' * 64}  databricks_cli_{version}_windows_arm64.zip\n{digest}  {name}\n"
    )
    return root.as_uri()


def test_cli_installer_checks_the_checksum_and_installs_the_binary(
    default_render: Rendered, tmp_path: Path
) -> None:
    installer = _load_installer(default_render.path)
    version = Makefile.read(default_render.path / "Makefile").variables["DATABRICKS_CLI_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    name = installer.archive_name(version, platform.system(), platform.machine())
    base_url = _fake_release(tmp_path / "releases", version, name)
    dest = tmp_path / "bin"
    result = run(
        [
            sys.executable,
            "scripts/install_databricks_cli.py",
            "--version",
            version,
            "--dest",
            dest,
            "--base-url",
            base_url,
        ],
        cwd=default_render.path,
        timeout=60,
    )
    assert result.returncode == 0, result.report()
    binary = dest / "databricks"
    assert binary.read_text() == "#!/bin/sh\necho fake databricks\n"
    assert binary.stat().st_mode & stat.S_IXUSR
    assert sorted(p.name for p in dest.iterdir()) == ["databricks"]


def test_cli_installer_refuses_an_archive_that_does_not_match(
    default_render: Rendered, tmp_path: Path
) -> None:
    installer = _load_installer(default_render.path)
    name = installer.archive_name("9.9.9", platform.system(), platform.machine())
    base_url = _fake_release(tmp_path / "releases", "9.9.9", name, tamper=True)
    dest = tmp_path / "bin"
    result = run(
        [
            sys.executable,
            "scripts/install_databricks_cli.py",
            "--version",
            "9.9.9",
            "--dest",
            dest,
            "--base-url",
            base_url,
        ],
        cwd=default_render.path,
        timeout=60,
    )
    assert result.returncode != 0
    assert "does not match" in result.output
    assert not dest.exists()


# --- GitHub Actions -----------------------------------------------------------------------------


def _github(rendered: Rendered) -> dict[str, Any]:
    assert platform_of(rendered) == "github_actions"
    return ci_document(rendered)


def _databricks_jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if job.get("env", {}).get("DATABRICKS_AUTH_TYPE")
    }


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    return workflow.get("on", workflow.get(True))


def test_github_actions_are_pinned_to_commits(github_project: Rendered) -> None:
    _github(github_project)
    text = (github_project.path / CI_FILES["github_actions"][0]).read_text(encoding="utf-8")
    assert action_references(text)
    assert unpinned_actions(text) == []


def test_github_permissions_are_least_privilege(github_project: Rendered) -> None:
    workflow = _github(github_project)
    assert workflow["permissions"] == {}
    oidc_jobs = _databricks_jobs(workflow)
    for name, job in workflow["jobs"].items():
        expected = {"contents": "read"}
        if name in oidc_jobs:
            expected["id-token"] = "write"
        assert job["permissions"] == expected, name
    for name, job in oidc_jobs.items():
        assert job["env"]["DATABRICKS_AUTH_TYPE"] == "github-oidc", name
        assert job["environment"] in {"test", "staging", "prod"}, name
        assert all(
            step.get("with", {}).get("persist-credentials") is False
            for step in job["steps"]
            if "actions/checkout@" in step.get("uses", "")
        ), name


def _job_running(workflow: dict[str, Any], goal: str, target: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (name, job)
        for name, job in workflow["jobs"].items()
        if any(f"make {goal} TARGET={target}" == step.get("run") for step in job.get("steps", []))
    ]
    return found


def test_github_flow_and_gates(github_project: Rendered) -> None:
    workflow = _github(github_project)
    answers = github_project.answers
    branches = [answers["default_branch"], answers["release_branch"]]
    triggers = _triggers(workflow)
    assert triggers["pull_request"]["branches"] == branches
    assert triggers["push"]["branches"] == branches

    _, integration = _job_running(workflow, "bundle-run", "test")
    assert integration["environment"] == "test"
    assert "github.event_name == 'pull_request'" in integration["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in integration["if"]
    destroy = [s for s in integration["steps"] if s.get("run") == "make bundle-destroy TARGET=test"]
    assert len(destroy) == 1 and "always()" in destroy[0]["if"]
    runs = [s.get("run") for s in integration["steps"]]
    assert runs.index("make bundle-deploy TARGET=test") < runs.index(
        "make bundle-destroy TARGET=test"
    )

    _, staging = _job_running(workflow, "bundle-deploy", "staging")
    assert staging["environment"] == "staging"
    assert f"github.ref == 'refs/heads/{answers['default_branch']}'" in staging["if"]
    _, prod = _job_running(workflow, "bundle-deploy", "prod")
    assert prod["environment"] == "prod"
    assert f"github.ref == 'refs/heads/{answers['release_branch']}'" in prod["if"]
    assert "github.event_name == 'push'" in prod["if"]
    for job in (integration, staging, prod):
        assert job["needs"] == "checks"
        assert job["concurrency"]["cancel-in-progress"] is False


def test_github_queues_every_pull_request_s_run_on_the_test_target(
    github_project: Rendered,
) -> None:
    """One run at a time on the shared `test` target, across all pull requests; the others wait
    (`queue: max`: by default a newer pending run cancels the one waiting) and nothing cancels a
    run that has started. Only the cheap checks give way to a newer push."""
    workflow = _github(github_project)
    name, integration = _job_running(workflow, "bundle-run", "test")
    concurrency = integration["concurrency"]
    assert "${{" not in concurrency["group"], "the group must be the same for every pull request"
    assert concurrency["cancel-in-progress"] is False
    assert concurrency.get("queue") == "max"
    groups = [
        job["concurrency"]["group"]
        for other, job in workflow["jobs"].items()
        if other != name and "concurrency" in job
    ]
    assert concurrency["group"] not in groups
    # A workflow-level group would cancel the whole run, the Databricks job included.
    assert workflow.get("concurrency", {}).get("cancel-in-progress", False) is False
    checks = workflow["jobs"]["checks"]["concurrency"]
    assert "${{ github.ref }}" in checks["group"]
    assert checks["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_github_deploys_only_from_their_branch(github_project: Rendered) -> None:
    workflow = _github(github_project)
    answers = github_project.answers
    for target, branch in (
        ("staging", answers["default_branch"]),
        ("prod", answers["release_branch"]),
    ):
        _, job = _job_running(workflow, "bundle-deploy", target)
        assert job["if"] == (
            f"github.event_name == 'push' && github.ref == 'refs/heads/{branch}'"
        ), target
        assert job["env"]["DEPLOY_BRANCH"] == "${{ github.ref }}", target


def test_github_uses_the_answered_workspaces_and_principals(github_project: Rendered) -> None:
    workflow = _github(github_project)
    answers = github_project.answers
    staging_host = _host(answers["staging_workspace_url"])
    prod_host = _host(answers["prod_workspace_url"])
    for target, host, principal in (
        ("test", staging_host, answers["staging_service_principal"]),
        ("staging", staging_host, answers["staging_service_principal"]),
        ("prod", prod_host, answers["prod_service_principal"]),
    ):
        goal = "bundle-run" if target == "test" else "bundle-deploy"
        _, job = _job_running(workflow, goal, target)
        env = job["env"]
        assert env["DATABRICKS_HOST"] == (host or "${{ vars.DATABRICKS_HOST }}")
        assert env["DATABRICKS_CLIENT_ID"] == (principal or "${{ vars.DATABRICKS_CLIENT_ID }}")


def test_github_checks_run_on_the_answered_python_with_java_17(github_project: Rendered) -> None:
    workflow = _github(github_project)
    steps = workflow["jobs"]["checks"]["steps"]
    python = [s["with"]["python-version"] for s in steps if "setup-python@" in s.get("uses", "")]
    java = [s["with"]["java-version"] for s in steps if "setup-java@" in s.get("uses", "")]
    assert python == [github_project.answers["python_version"]]
    assert java == ["17"]


def _host(url: str) -> str:
    match = re.match(r"^(https://[^/?#]+)", url.strip(), re.IGNORECASE)
    return match.group(1).lower() if match else ""


# --- GitLab CI/CD -------------------------------------------------------------------------------


def _gitlab(rendered: Rendered) -> dict[str, dict[str, Any]]:
    assert platform_of(rendered) == "gitlab"
    return gitlab_jobs(ci_document(rendered))


def _gitlab_job_running(jobs: dict[str, dict[str, Any]], line: str) -> dict[str, Any]:
    (job,) = [j for name, j in jobs.items() if not name.startswith(".") and line in j["script"]]
    return job


def test_gitlab_flow_gates_and_identity(gitlab_project: Rendered) -> None:
    jobs = _gitlab(gitlab_project)
    answers = gitlab_project.answers
    config = ci_document(gitlab_project)
    assert config["default"]["image"] == f"python:{answers['python_version']}-bookworm"

    integration = _gitlab_job_running(jobs, "make bundle-run TARGET=test")
    (rule,) = integration["rules"]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in rule["if"]
    assert "$CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID" in rule["if"]
    assert integration["after_script"] == ["make bundle-destroy TARGET=test"]
    assert integration["environment"]["name"] == "test"
    assert integration["resource_group"] == "databricks-test"

    staging = _gitlab_job_running(jobs, "make bundle-deploy TARGET=staging")
    prod = _gitlab_job_running(jobs, "make bundle-deploy TARGET=prod")
    assert f'$CI_COMMIT_BRANCH == "{answers["default_branch"]}"' in staging["rules"][0]["if"]
    assert f'$CI_COMMIT_BRANCH == "{answers["release_branch"]}"' in prod["rules"][0]["if"]
    assert (staging["environment"]["name"], prod["environment"]["name"]) == ("staging", "prod")
    assert prod["environment"]["deployment_tier"] == "production"

    staging_host = _host(answers["staging_workspace_url"])
    prod_host = _host(answers["prod_workspace_url"])
    for job, host, principal in (
        (integration, staging_host, answers["staging_service_principal"]),
        (staging, staging_host, answers["staging_service_principal"]),
        (prod, prod_host, answers["prod_service_principal"]),
    ):
        variables = job["variables"]
        assert variables["DATABRICKS_AUTH_TYPE"] == "env-oidc"
        assert job["id_tokens"] == {"DATABRICKS_OIDC_TOKEN": {"aud": "$DATABRICKS_HOST"}}
        # Unanswered, they come from CI/CD variables scoped to the environment.
        assert variables.get("DATABRICKS_HOST") == (host or None)
        assert variables.get("DATABRICKS_CLIENT_ID") == (principal or None)


def test_gitlab_deploys_only_from_their_branch(gitlab_project: Rendered) -> None:
    """The runner checks out a detached HEAD, where the Databricks CLI skips its branch check:
    one rule per deploy job, on its branch and pushes only, never a manual job, and the job
    gives `make bundle-deploy` the branch to check (test_ci_deploys_give_make_the_branch_...)."""
    jobs = _gitlab(gitlab_project)
    answers = gitlab_project.answers
    for target, branch in (
        ("staging", answers["default_branch"]),
        ("prod", answers["release_branch"]),
    ):
        job = _gitlab_job_running(jobs, f"make bundle-deploy TARGET={target}")
        (rule,) = job["rules"]
        assert rule == {
            "if": f'$CI_COMMIT_BRANCH == "{branch}" && $CI_PIPELINE_SOURCE == "push"'
        }, target
        assert "when" not in job, target
        assert job["variables"]["DEPLOY_BRANCH"] == "$CI_COMMIT_BRANCH", target


# --- Azure DevOps -------------------------------------------------------------------------------


def _azure(rendered: Rendered) -> dict[str, Any]:
    assert platform_of(rendered) == "azure_devops"
    return ci_document(rendered)


def _azure_cli_tasks(pipeline: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The AzureCLI@2 tasks of each stage."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for stage_name, _stage, job in azure_jobs(pipeline):
        for step in azure_steps(job):
            if str(step.get("task", "")).startswith("AzureCLI@"):
                tasks.setdefault(stage_name, []).append(step)
    return tasks


def test_azure_devops_flow_gates_and_identity(azure_project: Rendered) -> None:
    pipeline = _azure(azure_project)
    answers = azure_project.answers
    branches = [answers["default_branch"], answers["release_branch"]]
    assert pipeline["trigger"]["branches"]["include"] == branches
    assert pipeline["pr"]["branches"]["include"] == branches
    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    jobs = {name: job for name, _stage, job in azure_jobs(pipeline)}

    assert (
        "eq(variables['System.PullRequest.IsFork'], 'False')"
        in stages["databricks_integration"]["condition"]
    )
    assert "refs/heads/" + answers["default_branch"] in stages["deploy_staging"]["condition"]
    assert "refs/heads/" + answers["release_branch"] in stages["deploy_prod"]["condition"]
    assert [
        jobs[s]["environment"] for s in ("databricks_integration", "deploy_staging", "deploy_prod")
    ] == ["test", "staging", "prod"]

    slug = azure_project.slug
    staging_host = _host(answers["staging_workspace_url"])
    prod_host = _host(answers["prod_workspace_url"])
    identity = {
        "databricks_integration": (
            f"{slug}-staging",
            staging_host,
            "STAGING",
            answers["staging_service_principal"],
        ),
        "deploy_staging": (
            f"{slug}-staging",
            staging_host,
            "STAGING",
            answers["staging_service_principal"],
        ),
        "deploy_prod": (f"{slug}-prod", prod_host, "PROD", answers["prod_service_principal"]),
    }
    tasks = _azure_cli_tasks(pipeline)
    assert set(tasks) == set(identity)
    for stage, (connection, host, prefix, principal) in identity.items():
        for task in tasks[stage]:
            env = task["env"]
            assert task["inputs"]["azureSubscription"] == connection
            assert env["DATABRICKS_HOST"] == (host or f"$({prefix}_DATABRICKS_HOST)")
            if answers["cloud"] == "azure":
                assert env == {
                    "DATABRICKS_AUTH_TYPE": "azure-cli",
                    "DATABRICKS_HOST": env["DATABRICKS_HOST"],
                    "DEPLOY_BRANCH": "$(Build.SourceBranch)",
                }
                assert "addSpnToEnvironment" not in task["inputs"]
            else:
                assert env["DATABRICKS_AUTH_TYPE"] == "env-oidc"
                assert env["DATABRICKS_OIDC_TOKEN_ENV"] == "idToken"
                assert task["inputs"]["addSpnToEnvironment"] is True
                expected = principal or f"$({prefix}_DATABRICKS_CLIENT_ID)"
                assert env["DATABRICKS_CLIENT_ID"] == expected

    (destroy,) = [
        t
        for t in tasks["databricks_integration"]
        if "bundle-destroy" in t["inputs"]["inlineScript"]
    ]
    assert destroy["condition"] == "always()"


def test_azure_devops_deploys_only_from_their_branch(azure_project: Rendered) -> None:
    """The agent checks out a detached HEAD, where the Databricks CLI skips its branch check:
    the stage runs for its branch only, not for pull requests, and every task gives
    `make bundle-deploy` the branch to check (test_ci_deploys_give_make_the_branch_...)."""
    pipeline = _azure(azure_project)
    answers = azure_project.answers
    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    for stage, branch in (
        ("deploy_staging", answers["default_branch"]),
        ("deploy_prod", answers["release_branch"]),
    ):
        condition = " ".join(stages[stage]["condition"].split())
        assert condition == (
            "and(succeeded(), ne(variables['Build.Reason'], 'PullRequest'),"
            f" eq(variables['Build.SourceBranch'], 'refs/heads/{branch}'))"
        ), stage
        for task in _azure_cli_tasks(pipeline)[stage]:
            assert task["env"]["DEPLOY_BRANCH"] == "$(Build.SourceBranch)", stage


def test_azure_devops_uses_the_answered_python_with_java_17(azure_project: Rendered) -> None:
    pipeline = _azure(azure_project)
    for _name, _stage, job in azure_jobs(pipeline):
        steps = azure_steps(job)
        python = [
            s["inputs"]["versionSpec"] for s in steps if s.get("task") == "UsePythonVersion@0"
        ]
        assert python == [azure_project.answers["python_version"]]
    checks = next(job for name, _s, job in azure_jobs(pipeline) if name == "checks")
    java = [
        s["inputs"]["versionSpec"]
        for s in checks["steps"]
        if s.get("task") == "JavaToolInstaller@0"
    ]
    assert java == ["17"]


# --- The template update job: releases only ----------------------------------------------------


def _update_jobs(rendered: Rendered) -> dict[tuple[str, str], list[str]]:
    """The command lines of every CI job that runs copier's update commands, by (file, job)."""
    chosen = platform_of(rendered)
    if chosen == "none":
        return {}
    jobs: dict[tuple[str, str], list[str]] = {}
    for rel in ci_files(rendered.path, chosen):
        for command in file_commands(rendered.path, chosen, rel):
            jobs.setdefault((rel, command.job), []).append(command.line)
    return {
        key: lines
        for key, lines in jobs.items()
        if any(update in line for line in lines for update in COPIER_UPDATE_COMMANDS)
    }


def test_update_jobs_check_for_a_release_tag_before_copier_runs(project: Rendered) -> None:
    """Without a release tag copier proposes the template's latest commit, so every job that runs
    `copier check-update` or `copier update` first lists the template's tags, and never picks
    a ref of its own (copier's default is the newest release tag). Platforms without such a job
    tell their teams to check the same in the pipeline they schedule."""
    chosen = platform_of(project)
    jobs = _update_jobs(project)
    assert {rel for rel, _ in jobs} == set(UPDATE_JOB_FILES[chosen])
    for (rel, job), lines in jobs.items():
        first_copier = next(
            index
            for index, line in enumerate(lines)
            if any(update in line for update in COPIER_UPDATE_COMMANDS)
        )
        assert any(RELEASE_TAGS_CHECK in line for line in lines[:first_copier]), (
            f"{rel}: job {job} runs copier before checking that the template has a release tag"
        )
        assert not [line for line in lines if "copier" in line and "--vcs-ref" in line], (
            f"{rel}: job {job} picks the template ref itself"
        )
    guide = (project.path / "docs" / "updating.md").read_text(encoding="utf-8")
    assert "never to commits made to the template" in guide
    if chosen in {"gitlab", "azure_devops"}:
        assert RELEASE_TAGS_CHECK in guide
    if jobs:
        assert "The job proposes tagged releases only." in guide


def _release_check_script(rendered: Rendered) -> str:
    """The step of the GitHub update workflow that checks the template's release tags."""
    (rel,) = UPDATE_JOB_FILES["github_actions"]
    workflow = load_yaml(rendered.path / rel)
    (script,) = [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if RELEASE_TAGS_CHECK in step.get("run", "")
    ]
    return script


def _answers_with_source(rendered: Rendered, src_path: str) -> str:
    """The render's own answers file, with `_src_path` written as given (quoted or not)."""
    lines = (rendered.path / ANSWERS_FILE).read_text(encoding="utf-8").splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith("_src_path:")]
    lines[index] = f"_src_path: {src_path}"
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("template_tags", "src_path", "found"),
    [
        ((), "{template}", "The template '{template}' has no release yet (no tag vX.Y.Z)"),
        (("nightly", "v1"), "{template}", "has no release yet"),
        (("v0.1.0",), "{template}", "The template's newest release is v0.1.0."),
        (("v0.9.0", "v0.10.0"), "'{template}'", "The template's newest release is v0.10.0."),
        (("v0.1.0",), "gh:example-org/ml-template", "newest release is v0.1.0"),
        ((), "gh:example-org/ml-template", "has no release yet"),
        (("v0.1.0",), "{template}-moved", "Cannot list the tags of the template repository"),
    ],
    ids=[
        "no-tags",
        "no-release-tags",
        "released",
        "quoted-numeric-order",
        "gh-shorthand-released",
        "gh-shorthand-unreleased",
        "unreadable",
    ],
)
def test_github_update_job_refuses_a_template_without_releases(
    default_render: Rendered,
    tmp_path: Path,
    template_tags: tuple[str, ...],
    src_path: str,
    found: str,
) -> None:
    """The check runs as the job's shell runs it, on the project's answers file, against a local
    template repository (the `gh:` shorthand reaches it through git's url.insteadOf)."""
    assert platform_of(default_render) == "github_actions"
    template = tmp_path / "template"
    template.mkdir()
    git(template, "init", "--quiet")
    commit_all(template, "The template")
    for tag in template_tags:
        git(template, "tag", tag)
    workdir = tmp_path / "project"
    workdir.mkdir()
    answers = _answers_with_source(default_render, src_path.format(template=template))
    (workdir / ANSWERS_FILE).write_text(answers, encoding="utf-8")
    script = tmp_path / "step.sh"
    script.write_text(_release_check_script(default_render), encoding="utf-8")
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{template}.insteadOf",
        "GIT_CONFIG_VALUE_0": "https://github.com/example-org/ml-template",
    }

    # GitHub runs `run:` steps with `bash --noprofile --norc -eo pipefail {0}`.
    result = run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
        cwd=workdir,
        env=env,
        timeout=60,
    )

    assert found.format(template=template) in result.output, result.report()
    released = "newest release" in found
    assert (result.returncode == 0) == released, result.report()
    if not released:
        assert "::error::" in result.output


# --- Adding CI later ----------------------------------------------------------------------------


def test_adding_ci_later_with_copier_update_matches_a_fresh_render(tmp_path: Path) -> None:
    """A project generated without CI, updated with `--data cicd_platform=github_actions` at the
    same template release, equals a fresh render with that answer."""
    template = snapshot_template(tmp_path / "template")
    commit_all(template, "Template release")
    git(template, "tag", "v1")

    project = start_project(template, tmp_path / "project", "v1", {"cicd_platform": "none"})
    assert not any((project / location).exists() for location in CI_LOCATIONS)
    update_project(project, "v1", {"cicd_platform": "github_actions"})
    fresh = tmp_path / "fresh"
    copy_project(template, fresh, "v1", {"cicd_platform": "github_actions"})

    updated, expected = project_tree(project), project_tree(fresh)
    assert sorted(updated) == sorted(expected)
    assert [rel for rel in expected if updated[rel] != expected[rel]] == []
    assert CI_FILES["github_actions"][0] in updated
    assert "cicd_platform: github_actions" in (project / ANSWERS_FILE).read_text(encoding="utf-8")


# --- The CI's local lint step, for real ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer_set",
    [pytest.param(DEFAULT_ANSWERS, id=DEFAULT_ANSWERS.id, marks=on_its_worker(DEFAULT_ANSWERS))],
)
def test_ci_lint_step_passes_on_a_rendered_project(
    answer_set: AnswerSet, installed: InstallFn
) -> None:
    """`make lint` as CI runs it: the project's pre-commit hooks from its own venv, on a fresh,
    committed render. (The project's own tests run in test_generated_project.py, on the same
    installed project.)"""
    project = installed(answer_set)
    env = user_env()
    # No stray tools: make must find pre-commit, ruff and the hooks in the project's venv.
    env["PATH"] = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])
    result = run(["make", "lint"], cwd=project.path, env=env, timeout=900)
    assert result.returncode == 0, result.report()
    assert "Passed" in result.output and "Failed" not in result.output
