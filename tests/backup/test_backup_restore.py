"""`ep db backup` and `ep db restore`: the restore drill, on SQLite and on PostgreSQL.

Back up while a writer commits orders, restore into an empty database, and find every
order committed before the backup began; refuse a target with data and a damaged copy.
"""

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from ep.backup import BackupError, Manifest, list_backups, pg_tool, prune_backups
from ep.database import configure_engine, engine_options
from ep.domain.demo import load_demo
from ep.domain.installation import ensure_installation
from ep.models import Order, Package, Person
from ep.timeutil import utcnow
from tests.backup.conftest import commit_order, migrate, restore_into
from tests.migrations.released import RELEASED
from tests.migrations.rows import insert_rows
from tests.support import make_instance, run_ep


def engine_for(url):
    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    return engine


def installed_with_demo(url):
    """Record an installation with the demo catalogue and resident; return the engine."""
    engine = engine_for(url)
    with Session(engine) as session:
        ensure_installation(session, now=utcnow(), demo=True)
        load_demo(session, now=utcnow())
        session.commit()
    return engine


class OrderWriter(threading.Thread):
    """Commits one order per transaction, as the web server does, until stopped."""

    def __init__(self, engine):
        super().__init__(daemon=True)
        self.engine = engine
        self.committed: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            with Session(self.engine) as session:
                person = session.scalar(select(Person))
                package = session.scalar(select(Package))
                while not self.stop.is_set():
                    number = f"DRILL{len(self.committed):07d}"
                    commit_order(session, person=person, package=package, number=number)
                    self.committed.append(number)  # only once the commit returned
        except BaseException as exc:  # the test fails on it below
            self.error = exc

    def wait_for(self, count):
        while len(self.committed) < count and self.error is None and self.is_alive():
            self.stop.wait(0.01)


def order_numbers(url):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(Order.number)))
    finally:
        engine.dispose()


def test_a_backup_taken_while_orders_are_committed_restores_every_order_committed_before_it(
    scratch_url, restore_url, tmp_path
):
    source = make_instance(tmp_path / "source", scratch_url)
    migrate(source)
    engine = installed_with_demo(scratch_url)
    writer = OrderWriter(engine)
    writer.start()
    writer.wait_for(50)
    before_backup = list(writer.committed)

    backup = run_ep("db", "backup", config=source)

    after_backup = len(writer.committed)
    writer.stop.set()
    writer.join()
    engine.dispose()
    assert writer.error is None
    assert backup.returncode == 0, backup.stderr
    assert after_backup > len(before_backup)  # the writer went on committing throughout
    (folder,) = list_backups(tmp_path / "source" / "backups")
    manifest = Manifest.read(folder)
    assert manifest.tables["order"] >= len(before_backup)
    assert manifest.schema_revision is not None

    restore, target = restore_into(restore_url, folder, tmp_path / "target")

    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "EP OK" in restore.stdout
    assert f"restored {manifest.rows} rows" in restore.stdout
    restored = order_numbers(restore_url)
    assert set(before_backup) <= restored
    assert len(restored) == manifest.tables["order"]
    check = run_ep("check", config=target)
    assert check.returncode == 0, check.stdout


