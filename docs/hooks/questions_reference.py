"""MkDocs hook: the "Questions (reference)" page, generated from copier.yml at every build.

copier.yml is the one definition of the questions: their types, help texts, defaults, choices,
conditions and validators. A hand-written list of them drifts as soon as a question or a rule
changes, so this page is never written by hand: the hook reads copier.yml with PyYAML and adds
`questions-reference.md` to the site's files (it does not exist under docs/). Every asked question
is listed: keys starting with `_` are copier settings, and `when: false` marks computed values.

A validator's rules are its messages: the text between a Jinja tag's `%}` and the next `{%`
(full sentences in copier.yml). A call of a macro imported from `hooks/validators.jinja` is
replaced by that macro's messages, with the call's literal arguments (such as the label) filled
in. Other Jinja expressions are shown as code.

docs/questions.md stays the hand-written guide; this page is its exact reference.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PAGE = "questions-reference.md"
COPIER_FILE = "copier.yml"

# A section comment of copier.yml, `# --- The project ------`, and a top-level key.
SECTION = re.compile(r"^# -{3} (?P<title>.+?) -+\s*$")
TOP_LEVEL_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*):")
# The text after a Jinja tag, up to the next tag: a validator's messages.
AFTER_TAG = re.compile(r"-?%\}(.*?)(?=\{%|\Z)", re.DOTALL)
MACRO_IMPORT = re.compile(
    r"\{%-?\s*from\s+'(?P<file>[^']+)'\s+import\s+(?P<names>[\w\s,]+?)\s*-?%\}"
)
MACRO_CALL = re.compile(r"\{\{-?\s*(?P<name>\w+)\((?P<args>.*?)\)\s*-?\}\}", re.DOTALL)
MACRO = re.compile(
    r"\{%-?\s*macro\s+(?P<name>\w+)\((?P<params>.*?)\)\s*-?%\}(?P<body>.*?)\{%-?\s*endmacro\s*-?%\}",
    re.DOTALL,
)
EXPRESSION = re.compile(r"\{\{-?\s*(?P<expr>.*?)\s*-?\}\}", re.DOTALL)
# Inline code spans and Jinja expressions, which are shown as they are.
VERBATIM = re.compile(r"(`[^`]*`|\{\{.*?\}\})", re.DOTALL)

_JINJA = jinja2.Environment()


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    files.append(File.generated(config, PAGE, content=reference(root)))
    return files


def on_serve(server: Any, config: MkDocsConfig, builder: Any) -> Any:
    """`mkdocs serve` rebuilds the page when the questions change."""
    root = Path(config.config_file_path).parent
    server.watch(str(root / COPIER_FILE))
    server.watch(str(root / "hooks"))
    return server


# --- The page -------------------------------------------------------------------------------------


def reference(root: Path) -> str:
    """The Markdown of the reference page for the copier.yml in `root`."""
    text = (root / COPIER_FILE).read_text(encoding="utf-8")
    questions = asked_questions(yaml.safe_load(text))
    lines = [
        "# Questions (reference)",
        "",
        "Every question `copier copy` asks, in order, as `copier.yml` defines it. This page is",
        "generated from `copier.yml` when the site is built, so it always matches the template;",
        "[the questions guide](questions.md) explains why each one is asked.",
        "",
        "Answer a question on the command line with `--data name=value`; `--defaults` accepts",
        "every default. An answer that breaks a rule is refused with that rule's message.",
    ]
    for title, names in sections(text, questions):
        lines += ["", f"## {inline(title)}"]
        for name in names:
            lines += ["", *question_lines(name, questions[name], root)]
    return "\n".join(lines) + "\n"


def asked_questions(copier: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The questions copier asks, in order: no settings (`_...`), no `when: false` values."""
    asked = {}
    for name, spec in copier.items():
        if name.startswith("_"):
            continue
        # `name: value` is copier's short form of a question with that default.
        question = spec if isinstance(spec, dict) else {"default": spec}
        if question.get("when") is False:
            continue
        asked[name] = question
    return asked


