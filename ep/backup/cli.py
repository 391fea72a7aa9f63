"""`ep db`: Flask-Migrate's commands (`ep db upgrade`, …) with `ep db backup` and
`ep db restore PATH` beside them."""

import sys
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from flask_migrate.cli import db as db_group
from sqlalchemy.exc import SQLAlchemyError

from ep.backup import BackupError, back_up_and_prune, restore_backup, verify_backup
from ep.batches.spine import spec_of
from ep.extensions import db
from ep.healthcheck.checks import evaluate
from ep.healthcheck.formats import nagios
from ep.timeutil import utcnow

EXIT_FAILED = 1


def _fail(message: str) -> None:
    click.echo(f"ep: {message}", err=True)
    sys.exit(EXIT_FAILED)


@click.command(spec_of("BACKUP").command)  # the same word as `ep batch backup`
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the backup (default: BackupDirectory in ep.ini).",
)
@with_appcontext
def backup_command(folder: Path | None) -> None:
    """Back up the database now (before an upgrade, say), then keep the newest
    BackupRetainCount backups.

    The same backup as the nightly `ep batch backup`, but not recorded as a BACKUP run.
    SQLite is copied with VACUUM INTO, PostgreSQL dumped with pg_dump (custom format);
    beside the copy, manifest.json records the EP version, schema revision, rows per
    table and the SHA-256 checksum. Exit 0 written, 1 failed.
    """
    config = current_app.config["EP"]
    folder = (folder or config.path_of("BackupDirectory")).absolute()
    keep = config["BackupRetainCount"]
    try:
        path, manifest, deleted = back_up_and_prune(
            db.engine, folder=folder, keep=keep, now=utcnow(), progress=click.echo
        )
    except (BackupError, SQLAlchemyError, OSError) as exc:
        _fail(f"backup failed: {' '.join(str(exc).split())}")
    click.echo(manifest.summary(path))
    for old in deleted:
        click.echo(f"deleted {old} (BackupRetainCount = {keep})")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@with_appcontext
def restore_command(path: Path) -> None:
    """Restore the backup at PATH (its folder or manifest.json) into an empty database.

    The database of this instance must have no tables: a missing SQLite file, or a newly
    created PostgreSQL database. The checksum and every table's row count are checked
    against the manifest, an older schema is upgraded to this EP's, and the health check
    runs last. Exit 0 restored and healthy, 1 refused, failed or not healthy.
    """
    try:
        folder, manifest = verify_backup(path.absolute())
        click.echo(
            f"backup of {manifest.created_at}, EP {manifest.ep_version}, "
            f"schema {manifest.schema_revision}: checksum matches"
        )
        scripts = ScriptDirectory(current_app.extensions["migrate"].directory)
        if manifest.schema_revision is not None:
            try:
                scripts.get_revision(manifest.schema_revision)
            except CommandError:
                raise BackupError(
                    f"the backup's schema {manifest.schema_revision} is unknown to this EP "
                    "(made by a newer version?); restore it with that version"
                ) from None
        restored = restore_backup(db.engine, folder, manifest, progress=click.echo)
    except (BackupError, SQLAlchemyError, OSError) as exc:
        _fail(f"restore refused: {' '.join(str(exc).split())}")
    click.echo(f"restored {sum(restored.values())} rows in {len(restored)} tables, all as counted")
    head = scripts.get_current_head()
    if manifest.schema_revision != head:
        click.echo(f"upgrading the schema from {manifest.schema_revision} to {head}")
        upgrade(directory=current_app.extensions["migrate"].directory)
    line, code = nagios(evaluate(db.session(), current_app.config["EP"], now=utcnow()))
    db.session.rollback()
    click.echo(line)
    if code != 0:
        _fail("restored, but the health check is not green (see the line above)")


db_group.add_command(backup_command)
db_group.add_command(restore_command)
