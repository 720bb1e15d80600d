"""The CI/CD each `cicd_platform` answer renders: valid for its platform, secure, wired to the
project's own Makefile targets, and addable later with `copier update`.

- GitHub workflows pass the GitHub workflow schema and `zizmor --offline` without findings;
  GitLab and Azure DevOps pipelines pass their platforms' schemas;
- every command a job runs is a Makefile target (or, on GitLab, preparing the runner image), each
  target's recipe runs only what the project provides, and `make -n` accepts every call;
- the flow is the same everywhere: checks on every change request, the training job on the
  `test` target for same-repository change requests with a destroy that always runs, staging from
  the default branch, prod from the release branch behind an approval; authentication by
  workload identity federation, with the answered hosts and service principals;
- `none` renders no CI at all, and `copier update --data cicd_platform=...` adds exactly what a
  fresh render has;
- the CI's lint step passes on a rendered, installed project (slow).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bundle_checks import load_bundle
from cicd_checks import (
    CI_FILES,
    CI_LOCATIONS,
    PLATFORMS,
    RUNNER_SETUP,
    SCHEMAS,
    MakeCall,
    Makefile,
    azure_jobs,
    azure_steps,
    ci_commands,
    console_scripts,
    dev_distributions,
    gitlab_jobs,
    load_yaml,
    make_calls,
)
from conftest import RenderFn
from support import (
    ANSWER_SETS,
    ANSWERS_FILE,
    TOOLS_BIN,
    AnswerSet,
    Rendered,
    git_commit_all,
    install_project,
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
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


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
        [TOOLS_BIN / "zizmor", "--offline", "--no-progress", "--color", "never", ".github"],
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
        elif program in {"grep", "case"}:
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


def test_makefile_runs_the_training_job_of_the_bundle(project: Rendered) -> None:
    recipe = " ".join(Makefile.read(project.path / "Makefile").targets["bundle-run"])
    jobs = load_bundle(project.path).config["resources"]["jobs"]
    assert any(re.search(rf"\b{re.escape(job)}\b", recipe) for job in jobs), recipe
    assert "model_training_job" in recipe


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
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for action, rest in uses:
        assert SHA_PIN.match(action), f"{action} is not pinned to a full commit SHA"
        assert re.match(r"\s+# v\d+(\.\d+)*$", rest), f"{action}: say which release it is"


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
def test_ci_lint_step_passes_on_a_rendered_project(tmp_path: Path) -> None:
    """`make lint` as CI runs it: the project's pre-commit hooks from its own venv, on a fresh,
    committed render. (The project's own tests run in test_generated_project.py.)"""
    from support import render

    rendered = render(tmp_path / "project", {})
    git_commit_all(rendered.path, "Start from the template", echo=False)
    project = install_project(rendered, echo=False)
    env = user_env()
    # No stray tools: make must find pre-commit, ruff and the hooks in the project's venv.
    env["PATH"] = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])
    result = run(["make", "lint"], cwd=project.path, env=env, timeout=900)
    assert result.returncode == 0, result.report()
    assert "Passed" in result.output and "Failed" not in result.output