def sections(text: str, questions: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The questions grouped under copier.yml's section comments, empty sections left out."""
    grouped: dict[str, list[str]] = {}
    title = "Questions"
    for line in text.splitlines():
        if match := SECTION.match(line):
            title = match.group("title")
        elif (match := TOP_LEVEL_KEY.match(line)) and match.group("key") in questions:
            grouped.setdefault(title, []).append(match.group("key"))
    return list(grouped.items())


def question_lines(name: str, question: Mapping[str, Any], root: Path) -> list[str]:
    lines = [f"### `{name}`", ""]
    if question.get("help"):
        lines += [inline(" ".join(str(question["help"]).split())), ""]
    lines.append(f"- **Type**: `{question.get('type', 'str')}`")
    lines.append(f"- **Default**: {default_text(question.get('default'))}")
    if "choices" in question:
        lines.append(f"- **Choices**: {choices_text(question['choices'])}")
    when = question.get("when")
    if when is not None and when is not True:
        lines.append(f"- **Asked only when**: {code(str(when))}")
    if question.get("validator"):
        lines.append("- **Rules** (each is the message of a refused answer):")
        lines += [
            f"    - {inline(rule)}" for rule in validator_rules(str(question["validator"]), root)
        ]
    return lines


def default_text(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None:
        return "none"
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            return f"computed, {code(' '.join(value.split()))}"
        return code(value) if value else "empty"
    return code(yaml.safe_dump(value, default_flow_style=True).strip())


def choices_text(choices: Any) -> str:
    if isinstance(choices, Mapping):
        return "; ".join(
            f"{inline(str(label))}: {code(str(value))}" for label, value in choices.items()
        )
    return ", ".join(code(str(choice)) for choice in choices)


# --- Validator rules ------------------------------------------------------------------------------


def validator_rules(validator: str, root: Path) -> list[str]:
    """The messages of a validator, its imported macros' messages in place of their calls."""
    imported = {
        name.strip(): match.group("file")
        for match in MACRO_IMPORT.finditer(validator)
        for name in match.group("names").split(",")
    }
    rules: list[str] = []
    for segment in AFTER_TAG.findall(validator):
        rest = segment
        for call in MACRO_CALL.finditer(segment):
            if call.group("name") in imported:
                macro_file = root / imported[call.group("name")]
                rules += macro_rules(macro_file, call.group("name"), call.group("args"))
                rest = rest.replace(call.group(0), "")
        message = " ".join(rest.split())
        if message:
            rules.append(message)
    return rules


def macro_rules(path: Path, name: str, call_args: str) -> list[str]:
    """The messages of macro `name` in `path`, as a call with `call_args` shows them."""
    macros = {m.group("name"): m for m in MACRO.finditer(path.read_text(encoding="utf-8"))}
    macro = macros[name]
    signature = ast.parse(f"def _({macro.group('params')}): pass").body[0]
    assert isinstance(signature, ast.FunctionDef)
    params = signature.args
    names = [p.arg for p in params.args]
    bound: dict[str, ast.expr] = dict(
        zip(names[len(names) - len(params.defaults) :], params.defaults, strict=True)
    )
    call = ast.parse(f"_({call_args})", mode="eval").body
    assert isinstance(call, ast.Call)
    bound.update(zip(names, call.args, strict=False))
    bound.update({k.arg: k.value for k in call.keywords if k.arg})
    literals, renames = {}, {}
    for param, node in bound.items():
        try:
            literals[param] = ast.literal_eval(node)
        except ValueError:
            renames[param] = ast.unparse(node)
    rules = []
    for segment in AFTER_TAG.findall(macro.group("body")):
        message = " ".join(segment.split())
        if message:
            rules.append(
                EXPRESSION.sub(lambda m: _shown(m.group("expr"), literals, renames), message)
            )
    return rules


def _shown(expression: str, literals: Mapping[str, Any], renames: Mapping[str, str]) -> str:
    """An expression of a macro's message: its value when every name in it is a literal argument,
    otherwise the expression, with parameters renamed to the caller's arguments."""
    names = jinja2.meta.find_undeclared_variables(_JINJA.parse(f"{{{{ {expression} }}}}"))
    if names <= literals.keys():
        try:
            return str(_JINJA.compile_expression(expression)(**literals))
        except jinja2.TemplateError:
            pass  # e.g. a filter of copier's own (regex_search): shown as the expression
    for param, argument in renames.items():
        expression = re.sub(rf"\b{re.escape(param)}\b", argument, expression)
    return f"{{{{ {expression} }}}}"


# --- Markdown -------------------------------------------------------------------------------------


def code(text: str) -> str:
    """`text` as an inline code span, fenced with more backticks than it contains."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def inline(text: str) -> str:
    """Plain text as Markdown: code spans kept, Jinja expressions as code, the rest escaped."""
    return "".join(_inline_parts(text))


def _inline_parts(text: str) -> Iterator[str]:
    for i, part in enumerate(VERBATIM.split(text)):
        if i % 2 == 0:
            yield re.sub(r"([\\*_\[\]])", r"\\\1", part).replace("<", "&lt;")
        elif part.startswith("`"):
            yield part
        else:
            yield code(part)
