"""EP (Egen Provhantering): residents order sampling packages and read their results."""

from importlib import import_module
from pathlib import Path

# an installed wheel carries the migrations inside the package (setup.py); a checkout
# keeps them beside it
_PACKAGE = Path(__file__).resolve().parent
MIGRATIONS_DIRECTORY = next(
    folder
    for folder in (_PACKAGE / "migrations", _PACKAGE.parent / "migrations")
    if (folder / "env.py").is_file()
)


def __getattr__(name: str):
    """``ep.create_app`` (gunicorn's ``"ep:create_app()"``, wsgi.py), loaded when first asked for.

    Importing any part of EP runs this file, so it imports neither the pages nor the API:
    the `ep` command (a monitor runs `ep check` every minute) makes its app with
    ep.core.create_core_app and does not pay for importing them.
    """
    if name == "create_app":
        return import_module("ep.app").create_app
    raise AttributeError(f"module 'ep' has no attribute {name!r}")