def test_a_sqlite_backup_holds_the_commits_a_file_copy_misses(tmp_path):
    """The issue's finding: 100 commits from a process that stays open live in the WAL."""
    url = f"sqlite:///{tmp_path / 'ep.sqlite'}"
    config = make_instance(tmp_path, url)
    migrate(config)
    engine = installed_with_demo(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")  # as if never reached
        for n in range(100):
            connection.execute(
                text(
                    "INSERT INTO audit_event (at, actor_type, actor_id, action)"
                    " VALUES (:at, 'system', :who, 'drill')"
                ),
                {"at": utcnow(), "who": f"writer-{n}"},
            )
            connection.commit()
        shutil.copy(tmp_path / "ep.sqlite", tmp_path / "copy.sqlite")  # while still open

        done = run_ep("db", "backup", config=config)

        (folder,) = list_backups(tmp_path / "backups")
        with sqlite3.connect(tmp_path / "copy.sqlite") as copy:
            copied = copy.execute("SELECT count(*) FROM audit_event WHERE action = 'drill'")
            assert copied.fetchone()[0] == 0
    engine.dispose()
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(folder / "ep.sqlite") as backup:
        backed_up = backup.execute("SELECT count(*) FROM audit_event WHERE action = 'drill'")
        assert backed_up.fetchone()[0] == 100


def test_restore_refuses_a_database_that_holds_data(scratch_url, tmp_path):
    config = make_instance(tmp_path, scratch_url)
    migrate(config)
    installed_with_demo(scratch_url).dispose()
    assert run_ep("db", "backup", config=config).returncode == 0
    (folder,) = list_backups(tmp_path / "backups")

    done = run_ep("db", "restore", str(folder), config=config)

    assert done.returncode == 1
    assert "restore refused: the target database holds data: " in done.stderr
    assert "analysis (7 rows)" in done.stderr


def test_restore_refuses_a_copy_whose_checksum_does_not_match(scratch_url, restore_url, tmp_path):
    config = make_instance(tmp_path / "source", scratch_url)
    migrate(config)
    assert run_ep("db", "backup", config=config).returncode == 0
    (folder,) = list_backups(tmp_path / "source" / "backups")
    manifest = Manifest.read(folder)
    with (folder / manifest.data_file).open("r+b") as copy:
        copy.seek(manifest.size_bytes // 2)
        copy.write(b"\x00damaged\x00")

    done, _ = restore_into(restore_url, folder / "manifest.json", tmp_path / "target")

    assert done.returncode == 1
    assert "checksum does not match the manifest (damaged copy)" in done.stderr
    engine = create_engine(restore_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
        assert inspect(connection).get_table_names() == []  # nothing was loaded
    engine.dispose()


def test_restore_upgrades_a_backup_of_an_older_schema_to_head(scratch_url, restore_url, tmp_path):
    source = make_instance(tmp_path / "source", scratch_url)
    migrate(source, revision="0001")
    # rows as a release-0001 database held them (today's models have columns it lacks)
    engine = engine_for(scratch_url)
    with engine.begin() as connection:
        insert_rows(connection, RELEASED["0001"])
    with Session(engine) as session:
        persons = session.scalar(select(func.count()).select_from(Person))
    engine.dispose()
    assert run_ep("db", "backup", config=source).returncode == 0
    (folder,) = list_backups(tmp_path / "source" / "backups")
    assert Manifest.read(folder).schema_revision == "0001"

    done, _ = restore_into(restore_url, folder, tmp_path / "target")

    # every row back and upgraded; the health check then judges the restored history
    # (this release's rows are months old, so the batches are late: red, as they should be)
    assert "all as counted" in done.stdout, done.stdout + done.stderr
    assert "EP CRITICAL" in done.stdout and "Last activity: 2026-03-29" in done.stdout
    assert "upgrading the schema from 0001 to " in done.stdout
    engine = create_engine(restore_url)
    with engine.connect() as connection:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert revision != "0001"
        assert connection.execute(select(func.count()).select_from(Person)).scalar() == persons
    engine.dispose()


def test_only_the_newest_backups_are_kept(tmp_path):
    for stamp in ("20261101T000000Z", "20261102T000000Z", "20261103T000000Z"):
        folder = tmp_path / f"ep-backup-{stamp}"
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps({}))
    (tmp_path / ".ep-backup-20261104T000000Z.partial").mkdir()  # a backup that broke off
    (tmp_path / "ep-backup-notes").mkdir()  # not a backup: no manifest

    deleted = prune_backups(tmp_path, keep=2)

    assert [p.name for p in deleted] == ["ep-backup-20261101T000000Z"]
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == [
        ".ep-backup-20261104T000000Z.partial",
        "ep-backup-20261102T000000Z",
        "ep-backup-20261103T000000Z",
        "ep-backup-notes",
    ]


@pytest.mark.parametrize("keep", [1, 3])
def test_ep_db_backup_applies_backup_retain_count(tmp_path, keep):
    url = f"sqlite:///{tmp_path / 'ep.sqlite'}"
    config = make_instance(tmp_path, url, BackupRetainCount=str(keep))
    migrate(config)
    for stamp in ("20261101T000000Z", "20261102T000000Z"):
        old = tmp_path / "backups" / f"ep-backup-{stamp}"
        old.mkdir(parents=True)
        (old / "manifest.json").write_text("{}")

    done = run_ep("db", "backup", config=config)

    assert done.returncode == 0, done.stderr
    kept = list_backups(tmp_path / "backups")
    assert len(kept) == keep
    assert kept[-1].name.startswith("ep-backup-2026") and "20261102" not in kept[-1].name


def test_a_pg_dump_older_than_the_server_is_refused_with_what_to_install(tmp_path, monkeypatch):
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.16'\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("ep.backup.PG_BIN_DIRECTORY", str(tmp_path / "none" / "{major}"))

    with pytest.raises(BackupError) as refused:
        pg_tool("pg_dump", 15)

    assert str(refused.value) == (
        "no pg_dump of PostgreSQL 15 or newer found (install postgresql-client-15)"
    )
    assert pg_tool("pg_dump", 13) == str(old)
