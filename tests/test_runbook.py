"""docs/runbook.md covers every message an operator can meet, in Swedish and in English.

The messages are collected from the code that makes them — the health checks, `ep check`,
the `ep` and `ep batch` commands and the reasons a 403 is logged with — so a new message
without a runbook entry fails here.

A health-check message is written in Swedish (ep.texts.msg) and translated in the operator
catalogue: the detail page shows it in the page's language, `ep check` in English. The
Swedish section quotes both (what the page says and what `ep check` prints), the English
section the English.
"""

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "runbook.md"
CATALOGUE = ROOT / "ep" / "translations" / "operator" / "en" / "LC_MESSAGES" / "messages.po"
SOURCES = (
    "ep/healthcheck/checks.py",
    "ep/healthcheck/cli.py",
    "ep/batches/runner.py",
    "ep/batches/cli.py",
    "ep/cli.py",
    "ep/instance_cli.py",
    "ep/users_cli.py",
    "ep/console.py",
    "ep/web/access.py",
    "ep/identity/certificates.py",
)
# the calls whose first argument is a message an operator reads
MESSAGE_CALLS = {"AccessRefused", "CertificateRefused", "fail", "LeaseLost", "__init__"}
TRANSLATED_CALLS = {"msg": 0, "plural_msg": 1}  # ep.texts: which argument is quoted
SHORTEST = 9  # a quoted fragment shorter than this says too little to look up
PLACEHOLDER = re.compile(r"\{[^}]*\}|%\(\w+\)[sd]")


def _longest(texts: list[str]) -> str | None:
    parts = [part.strip(" .:;(),") for text in texts for part in PLACEHOLDER.split(text)]
    parts = [part for part in parts if len(part) >= SHORTEST]
    return max(parts, key=len) if parts else None


def _fragment(node: ast.AST) -> str | None:
    """The longest literal part of a message expression (an f-string's fixed text)."""
    return _longest(
        [
            child.value
            for child in ast.walk(node)
            if isinstance(child, ast.Constant) and isinstance(child.value, str)
        ]
    )


def _name(call: ast.Call) -> str | None:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", None)


def _translated(node: ast.AST) -> bool:
    return any(
        isinstance(child, ast.Call) and _name(child) in TRANSLATED_CALLS for child in ast.walk(node)
    )


def _literal(node: ast.expr) -> str:
    assert isinstance(node, ast.Constant) and isinstance(node.value, str), ast.unparse(node)
    return node.value


def _translations(source: str) -> set[tuple[str, str | None]]:
    """(Swedish, English) fragments of each msg/plural_msg in ``source`` (a plural message
    is quoted in its plural form), the English from the operator catalogue; a message id
    must be a literal, so that pybabel can extract it."""
    with CATALOGUE.open("rb") as file:
        catalogue = read_po(file)
    tree = ast.parse((ROOT / source).read_text(encoding="utf-8"))
    found: set[tuple[str, str | None]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        form = TRANSLATED_CALLS.get(_name(node) or "")
        if form is None:
            continue
        msgid = _literal(node.args[0])
        entry = catalogue.get(msgid)
        assert entry is not None and entry.string, f"no English for {msgid!r}"
        english = entry.string if isinstance(entry.string, str) else entry.string[form]
        swedish = _longest([_literal(node.args[form])])
        if swedish:
            found.add((swedish, _longest([english])))
    return found


def _messages(source: str) -> set[str]:
    tree = ast.parse((ROOT / source).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        expression = None
        if isinstance(node, ast.Call):
            name = _name(node)
            if name in MESSAGE_CALLS and node.args:
                expression = node.args[0]
            elif name == "CheckResult" and len(node.args) >= 4:
                expression = node.args[3]
            elif (
                name == "append"
                and getattr(getattr(node.func, "value", None), "id", "") == "messages"
            ):
                expression = node.args[0]
            elif name == "echo" and node.args and "ep: " in ast.unparse(node.args[0]):
                expression = node.args[0]
        elif isinstance(node, ast.Assign):
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and target.attr == "message":
                expression = node.value
            elif isinstance(target, ast.Name) and target.id.endswith(("_MESSAGE", "UNAVAILABLE")):
                expression = node.value
        if expression is not None and not _translated(expression):
            fragment = _fragment(expression)
            if fragment:
                found.add(fragment)
    return found


def _sections() -> tuple[str, str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    swedish, english = text.split("\n## English\n", 1)
    return swedish.split("\n## Svenska\n", 1)[1], english


MESSAGES = sorted({message for source in SOURCES for message in _messages(source)})
TRANSLATED = sorted(
    {pair for source in SOURCES for pair in _translations(source)}, key=lambda pair: pair[0]
)


def test_the_collector_finds_the_messages_that_matter():
    assert len(MESSAGES) + len(TRANSLATED) > 30
    english = [pair[1] for pair in TRANSLATED if pair[1]]
    assert any("stopped without finishing" in m for m in english)
    assert any("is not installed in this database" in m for m in english)
    assert any("inte installerat i den här databasen" in pair[0] for pair in TRANSLATED)
    assert any("Time is NOT within warning limits" in m for m in MESSAGES)  # the manual's
    assert any("lacks role" in m for m in MESSAGES)


@pytest.mark.parametrize("message", MESSAGES)
def test_the_runbook_explains_it_in_swedish_and_english(message):
    swedish, english = _sections()
    assert message in swedish, f"no Swedish runbook entry quotes {message!r}"
    assert message in english, f"no English runbook entry quotes {message!r}"


@pytest.mark.parametrize("swedish_message, english_message", TRANSLATED)
def test_the_runbook_explains_a_translated_message_as_the_page_and_ep_check_say_it(
    swedish_message, english_message
):
    swedish, english = _sections()
    assert swedish_message in swedish, f"no Swedish runbook entry quotes {swedish_message!r}"
    if english_message:  # None: too short to look up ("Renew it")
        assert english_message in swedish, f"the Swedish runbook lacks {english_message!r}"
        assert english_message in english, f"no English runbook entry quotes {english_message!r}"
