"""Fixtures: the app on a migrated test database (SQLite, or PostgreSQL from
EP_TEST_DATABASE_URL), a session emptied before each test, and personas.

Tests run against committed data rather than a rolled-back transaction: subprocess runs
of the real `ep` command and a real gunicorn must see what a test wrote.
"""

import os
from datetime import datetime, timedelta

import pytest
import time_machine
from flask import has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2.bccache import Bucket, BytecodeCache

from ep import create_app
from ep.config import load_config
from ep.domain.audit import Actor
from ep.domain.users import add_user
from ep.extensions import db
from ep.models import Base, Person
from ep.timeutil import utcnow

# the session's one test CA and its clients: defined here only, so every folder shares it
# (a fixture imported into several conftest files is several fixtures, each writing its
# own CA over the same file)
from tests.pki import cert_app, cert_client, cert_header, pki  # noqa: F401
from tests.support import empty_tables, make_instance, reset_schema, test_database_url


def pytest_addoption(parser):
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="run only the tests that use the test database, and none that drives a browser "
        "(`make test` runs these on PostgreSQL and on SQLite)",
    )
    parser.addoption(
        "--other-tests-only",
        action="store_true",
        help="run only the tests --database-tests-only leaves out: those that use no "
        "database, and the browser tests (`make test` runs these once, on SQLite)",
    )


def pytest_collection_modifyitems(config, items):
    """--database-tests-only: leave out what a second database would only repeat;
    --other-tests-only: only that.

    A test that never asks for the test database (``database_url``, which every app and
    session fixture stands on) and is not marked ``postgres`` runs the same whatever
    EP_TEST_DATABASE_URL says. The browser tests drive pages whose every query the
    Flask-client tests also run on both databases; what they add is the browser's view
    (layout at 360 px, axe, navigation).
    """
    database_only = config.getoption("--database-tests-only")
    others_only = config.getoption("--other-tests-only")
    if not database_only and not others_only:
        return
    if database_only and others_only:
        raise pytest.UsageError("--database-tests-only and --other-tests-only exclude each other")
    kept, left = [], []
    for item in items:
        uses_database = "database_url" in item.fixturenames or "postgres" in item.keywords
        repeated = not uses_database or "browser" in item.keywords
        (left if repeated == database_only else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def test_clock():
    """EP_TEST_CLOCK=2026-01-15T23:30:00+00:00 runs the session from that instant on.

    `make test-clock` runs the date-sensitive tests at 23:30 UTC in winter and summer and
    on both DST changes: Stockholm's day is then already tomorrow, which a test that
    builds "today" in UTC gets wrong. The clock ticks on from there; it moves this
    process only, not the `ep` or gunicorn processes a test starts.
    """
    start = os.environ.get("EP_TEST_CLOCK")
    if not start:
        yield None
        return
    with time_machine.travel(datetime.fromisoformat(start), tick=True) as traveller:
        yield traveller


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = test_database_url(tmp_path_factory.mktemp("db") / "ep-test.sqlite")
    reset_schema(url)
    return url


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory):
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def migrated(database_url, instance_path):
    """Migrate the test database once per session with the real migrations."""
    config = load_config(make_instance(instance_path, database_url), environ={})
    app = create_app(config)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    return database_url


@pytest.fixture
def config_path(migrated, instance_path):
    """The test instance's ep.ini (migrated database, empty tables)."""
    return instance_path / "ep.ini"


class TestClient(FlaskClient):
    """The Flask test client; ends the test's own transaction before each request.

    Requests write (sessions, rate-limit counters) on connections of their own. On SQLite
    in WAL mode a transaction that read before another connection wrote cannot write
    afterwards, so the test's session (db_session) must not carry a read across a request.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        return super().open(*args, **kwargs)


class _TemplateCode(BytecodeCache):
    """Compiled templates kept in this process by Jinja's key (Jinja's own example of a
    bytecode cache). The session makes thousands of apps, each with a Jinja environment of
    its own that would parse and compile every template it renders again (a fifth of the
    web tests' time). All are made by the same create_app, so they compile a template
    alike; Jinja reuses a template's code only while its source is unchanged (a checksum
    of it is kept beside)."""

    def __init__(self) -> None:
        self._codes: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._codes.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._codes[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = _TemplateCode()


@pytest.fixture
def make_app(config_path):
    """Build an app on the test database with appSettings overrides."""
    apps = []

    def make(**overrides):
        config = load_config(config_path, environ={}, overrides=overrides)
        app = create_app(config)
        app.config["TESTING"] = True
        app.jinja_env.bytecode_cache = TEMPLATE_CODE
        app.test_client_class = TestClient
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()
        app.extensions["ep_operator_engine"].dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        empty_tables(db.engine, Base.metadata)
    return app


@pytest.fixture
def db_session(app):
    with app.app_context():
        yield db.session
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now():
    return utcnow()


# -- personas (healthchecks' Alice, Bob and Charlie) --


@pytest.fixture
def resident(db_session, now):
    person = Person(
        personnummer="191212121212",
        given_name="Tolvan",
        family_name="Tolvansson",
        mobile="+46701234567",
        email="tolvan@example.invalid",
        channel="sms",
        created_at=now,
    )
    db_session.add(person)
    db_session.commit()
    return person


@pytest.fixture
def other_resident(db_session, now):
    person = Person(
        personnummer="198112289874",
        given_name="Greta",
        family_name="Granskare",
        email="greta@example.invalid",
        channel="email",
        language="en",
        created_at=now,
    )
    db_session.add(person)
    db_session.commit()
    return person


def _user(session, hsa_id, name, roles, now, **extra):
    user = add_user(
        session,
        hsa_id=hsa_id,
        name=name,
        roles=roles,
        actor=Actor.system("test"),
        now=now,
        **extra,
    )
    session.commit()
    return user


@pytest.fixture
def staff_user(db_session, now):
    return _user(
        db_session,
        "SE2321000016-S001",
        "Sara Sjöberg",
        ["staff"],
        now,
        care_unit_hsa_id="SE2321000016-VC01",
        care_unit_name="Vårdcentralen Tolvåsen",
    )


@pytest.fixture
def admin_user(db_session, now):
    return _user(db_session, "SE2321000016-A001", "Adam Alm", ["admin"], now)


@pytest.fixture
def operator_user(db_session, now):
    return _user(db_session, "SE2321000016-O001", "Olle Operatör", ["operator"], now)


@pytest.fixture
def outsider(db_session, now):
    """A known user with no role at all."""
    return _user(db_session, "SE2321000016-X001", "Ulla Utanför", [], now)


@pytest.fixture
def yesterday(now):
    return now - timedelta(days=1)
