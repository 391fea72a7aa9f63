"""Every import in ep/ is at module level: an import inside a function hides a cycle or a
cost that should be seen where the module starts (issue 9: no imports to dodge cycles).
The exceptions are listed here with their reasons: start-up costs deferred on purpose."""

import ast
from pathlib import Path

EP = Path(__file__).resolve().parents[1] / "ep"
# where: why the import waits for its first use
DEFERRED = {
    "ep/labformats/__init__.py in parse_fhir()": "fhir.resources and pydantic take a tenth "
    "of a second to import, which every `ep` command and web worker would pay (issue 19)",
    "ep/__main__.py in main()": "EP's modules are imported with the garbage collector off "
    "and then frozen; the imports are what that spares every `ep` command (issue 19)",
    "ep/extensions.py in __getattr__()": "Flask-Migrate (alembic, mako), Flask-Babel, "
    "Flask-WTF and Flask-Limiter serve the pages and `ep db`, not `ep check` or a batch",
    "ep/healthcheck/checks.py in _expiry_of()": "cryptography, only when a certificate or "
    "CRL file changed since the last `ep check` read it",
    "ep/config.py in _rate_limit()": "limits, only to read a rate limit an installation "
    "sets itself (the built-in ones are known good)",
}


def _imports_inside_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(f"{path.relative_to(EP.parent)} in {function.name}()")
    return found


def test_no_module_imports_inside_a_function():
    modules = sorted(EP.rglob("*.py"))
    assert len(modules) > 50  # the walk found the package
    found = {where for path in modules for where in _imports_inside_functions(path)}
    assert found == set(DEFERRED)
