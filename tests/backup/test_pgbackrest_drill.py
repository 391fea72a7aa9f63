"""The pgBackRest drill: continuous WAL archiving and point-in-time recovery, for real.

A throwaway PostgreSQL cluster in a temporary folder on a free port archives its WAL
with pgBackRest (Debian's package). The drill takes a full backup, commits orders,
notes a moment, commits more, restores the cluster to that moment, and finds every
order committed before it and none after; `ep check` passes on the restored cluster. The
runbook's PITR section is this drill, step by step.

Runs in the PostgreSQL pass of `make test` (CI), where the server binaries are installed.
"""

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from ep.backup.archiving import check_wal_archiving
from ep.models import Package, Person
from ep.texts import english
from ep.timeutil import utcnow
from tests.backup.conftest import commit_order
from tests.support import is_postgres, make_instance, run_ep

PG_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
STANZA = "drill"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not is_postgres(os.environ.get("EP_TEST_DATABASE_URL", "")),
        reason="the PostgreSQL pass runs the drill (EP_TEST_DATABASE_URL)",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of its own, run as the postgres user (initdb refuses root)."""

    def __init__(self, folder: Path):
        if not PG_BINARIES or not shutil.which("pgbackrest"):
            pytest.fail("the drill needs PostgreSQL's server binaries and pgbackrest (.ci/run)")
        self.bin = PG_BINARIES[-1].parent
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.conf = folder / "pgbackrest.conf"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/ep"

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*as_postgres, *command], capture_output=True, text=True, cwd=self.folder, timeout=180
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)}: {done.stdout}{done.stderr}")
        return done

    def pgbackrest(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("pgbackrest", f"--config={self.conf}", f"--stanza={STANZA}", *args)

    def set_up(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        archive = f"pgbackrest --config={self.conf} --stanza={STANZA} archive-push %p"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.folder}'\n"
                "wal_level = replica\narchive_mode = on\n"
                f"archive_command = '{archive}'\n"
                "max_wal_size = 64MB\nshared_buffers = 32MB\n"
            )
        self.conf.write_text(
            "[global]\n"
            f"repo1-path={self.folder / 'repo'}\nrepo1-retention-full=2\n"
            f"log-path={self.folder}\nlock-path={self.folder}\nspool-path={self.folder}\n"
            "start-fast=y\nlog-level-console=warn\n"
            f"[{STANZA}]\npg1-path={self.data}\npg1-port={self.port}\n"
            f"pg1-socket-path={self.folder}\n"
        )
        self.start()
        self.run(str(self.bin / "createdb"), "-h", str(self.folder), "-p", str(self.port), "ep")
        self.pgbackrest("stanza-create")

    def start(self) -> None:
        self.run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-t",
            "120",
            "start",
            "-l",
            str(self.folder / "server.log"),
        )

    def stop(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop", check=False)

    def sql(self, statement: str, **params):
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.execute(text(statement), params)
                return result.all() if result.returns_rows else []
        finally:
            engine.dispose()


@pytest.fixture
def cluster():
    # not under pytest's temporary folder: that is private to root, and the cluster runs
    # as postgres
    folder = Path(tempfile.mkdtemp(prefix="ep-pgbackrest-"))
    cluster = Cluster(folder)
    try:
        cluster.set_up()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def commit_orders(url: str, prefix: str, count: int) -> list[str]:
    """Commit ``count`` orders one transaction each; return their numbers."""
    engine = create_engine(url)
    numbers = [f"{prefix}{n:06d}" for n in range(count)]
    with Session(engine) as session:
        person = session.scalar(select(Person))
        package = session.scalar(select(Package))
        for number in numbers:
            commit_order(session, person=person, package=package, number=number)
    engine.dispose()
    return numbers


def test_point_in_time_recovery_keeps_every_order_committed_before_the_chosen_moment(
    cluster, tmp_path
):
    config = make_instance(tmp_path / "instance", cluster.url)
    init = run_ep(
        "init",
        "--demo",
        "--instance",
        str(tmp_path / "instance"),
        config=config,
        env={"EP_DATABASE_URL": cluster.url},
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    cluster.pgbackrest("backup", "--type=full")
    # pgBackRest keeps a backup's stop time in whole seconds and restores only to a target
    # after it: wait (by the database's clock) until the second after it has begun
    info = json.loads(cluster.pgbackrest("info", "--output=json").stdout)
    stopped = info[0]["backup"][-1]["timestamp"]["stop"]
    while cluster.sql("SELECT extract(epoch FROM clock_timestamp())")[0][0] <= stopped + 1:
        time.sleep(0.1)

    before = commit_orders(cluster.url, "PITR-BEFORE-", 300)
    # the moment to recover to, by the database's own clock, after the last commit above
    (moment,) = cluster.sql("SELECT clock_timestamp()")[0]
    time.sleep(0.01)  # pgBackRest's target is a timestamp: the next commit must be later
    after = commit_orders(cluster.url, "PITR-AFTER-", 100)
    cluster.pgbackrest("check")  # switches WAL and waits until the segment is archived
    engine = create_engine(cluster.url)
    with engine.connect() as connection:
        ok, message = check_wal_archiving(connection, now=utcnow(), warn_after_minutes=60)
    engine.dispose()
    assert ok, english(message)

    cluster.stop()
    cluster.pgbackrest(
        "restore",
        "--delta",
        "--type=time",
        f"--target={moment.isoformat(sep=' ')}",
        "--target-action=promote",
    )
    cluster.start()
    deadline = time.monotonic() + 120
    while cluster.sql("SELECT pg_is_in_recovery()")[0][0]:
        assert time.monotonic() < deadline, "recovery did not finish"
        time.sleep(0.2)

    present = {
        row[0] for row in cluster.sql("SELECT number FROM \"order\" WHERE number LIKE 'PITR-%'")
    }
    assert set(before) <= present
    assert not present & set(after)
    check = run_ep("check", config=config, env={"EP_DATABASE_URL": cluster.url})
    assert check.returncode == 0, check.stdout


def test_the_archiver_check_warns_when_archiving_fails(cluster):
    cluster.sql("ALTER SYSTEM SET archive_command = 'false'")
    cluster.sql("SELECT pg_reload_conf()")
    cluster.sql("CREATE TABLE filler AS SELECT generate_series(1, 1000) AS n")
    cluster.sql("SELECT pg_switch_wal()")
    engine = create_engine(cluster.url)
    deadline = time.monotonic() + 60
    try:
        while True:
            with engine.connect() as connection:
                ok, message = check_wal_archiving(connection, now=utcnow(), warn_after_minutes=60)
            if not ok or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the archiver retries on its own schedule
    finally:
        engine.dispose()
        cluster.sql("ALTER SYSTEM RESET archive_command")
        cluster.sql("SELECT pg_reload_conf()")
    assert not ok
    assert english(message).startswith("WAL archiving fails: ")
