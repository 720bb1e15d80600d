"""The documentation site (mkdocs.yml, docs/) builds in strict mode, so no page has a broken link
or anchor and no page is left out of the nav; and its questions reference, generated from
copier.yml by docs/hooks/questions_reference.py, lists every question copier asks with the rules
of its validator.
"""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REPO_ROOT, run

REFERENCE_PAGE = Path("questions-reference") / "index.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module's tests as CI's docs job builds it."""
    site_dir = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    result = run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site_dir],
        cwd=REPO_ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.report()
    return site_dir


def _asked_questions() -> dict[str, dict[str, Any]]:
    """copier.yml's questions that copier asks: no `_` settings, no `when: false` values."""
    copier = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    return {
        name: spec if isinstance(spec, dict) else {"default": spec}
        for name, spec in copier.items()
        if not name.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
    }


def _text(page: str) -> str:
    """A page's text as a reader sees it: no tags, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def _sections(page: str) -> dict[str, str]:
    """The text of each question's section, by question name (its heading's id)."""
    parts = re.split(r'<h3 id="([^"]+)"', page)
    return {parts[i]: _text(parts[i + 1]) for i in range(1, len(parts) - 1, 2)}


def test_site_builds_in_strict_mode_with_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "questions/index.html"):
        assert (site / page).is_file(), page
    assert (site / REFERENCE_PAGE).is_file()
    # The hook is the build's code, not a page of the site.
    assert not (site / "hooks").exists()


def test_reference_lists_every_asked_question_in_order(site: Path) -> None:
    sections = _sections((site / REFERENCE_PAGE).read_text(encoding="utf-8"))
    assert list(sections) == list(_asked_questions())


def test_reference_gives_the_rules_of_each_validator(site: Path) -> None:
    sections = _sections((site / REFERENCE_PAGE).read_text(encoding="utf-8"))
    questions = _asked_questions()
    for name, question in questions.items():
        has_rules = "Rules (each is the message of a refused answer)" in sections[name]
        assert has_rules == bool(question.get("validator")), name
    # project_slug's validator: each message, the text after a tag up to the next one.
    validator = questions["project_slug"]["validator"]
    messages = [" ".join(m.split()) for m in re.findall(r"%\}(.*?)(?=\{%|$)", validator, re.S)]
    messages = [m for m in messages if m]
    assert len(messages) >= 2
    for message in messages:
        assert message in sections["project_slug"]
    # The rules of a macro of hooks/validators.jinja, with the label the question passes.
    assert "The dev catalog " in sections["catalog_dev"]
    assert not any("{{ label }}" in text for text in sections.values())
