"""docs/runbook.md covers every message an operator can meet, in Swedish and in English.

The messages are collected from the code that makes them — the health checks, `ep check`,
the `ep` and `ep batch` commands and the reasons a 403 is logged with — so a new message
without a runbook entry fails here.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "runbook.md"
SOURCES = (
    "ep/healthcheck/checks.py",
    "ep/healthcheck/cli.py",
    "ep/batches/runner.py",
    "ep/batches/cli.py",
    "ep/cli.py",
    "ep/console.py",
    "ep/web/access.py",
    "ep/identity/certificates.py",
)
# the calls whose first argument is a message an operator reads
MESSAGE_CALLS = {"AccessRefused", "CertificateRefused", "fail", "LeaseLost", "__init__"}
SHORTEST = 9  # a quoted fragment shorter than this says too little to look up
PLACEHOLDER = re.compile(r"\{[^}]*\}")


def _fragment(node: ast.AST) -> str | None:
    """The longest literal part of a message expression (an f-string's fixed text)."""
    parts = []
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            parts.extend(PLACEHOLDER.split(child.value))  # str.format's fields too
    parts = [part.strip(" .:;(") for part in parts]
    parts = [part for part in parts if len(part) >= SHORTEST]
    return max(parts, key=len) if parts else None


def _messages(source: str) -> set[str]:
    tree = ast.parse((ROOT / source).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        expression = None
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
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
        if expression is not None:
            fragment = _fragment(expression)
            if fragment:
                found.add(fragment)
    return found


def _sections() -> tuple[str, str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    swedish, english = text.split("\n## English\n", 1)
    return swedish.split("\n## Svenska\n", 1)[1], english


MESSAGES = sorted({message for source in SOURCES for message in _messages(source)})


def test_the_collector_finds_the_messages_that_matter():
    assert len(MESSAGES) > 30
    assert any("stopped without finishing" in m for m in MESSAGES)
    assert any("is not installed in this database" in m for m in MESSAGES)
    assert any("lacks role" in m for m in MESSAGES)


@pytest.mark.parametrize("message", MESSAGES)
def test_the_runbook_explains_it_in_swedish_and_english(message):
    swedish, english = _sections()
    assert message in swedish, f"no Swedish runbook entry quotes {message!r}"
    assert message in english, f"no English runbook entry quotes {message!r}"
