"""A scratch database for tests that must start from no tables at all.

On SQLite a new file. On PostgreSQL the test database itself, emptied (a restore needs a
database without tables) and put back at the migrated head afterwards, so the rest of the
suite finds what the session fixture made.
"""

from datetime import timedelta

import pytest
from flask_migrate import upgrade

from ep import create_app
from ep.config import load_config
from ep.extensions import db
from ep.models import Order
from ep.timeutil import utcnow
from tests.support import is_postgres, make_instance, reset_schema, run_ep


def migrate(config_path, revision: str = "head") -> None:
    """Run the real migrations up to ``revision`` on the database of ``config_path``."""
    app = create_app(load_config(config_path, environ={}))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory, revision=revision)
        db.engine.dispose()
    app.extensions["ep_operator_engine"].dispose()


@pytest.fixture
def scratch_url(migrated, tmp_path):
    url = migrated if is_postgres(migrated) else f"sqlite:///{tmp_path / 'scratch.sqlite'}"
    reset_schema(url)
    yield url
    if is_postgres(url):
        reset_schema(url)
        migrate(make_instance(tmp_path / "remigrate", url))


@pytest.fixture
def restore_url(scratch_url, tmp_path):
    """Where a restore goes: on SQLite another new file, on PostgreSQL the scratch database
    once the test has emptied it again (``reset_schema``)."""
    if is_postgres(scratch_url):
        return scratch_url
    return f"sqlite:///{tmp_path / 'restored.sqlite'}"


def restore_into(url, backup, folder):
    """Run `ep db restore BACKUP` into the empty database ``url``; return the run and ep.ini.

    On PostgreSQL ``url`` is the scratch database the backup came from: emptied first.
    """
    if is_postgres(url):
        reset_schema(url)
    config = make_instance(folder, url)
    return run_ep("db", "restore", str(backup), config=config), config


def commit_order(session, *, person, package, number) -> None:
    """Commit one order in a transaction of its own, as the web server does."""
    now = utcnow()
    session.add(
        Order(
            number=number,
            person_id=person.id,
            package_id=package.id,
            ordered_at=now,
            expires_at=now + timedelta(days=30),
        )
    )
    session.commit()
