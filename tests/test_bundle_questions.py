"""The Databricks questions: bad answers are refused with a message saying what is allowed, pasted
workspace URLs are cleaned into hosts, and derived values follow the cloud and Python answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support import ANSWERS_FILE, Invalid, render

AWS = "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com"
AZURE = "https://adb-1234567890123456.7.azuredatabricks.net"
GCP = "https://1234567890123456.7.gcp.databricks.com"
UUID = "01234567-89ab-cdef-0123-456789abcdef"


def not_a_uuid(label: str, value: str) -> str:
    return (
        f"The {label} must be the service principal's application ID, a UUID such as "
        f'01234567-89ab-cdef-0123-456789abcdef, or empty (got "{value}").'
    )


BRANCH_RULES = '(no leading "-", "/" or ".", no trailing "/" or ".", no "..", "//" or ".lock").'

INVALID_ANSWERS: tuple[Invalid, ...] = (
    Invalid("cloud-unknown", {"cloud": "oracle"}, "cloud", "Invalid choice for 'cloud'"),
    Invalid(
        "url-http",
        {"staging_workspace_url": "http://dbc-1.cloud.databricks.com"},
        "staging_workspace_url",
        'The staging workspace URL must start with https:// (got "http://dbc-1.cloud.databricks.com").',
    ),
    Invalid(
        "url-no-scheme",
        {"prod_workspace_url": "dbc-1.cloud.databricks.com"},
        "prod_workspace_url",
        'The prod workspace URL must start with https:// (got "dbc-1.cloud.databricks.com").',
    ),
    Invalid(
        "url-not-databricks",
        {"prod_workspace_url": "https://example.com/?o=1"},
        "prod_workspace_url",
        "The prod workspace URL must be a Databricks workspace on AWS: its host ends in "
        ".cloud.databricks.com or .cloud.databricks.us or .cloud.databricks.mil "
        '(got "https://example.com/?o=1").',
    ),
    Invalid(
        "url-suffix-lookalike",
        {"staging_workspace_url": "https://cloud.databricks.com.example.net"},
        "staging_workspace_url",
        "The staging workspace URL must be a Databricks workspace on AWS",
    ),
    Invalid(
        "url-other-cloud",
        {"cloud": "gcp", "staging_workspace_url": AZURE},
        "staging_workspace_url",
        f'The staging workspace URL "{AZURE}" is a workspace on Azure, but the cloud answer is '
        "Google Cloud; answer cloud=azure, or give a workspace on Google Cloud.",
    ),
    Invalid(
        "url-account-console",
        {"cloud": "azure", "prod_workspace_url": "https://accounts.azuredatabricks.net/"},
        "prod_workspace_url",
        'The prod workspace URL "https://accounts.azuredatabricks.net/" is the account console, '
        "not a workspace; open the workspace and copy its URL.",
    ),
    Invalid(
        "url-port",
        {"staging_workspace_url": "https://dbc-1.cloud.databricks.com:8443/"},
        "staging_workspace_url",
        "The staging workspace URL must be https:// followed by a host name, without user name "
        'or port (got "https://dbc-1.cloud.databricks.com:8443/").',
    ),
    Invalid("group-empty", {"read_group": ""}, "read_group", "The read group must not be empty."),
    Invalid(
        "group-quote",
        {"read_group": 'data "scientists"'},
        "read_group",
        "The read group must start with a letter or digit and contain only letters, digits, "
        'spaces and . _ @ + - (got "data "scientists"").',
    ),
    Invalid(
        "group-reference",
        {"read_group": "${var.group}"},
        "read_group",
        "The read group must start with a letter or digit",
    ),
    Invalid(
        "sp-not-uuid",
        {"staging_service_principal": "ml-deployer"},
        "staging_service_principal",
        not_a_uuid("staging service principal", "ml-deployer"),
    ),
    Invalid(
        "sp-uuid-with-braces",
        {"prod_service_principal": "{" + UUID + "}"},
        "prod_service_principal",
        not_a_uuid("prod service principal", "{" + UUID + "}"),
    ),
    Invalid("compute-unknown", {"compute": "gpu"}, "compute", "Invalid choice for 'compute'"),
    Invalid(
        "node-type-space",
        {"compute": "classic", "cluster_node_type": "i3 xlarge"},
        "cluster_node_type",
        'The node type must be a node type ID such as i3.xlarge (got "i3 xlarge").',
    ),
    Invalid(
        "branch-empty",
        {"default_branch": ""},
        "default_branch",
        "The default branch must not be empty.",
    ),
    Invalid(
        "branch-space",
        {"default_branch": "my branch"},
        "default_branch",
        'The default branch may contain only letters, digits, ".", "_", "-" and "/" '
        '(got "my branch").',
    ),
    Invalid(
        "branch-dotdot",
        {"release_branch": "release..1"},
        "release_branch",
        f'The release branch "release..1" is not a valid git branch name {BRANCH_RULES}',
    ),
    Invalid(
        "branch-leading-dash",
        {"default_branch": "-main"},
        "default_branch",
        f'The default branch "-main" is not a valid git branch name {BRANCH_RULES}',
    ),
    Invalid(
        "branch-lock",
        {"release_branch": "release.lock"},
        "release_branch",
        f'The release branch "release.lock" is not a valid git branch name {BRANCH_RULES}',
    ),
    Invalid(
        "release-is-default",
        {"default_branch": "trunk", "release_branch": "trunk"},
        "release_branch",
        'The release branch must differ from the default branch ("trunk"): prod deploys only '
        "what was released.",
    ),
)


@pytest.mark.parametrize("case", INVALID_ANSWERS, ids=[c.id for c in INVALID_ANSWERS])
def test_invalid_answer_is_refused_with_its_message(case: Invalid, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as error:
        render(tmp_path / "project", case.data)
    assert case.message in str(error.value)
    if not case.message.startswith("Invalid choice"):
        assert f"Validation error for question '{case.question}': " in str(error.value)
    assert not (tmp_path / "project").exists(), "a refused answer must not leave files behind"


def _hosts(project: Path) -> dict[str, str | None]:
    targets = yaml.safe_load((project / "databricks.yml").read_text(encoding="utf-8"))["targets"]
    return {name: (t.get("workspace") or {}).get("host") for name, t in targets.items()}


@pytest.mark.parametrize(
    ("cloud", "pasted", "host"),
    [
        ("aws", f"{AWS}/?o=1234567890123456", AWS),
        ("aws", f"  {AWS}/browse/folders/42?o=7#x  ", AWS),
        ("aws", "HTTPS://DBC-A1B2C3D4-E5F6.Cloud.Databricks.com/", AWS),
        ("aws", "https://dbc-1.cloud.databricks.us", "https://dbc-1.cloud.databricks.us"),
        ("azure", f"{AZURE}/?o=1234567890123456#job/12/run/3", AZURE),
        ("azure", "https://adb-1.2.databricks.azure.cn", "https://adb-1.2.databricks.azure.cn"),
        ("gcp", f"{GCP}/#workspace", GCP),
    ],
)
def test_pasted_workspace_url_becomes_the_host(
    cloud: str, pasted: str, host: str, tmp_path: Path
) -> None:
    data = {"cloud": cloud, "staging_workspace_url": pasted, "prod_workspace_url": pasted}
    rendered = render(tmp_path / "project", data)
    assert _hosts(rendered.path) == {"dev": None, "test": host, "staging": host, "prod": host}
    # The answer is recorded as given, so that `copier update` asks nothing new.
    recorded = yaml.safe_load((rendered.path / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert recorded["staging_workspace_url"] == pasted


def test_defaults(tmp_path: Path) -> None:
    answers = render(tmp_path / "project", {}, pretend=True).answers
    assert {
        key: answers[key]
        for key in (
            "cloud", "staging_workspace_url", "prod_workspace_url", "read_group",
            "staging_service_principal", "prod_service_principal", "compute",
            "default_branch", "release_branch",
        )
    } == {
        "cloud": "aws",
        "staging_workspace_url": "",
        "prod_workspace_url": "",
        "read_group": "data-scientists",
        "staging_service_principal": "",
        "prod_service_principal": "",
        "compute": "serverless",
        "default_branch": "main",
        "release_branch": "release",
    }  # fmt: skip
    # Only classic compute asks for a node type.
    assert "cluster_node_type" not in answers


@pytest.mark.parametrize(
    ("cloud", "node_type"),
    [("aws", "i3.xlarge"), ("azure", "Standard_D4ds_v5"), ("gcp", "n2-standard-4")],
)
def test_classic_compute_defaults_to_a_node_type_of_the_cloud(
    cloud: str, node_type: str, tmp_path: Path
) -> None:
    answers = render(tmp_path / "p", {"cloud": cloud, "compute": "classic"}, pretend=True).answers
    assert answers["cluster_node_type"] == node_type


@pytest.mark.parametrize(
    ("python_version", "environment", "runtime"),
    [("3.11", "2", "15.4.x-cpu-ml-scala2.12"), ("3.12", "5", "17.3.x-cpu-ml-scala2.13")],
)
def test_python_version_picks_serverless_environment_and_runtime(
    python_version: str, environment: str, runtime: str, tmp_path: Path
) -> None:
    serverless = render(tmp_path / "s", {"python_version": python_version})
    job = (serverless.path / "resources" / "model_training_job.yml").read_text(encoding="utf-8")
    assert f'environment_version: "{environment}"' in job

    classic = render(tmp_path / "c", {"python_version": python_version, "compute": "classic"})
    job = (classic.path / "resources" / "model_training_job.yml").read_text(encoding="utf-8")
    assert re.search(rf"spark_version: {re.escape(runtime)}\n", job)
