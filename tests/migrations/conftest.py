"""pytest-alembic on an empty database of its own, on SQLite and on PostgreSQL.

On PostgreSQL the migrations run in a schema of their own inside the test database
(search_path), so they start from nothing without touching the schema the rest of the
suite works in, and without a second database.
"""

import alembic.config
import pytest
from pytest_alembic import Config
from sqlalchemy import create_engine, text

from ep import MIGRATIONS_DIRECTORY, create_app
from ep.config import load_config
from ep.extensions import db
from tests.support import is_postgres, make_instance

SCHEMA = "migration_tests"


@pytest.fixture
def alembic_url(migrated, tmp_path):
    if not is_postgres(migrated):
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    admin = create_engine(migrated)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    sep = "&" if "?" in migrated else "?"
    yield f"{migrated}{sep}options=-csearch_path%3D{SCHEMA}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


@pytest.fixture
def alembic_app(alembic_url, tmp_path):
    """An EP app on the scratch database: migrations/env.py runs inside its context."""
    app = create_app(load_config(make_instance(tmp_path / "instance", alembic_url), environ={}))
    with app.app_context():
        yield app
        db.engine.dispose()
    app.extensions["ep_operator_engine"].dispose()


@pytest.fixture
def alembic_engine(alembic_app):
    return db.engine


@pytest.fixture
def alembic_config(alembic_app):
    config = alembic.config.Config(str(MIGRATIONS_DIRECTORY / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    return Config(alembic_config=config)
