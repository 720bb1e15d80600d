"""The answer sets of the render matrix keep up with copier.yml.

When a question is added or renamed, these fail until `ANSWER_SETS` (tests/support.py) uses it:
every choice must be rendered somewhere, and the non-default sets must move every choice away
from its default.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from support import ANSWER_SETS, DEFAULT_ANSWERS, REPO_ROOT

OTHER_SETS = [a for a in ANSWER_SETS if a is not DEFAULT_ANSWERS]


def questions() -> dict[str, dict[str, Any]]:
    """The questions a user can be asked (copier settings and `when: false` values left out)."""
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("when") is not False
    }


def choice_values(spec: dict[str, Any]) -> list[str]:
    """A question's choices as values (copier accepts a list, or a mapping of label to value)."""
    choices = spec["choices"]
    return [str(v) for v in (choices.values() if isinstance(choices, dict) else choices)]


CHOICE_QUESTIONS = {name: spec for name, spec in questions().items() if "choices" in spec}


def test_answer_sets_answer_only_existing_questions() -> None:
    known = set(questions())
    unknown = {a.id: sorted(set(a.data) - known) for a in ANSWER_SETS if set(a.data) - known}
    assert unknown == {}, "answers for questions that copier.yml does not ask"


@pytest.mark.parametrize("question", sorted(CHOICE_QUESTIONS))
def test_every_choice_is_rendered_by_some_answer_set(question: str) -> None:
    spec = CHOICE_QUESTIONS[question]
    used = {str(a.data.get(question, spec["default"])) for a in ANSWER_SETS}
    assert set(choice_values(spec)) <= used


@pytest.mark.parametrize("question", sorted(CHOICE_QUESTIONS))
def test_other_answer_sets_move_every_choice_off_its_default(question: str) -> None:
    default = str(CHOICE_QUESTIONS[question]["default"])
    on_default = [a.id for a in OTHER_SETS if str(a.data.get(question, default)) == default]
    assert on_default == []


BOOL_QUESTIONS = sorted(name for name, spec in questions().items() if spec.get("type") == "bool")


def test_every_yes_no_question_is_rendered_both_ways() -> None:
    assert BOOL_QUESTIONS, "copier.yml asks no yes/no question: this test checks nothing"
    missing = {
        name: sorted(
            {True, False}
            - {bool(a.data.get(name, questions()[name]["default"])) for a in ANSWER_SETS}
        )
        for name in BOOL_QUESTIONS
    }
    assert {name: values for name, values in missing.items() if values} == {}
