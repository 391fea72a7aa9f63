"""Lint the PostgreSQL SQL of every migration with squawk (`make lint`).

Each migration is rendered on its own (`alembic upgrade --sql <down>:<rev>`, offline: no
database is needed) and squawk reads each file separately, so it knows which tables a
migration creates itself (where a plain CREATE INDEX locks nothing anyone waits for)
and which it alters (where only CREATE INDEX CONCURRENTLY and NOT VALID constraints keep
the application running). Excluded rules, each with its reason: .squawk.toml.
"""

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from ep import MIGRATIONS_DIRECTORY, create_app
from ep.config import load_config
from ep.instance import write_ini

ROOT = Path(__file__).resolve().parent.parent
SQUAWK_CONFIG = ROOT / ".squawk.toml"
OFFLINE_URL = "postgresql+psycopg://ep@localhost/ep"  # rendered only, never connected to


def migration_sql(directory: Path = MIGRATIONS_DIRECTORY) -> dict[str, str]:
    """Return each revision's upgrade SQL for PostgreSQL, oldest first."""
    with tempfile.TemporaryDirectory() as scratch:
        ini = Path(scratch) / "ep.ini"
        write_ini(ini, values={}, database_url=OFFLINE_URL)
        app = create_app(load_config(ini, environ={}))
        sql = {}
        with app.app_context():
            scripts = ScriptDirectory(str(directory))
            for script in reversed(list(scripts.walk_revisions())):
                buffer = io.StringIO()
                config = AlembicConfig(str(directory / "alembic.ini"), output_buffer=buffer)
                config.set_main_option("script_location", str(directory))
                span = script.revision
                if script.down_revision:
                    span = f"{script.down_revision}:{script.revision}"
                command.upgrade(config, span, sql=True)
                sql[script.revision] = buffer.getvalue()
        return sql


def squawk(files: list[Path]) -> subprocess.CompletedProcess:
    executable = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    return subprocess.run(
        [executable, f"--config={SQUAWK_CONFIG}", "--reporter=gcc", *map(str, files)],
        capture_output=True,
        text=True,
    )


def lint(directory: Path = MIGRATIONS_DIRECTORY) -> subprocess.CompletedProcess:
    """Run squawk over every migration's SQL; its exit code says whether all passed."""
    with tempfile.TemporaryDirectory() as out:
        files = []
        for revision, text in migration_sql(directory).items():
            path = Path(out) / f"{revision}.sql"
            path.write_text(text, encoding="utf-8")
            files.append(path)
        return squawk(files)


def main() -> int:
    done = lint()
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode == 0:
        print("squawk: every migration's SQL passes")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
