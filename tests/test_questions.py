"""The questions: bad answers are refused with a message that says what is allowed, good edge
cases are accepted, and derived defaults are what a user expects.

Answers are passed as `data` with `defaults=True`, exactly as `copier copy --data ... --defaults`
does; nothing is written (`pretend=True`) except where a test says so.
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path

import pytest
from support import Invalid, is_python_identifier_safe, render
from template_repo import copier_config, name_list

NAME_CHARS = (
    "The project name must start with a letter and contain only letters, digits, spaces, "
    "hyphens and underscores."
)
SLUG_FORMAT = (
    "The slug must be lowercase letters and digits separated by single hyphens, starting with a "
    "letter (e.g. customer-churn)."
)
PACKAGE_FORMAT = (
    "The package name must be lowercase letters, digits and underscores, starting with a letter "
    "(e.g. customer_churn)."
)
AUTHOR_FORMAT = "The author name must be one line without double quotes or backslashes."


def reserved(name: str) -> str:
    return (
        f'"{name}" is a Python keyword or the name of a module the project imports; '
        "choose another package name."
    )


def standard_module(name: str) -> str:
    return (
        f'"{name}" is a module of Python\'s standard library: `import {name}` would find one '
        "of the two and not the other; choose another package name."
    )


def slug_keyword(slug: str) -> str:
    return (
        f'The slug "{slug}" is a Python keyword: Databricks jobs import the wheel by that name; '
        "choose another slug."
    )


def email_format(value: str) -> str:
    return f'The email must look like name@example.com (got "{value}").'


def uc_identifier(label: str, value: str) -> str:
    return (
        f"The {label} must be a Unity Catalog identifier: lowercase letters, digits and "
        f'underscores, not starting with a digit (got "{value}").'
    )


INVALID_ANSWERS: tuple[Invalid, ...] = (
    Invalid(
        "empty-name", {"project_name": ""}, "project_name", "The project name must not be empty."
    ),
    Invalid(
        "blank-name", {"project_name": "   "}, "project_name", "The project name must not be empty."
    ),
    Invalid(
        "name-surrounding-spaces",
        {"project_name": " Churn"},
        "project_name",
        "The project name must not start or end with spaces.",
    ),
    Invalid(
        "long-name",
        {"project_name": "N" * 61},
        "project_name",
        "The project name must be at most 60 characters.",
    ),
    Invalid("name-leading-digit", {"project_name": "2 Fast Churn"}, "project_name", NAME_CHARS),
    Invalid("name-slash", {"project_name": "team/churn"}, "project_name", NAME_CHARS),
    Invalid("name-backslash", {"project_name": "team\\churn"}, "project_name", NAME_CHARS),
    Invalid("name-dot-dot", {"project_name": "..churn"}, "project_name", NAME_CHARS),
    Invalid("name-punctuation", {"project_name": "Churn!"}, "project_name", NAME_CHARS),
    Invalid("slug-uppercase", {"project_slug": "Customer-Churn"}, "project_slug", SLUG_FORMAT),
    Invalid("slug-double-hyphen", {"project_slug": "customer--churn"}, "project_slug", SLUG_FORMAT),
    Invalid("slug-trailing-hyphen", {"project_slug": "churn-"}, "project_slug", SLUG_FORMAT),
    Invalid("slug-path", {"project_slug": "../churn"}, "project_slug", SLUG_FORMAT),
    Invalid("slug-leading-digit", {"project_slug": "2-fast"}, "project_slug", SLUG_FORMAT),
    Invalid(
        "slug-long",
        {"project_slug": "s" * 61},
        "project_slug",
        "The slug must be at most 60 characters.",
    ),
    # The jobs' launcher writes `import <slug with underscores>`: a keyword there cannot compile.
    Invalid(
        "slug-keyword",
        {"project_slug": "class", "package_name": "class_model"},
        "project_slug",
        slug_keyword("class"),
    ),
    Invalid(
        "name-derives-keyword-slug",
        {"project_name": "Import"},
        "project_slug",
        slug_keyword("import"),
    ),
    Invalid("package-keyword", {"package_name": "class"}, "package_name", reserved("class")),
    Invalid("package-soft-keyword", {"package_name": "match"}, "package_name", reserved("match")),
    Invalid(
        "package-shadows-mlflow", {"package_name": "mlflow"}, "package_name", reserved("mlflow")
    ),
    Invalid(
        "package-shadows-pyspark", {"package_name": "pyspark"}, "package_name", reserved("pyspark")
    ),
    Invalid("package-shadows-test", {"package_name": "test"}, "package_name", reserved("test")),
    # The Databricks SDK (the jobs' launcher and the project import `databricks`) and modules
    # the project imports; tests/test_render.py checks the whole list against the imports.
    *(
        Invalid(f"package-shadows-{name}", {"package_name": name}, "package_name", reserved(name))
        for name in ("databricks", "yaml", "pytest")
    ),
    # Every module of the standard library, imported by the project or not.
    *(
        Invalid(
            f"package-shadows-{name}", {"package_name": name}, "package_name", standard_module(name)
        )
        for name in ("statistics", "calendar", "secrets", "queue", "platform", "uuid")
    ),
    Invalid(
        "name-derives-standard-module",
        {"project_name": "Statistics"},
        "package_name",
        standard_module("statistics"),
    ),
    # A name whose *derived* package would shadow a module is refused too, not rendered broken.
    Invalid("name-derives-reserved", {"project_name": "Test"}, "package_name", reserved("test")),
    Invalid("package-hyphen", {"package_name": "customer-churn"}, "package_name", PACKAGE_FORMAT),
    Invalid("package-leading-digit", {"package_name": "2fast"}, "package_name", PACKAGE_FORMAT),
    Invalid("package-dotted", {"package_name": "churn.model"}, "package_name", PACKAGE_FORMAT),
    Invalid("package-path", {"package_name": "src/churn"}, "package_name", PACKAGE_FORMAT),
    Invalid(
        "package-long",
        {"package_name": "p" * 61},
        "package_name",
        "The package name must be at most 60 characters.",
    ),
    Invalid(
        "description-empty",
        {"description": ""},
        "description",
        "The description must not be empty.",
    ),
    Invalid(
        "description-multiline",
        {"description": "Predicts churn.\nAlso makes coffee."},
        "description",
        "The description must be a single line.",
    ),
    Invalid(
        "description-quote",
        {"description": 'The "best" churn model.'},
        "description",
        "The description must not contain double quotes or backslashes.",
    ),
    Invalid(
        "description-long",
        {"description": "d" * 201},
        "description",
        "The description must be at most 200 characters.",
    ),
    Invalid(
        "author-empty", {"author_name": " "}, "author_name", "The author name must not be empty."
    ),
    Invalid("author-multiline", {"author_name": "Ada\nGrace"}, "author_name", AUTHOR_FORMAT),
    Invalid("author-quote", {"author_name": 'Ada "the first"'}, "author_name", AUTHOR_FORMAT),
    Invalid(
        "email-no-at",
        {"author_email": "ml-platform.example.com"},
        "author_email",
        email_format("ml-platform.example.com"),
    ),
    Invalid(
        "email-no-domain-dot",
        {"author_email": "ml@localhost"},
        "author_email",
        email_format("ml@localhost"),
    ),
    Invalid(
        "email-space",
        {"author_email": "ml platform@example.com"},
        "author_email",
        email_format("ml platform@example.com"),
    ),
    # Two addresses where one is asked for: each looks like an email, the answer does not.
    Invalid(
        "email-two-addresses",
        {"author_email": "ml@example.com, ops@example.com"},
        "author_email",
        email_format("ml@example.com, ops@example.com"),
    ),
    Invalid(
        "alert-email-incomplete",
        {"alert_email": "alerts@example"},
        "alert_email",
        'The alert email must be empty or look like name@example.com (got "alerts@example").',
    ),
    Invalid(
        "catalog-uppercase",
        {"catalog_dev": "Dev"},
        "catalog_dev",
        uc_identifier("dev catalog", "Dev"),
    ),
    Invalid(
        "catalog-leading-digit",
        {"catalog_prod": "1prod"},
        "catalog_prod",
        uc_identifier("prod catalog", "1prod"),
    ),
    Invalid(
        "catalog-dotted",
        {"catalog_staging": "main.staging"},
        "catalog_staging",
        uc_identifier("staging catalog", "main.staging"),
    ),
    Invalid(
        "catalog-empty",
        {"catalog_test": ""},
        "catalog_test",
        uc_identifier("test catalog", ""),
    ),
    Invalid(
        "catalog-long",
        {"catalog_dev": "c" * 256},
        "catalog_dev",
        "The dev catalog must be at most 255 characters.",
    ),
    Invalid(
        "schema-hyphen",
        {"schema_name": "churn-models"},
        "schema_name",
        uc_identifier("schema", "churn-models"),
    ),
    Invalid(
        "schema-space",
        {"schema_name": "churn models"},
        "schema_name",
        uc_identifier("schema", "churn models"),
    ),
    # The Databricks questions' validators; tests/test_bundle_questions.py has the common cases,
    # these are the answers that only a complete check refuses.
    Invalid(
        # Chat tools paste links in angle brackets.
        "url-in-angle-brackets",
        {"staging_workspace_url": "<https://dbc-1.cloud.databricks.com>"},
        "staging_workspace_url",
        "The staging workspace URL must start with https:// "
        '(got "<https://dbc-1.cloud.databricks.com>").',
    ),
    Invalid(
        "url-user-name",
        {"prod_workspace_url": "https://me@dbc-1.cloud.databricks.com"},
        "prod_workspace_url",
        "The prod workspace URL must be https:// followed by a host name, without user name or "
        'port (got "https://me@dbc-1.cloud.databricks.com").',
    ),
    Invalid(
        "sp-name-before-uuid",
        {"staging_service_principal": "ml-deployer 01234567-89ab-cdef-0123-456789abcdef"},
        "staging_service_principal",
        "The staging service principal must be the service principal's application ID",
    ),
    Invalid(
        "sp-name-after-uuid",
        {"prod_service_principal": "01234567-89ab-cdef-0123-456789abcdef (ml-deployer)"},
        "prod_service_principal",
        "The prod service principal must be the service principal's application ID",
    ),
    Invalid(
        "group-leading-underscore",
        {"read_group": "_ml-readers"},
        "read_group",
        "The read group must start with a letter or digit and contain only letters, digits, "
        'spaces and . _ @ + - (got "_ml-readers").',
    ),
    Invalid(
        "group-long",
        {"read_group": "g" * 256},
        "read_group",
        "The read group must be at most 255 characters.",
    ),
    Invalid(
        "prod-query-group-leading-dot",
        {"serving_endpoint": True, "prod_query_group": ".api-callers"},
        "prod_query_group",
        "The prod query group must start with a letter or digit and contain only letters, "
        'digits, spaces and . _ @ + - (got ".api-callers"), or be empty.',
    ),
    Invalid(
        "prod-query-group-long",
        {"serving_endpoint": True, "prod_query_group": "q" * 256},
        "prod_query_group",
        "The prod query group must be at most 255 characters.",
    ),
    Invalid(
        "feature-store-with-endpoint",
        {"serving_endpoint": True, "feature_store": True},
        "feature_store",
        "The feature store cannot be combined with the serving endpoint yet: a served model with "
        "feature lookups needs a Databricks online store, which this template does not set up. "
        "Answer false here, or false to serving_endpoint.",
    ),
    Invalid(
        "branch-long",
        {"default_branch": "b" * 101},
        "default_branch",
        "The default branch must be at most 100 characters.",
    ),
)


@pytest.mark.parametrize("case", INVALID_ANSWERS, ids=[c.id for c in INVALID_ANSWERS])
def test_invalid_answer_is_refused_with_its_message(case: Invalid, tmp_path: Path) -> None:
    expected = f"Validation error for question '{case.question}': {case.message}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        render(tmp_path / "project", case.data)
    assert not (tmp_path / "project").exists(), "a refused answer must not leave files behind"


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.13", "3", "python3.12"])
def test_unsupported_python_version_is_refused(version: str, tmp_path: Path) -> None:
    # The list of choices grows over time; the message must name the refused value.
    expected = f"Invalid choice for 'python_version': '{version}' is not in ["
    with pytest.raises(ValueError, match=re.escape(expected)):
        render(tmp_path / "project", {"python_version": version})


DEFAULTS = {
    "project_name": "Customer Churn",
    "project_slug": "customer-churn",
    "package_name": "customer_churn",
    "python_version": "3.12",
    "catalog_dev": "dev",
    "catalog_test": "test",
    "catalog_staging": "staging",
    "catalog_prod": "prod",
    "schema_name": "customer_churn",
}


def test_defaults(tmp_path: Path) -> None:
    answers = render(tmp_path / "project", {}, pretend=True).answers
    assert {key: answers[key] for key in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize(
    ("project_name", "slug", "package"),
    [
        ("ML 2 Go-Fast", "ml-2-go-fast", "ml_2_go_fast"),
        ("Fraud  Detection", "fraud-detection", "fraud_detection"),
        ("Demand_Forecast v2", "demand-forecast-v2", "demand_forecast_v2"),
        ("Churn-", "churn", "churn"),
        ("Test Suite", "test-suite", "test_suite"),
        ("X", "x", "x"),
        # Keywords between hyphens and parts starting with digits: fine as a slug and a package;
        # the jobs call the entry point `<package>_task` (tests/test_bundle.py).
        ("In Store Sales 2", "in-store-sales-2", "in_store_sales_2"),
        ("Class Import Model", "class-import-model", "class_import_model"),
        ("Model 1a For Def", "model-1a-for-def", "model_1a_for_def"),
    ],
)
def test_names_derive_slug_package_and_schema(
    project_name: str, slug: str, package: str, tmp_path: Path
) -> None:
    answers = render(tmp_path / "project", {"project_name": project_name}, pretend=True).answers
    assert (answers["project_slug"], answers["package_name"]) == (slug, package)
    assert answers["schema_name"] == package, "the schema defaults to the package name"
    assert is_python_identifier_safe(answers["package_name"])
    assert is_python_identifier_safe(f"{answers['package_name']}_task")


def test_standard_library_constant_is_the_oldest_supported_pythons() -> None:
    """copier.yml cannot import `sys`: its list must be the public module names of Python 3.11's
    standard library; later versions only removed modules."""
    config = copier_config()
    listed = name_list("stdlib_module_names")
    oldest = min(config["python_version"]["choices"], key=lambda v: tuple(map(int, v.split("."))))
    assert oldest == "3.11"
    running = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    if sys.version_info[:2] == (3, 11):
        assert sorted(listed) == sorted(running)
    else:
        assert running <= set(listed)
    assert len(listed) == len(set(listed)) > 200


def test_python_keywords_constant_is_pythons() -> None:
    """copier.yml cannot import `keyword`: its list must be Python's, and every keyword must also
    be a reserved package name."""
    listed = name_list("python_keywords")
    assert sorted(listed) == sorted(k for k in keyword.kwlist if k.islower())
    assert set(listed) <= set(name_list("reserved_package_names"))


def test_longest_valid_name_derives_valid_names(tmp_path: Path) -> None:
    # Any name the project_name validator accepts must derive a slug and a package that their
    # own validators accept; otherwise `--defaults` fails on a question the user never saw.
    name = "Quarterly Revenue Forecast for Enterprise Accounts v2 - EMEA"
    assert len(name) == 60
    answers = render(tmp_path / "project", {"project_name": name}, pretend=True).answers
    assert answers["project_slug"] == "quarterly-revenue-forecast-for-enterprise-accounts-v2-emea"


def test_overridden_names_are_kept_and_drive_the_schema(tmp_path: Path) -> None:
    data = {"project_name": "Churn", "project_slug": "churn-v2", "package_name": "retention"}
    answers = render(tmp_path / "project", data, pretend=True).answers
    assert (answers["project_slug"], answers["package_name"]) == ("churn-v2", "retention")
    assert answers["schema_name"] == "retention"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            {"catalog_dev": "_sandbox", "schema_name": "_ml"}, id="underscore-identifiers"
        ),
        pytest.param({"author_email": "first.last+ml@sub.example.co.uk"}, id="plus-email"),
        pytest.param({"author_name": "Zoë O'Brien-Smith (ML)"}, id="unicode-author"),
        pytest.param(
            {"description": "Ranks leads: top #10 first, sales & marketing's view {daily}."},
            id="punctuation",
        ),
        pytest.param({"python_version": "3.11"}, id="python-3.11"),
        # Every length limit is inclusive: the longest answer each one allows.
        pytest.param(
            {
                "project_slug": "s" * 60,
                "package_name": "p" * 60,
                "description": "d" * 200,
                "catalog_dev": "c" * 255,
                "read_group": "g" * 255,
                "default_branch": "b" * 100,
                "serving_endpoint": True,
                "prod_query_group": "q" * 255,
            },
            id="longest-answers",
        ),
        pytest.param(
            {"serving_endpoint": True, "prod_query_group": ""}, id="prod-endpoint-owner-only"
        ),
        # The government-cloud workspace domains, besides the common ones.
        pytest.param(
            {"cloud": "aws", "staging_workspace_url": "https://dbc-1.cloud.databricks.mil"},
            id="aws-mil-workspace",
        ),
        pytest.param(
            {"cloud": "azure", "prod_workspace_url": "https://adb-1.2.databricks.azure.us"},
            id="azure-us-gov-workspace",
        ),
        # The name lists are matched by whole names: "heap" is only part of "heapq", "clas" of
        # "class", "data" of "databricks".
        pytest.param({"package_name": "heap", "project_slug": "clas"}, id="part-of-a-module-name"),
        pytest.param({"package_name": "data"}, id="part-of-a-reserved-name"),
        # ".", "-" and "/" inside a branch name are fine; so is ".lock" not at a name's end.
        pytest.param(
            {"default_branch": "develop/v1.2-rc", "release_branch": "release/2025.lockdown"},
            id="branch-punctuation",
        ),
    ],
)
def test_valid_edge_cases_are_accepted(data: dict[str, str | bool], tmp_path: Path) -> None:
    answers = render(tmp_path / "project", data, pretend=True).answers
    assert {key: answers[key] for key in data} == data
