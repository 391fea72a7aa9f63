"""Each batch is defined once (ep/batches/spine.py); everything else reads it."""

import ast
from pathlib import Path

from ep.batches.runner import load_batches
from ep.batches.schedule import entries
from ep.batches.spine import SPINE
from ep.config import SETTINGS

EP = Path(__file__).resolve().parents[2] / "ep"


def test_the_runner_the_configuration_and_the_scheduler_read_the_spine():
    assert [batch.command for batch in load_batches()] == [spec.command for spec in SPINE]
    defaults = {setting.name: setting.default for setting in SETTINGS}
    for spec in SPINE:
        assert defaults[f"{spec.name}WarnAfterMinutesInactivity"] == str(spec.warn_after_minutes)
    assert [(entry.name, entry.command) for entry in entries()] == [
        (spec.name, spec.command) for spec in SPINE
    ]


def _code_strings(path: Path) -> set[str]:
    """The string constants of a module's code (docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def test_no_batch_command_or_threshold_is_written_anywhere_else():
    commands = {spec.command for spec in SPINE} | {spec.shell_command for spec in SPINE}
    for path in EP.rglob("*.py"):
        if path.name == "spine.py":
            continue
        repeated = commands & _code_strings(path)
        assert not repeated, f"{path.relative_to(EP.parent)} repeats {sorted(repeated)}"
