"""Every import in ep/ is at module level: an import inside a function hides a cycle or a
cost that should be seen where the module starts (issue 9: no imports to dodge cycles)."""

import ast
from pathlib import Path

EP = Path(__file__).resolve().parents[1] / "ep"


def _imports_inside_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(f"{path.relative_to(EP.parent)}:{node.lineno} in {function.name}()")
    return found


def test_no_module_imports_inside_a_function():
    modules = sorted(EP.rglob("*.py"))
    assert len(modules) > 50  # the walk found the package
    found = [where for path in modules for where in _imports_inside_functions(path)]
    assert found == []
