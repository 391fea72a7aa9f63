"""What every `ep` command shares: one line on stderr and the contract's exit codes.

Scripts, schedulers and runbooks depend on these exit codes: 0 done, 1 failed, 2 usage or
configuration error, 75 another run holds the lock.
"""

import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit."""
    click.echo(f"ep: {message}", err=True)
    sys.exit(code)


def missing_sqlite_file(database_url: str) -> Path | None:
    """The SQLite file ``database_url`` names when it does not exist (SQLite would quietly
    create it empty); None for PostgreSQL, in-memory SQLite or a file that exists."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path.absolute()


def no_database_message(path: Path) -> str:
    return f"no database at {path}: run `ep init` (or `ep db upgrade`) to create it"
