"""What setup.cfg cannot say: migrations/ ships inside the package, catalogues are compiled.

- ``migrations/`` stays at the top of the checkout (Flask-Migrate's layout) and is installed
  as ``ep/migrations``, so `ep init` from a wheel finds it (ep.MIGRATIONS_DIRECTORY).
- Each ``ep/translations/<audience>/<lang>/LC_MESSAGES/messages.po`` is compiled to its
  ``messages.mo`` in the build, as `make translations` does in a checkout: without it an
  installed EP shows Swedish where English was chosen.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

CATALOGUES = "ep/translations/*/*/LC_MESSAGES/messages.po"


class BuildWithCatalogues(build_py):
    """build_py, then every catalogue compiled into the build (fuzzy entries left out)."""

    def run(self):
        super().run()
        for po in sorted(Path().glob(CATALOGUES)):
            target = Path(self.build_lib) / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalogue = read_po(source)
            with target.open("wb") as compiled:
                write_mo(compiled, catalogue)


setup(
    packages=[
        *find_namespace_packages(include=["ep", "ep.*"]),
        "ep.migrations",
        "ep.migrations.versions",
    ],
    package_dir={"ep.migrations": "migrations"},
    cmdclass={"build_py": BuildWithCatalogues},
)
