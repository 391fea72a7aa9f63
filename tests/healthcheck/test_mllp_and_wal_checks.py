"""The MLLP listeners and PostgreSQL's WAL archive in the health check."""

import os
import socket
from datetime import timedelta

from ep.backup.archiving import judge_archiving
from ep.domain.installation import ensure_installation
from ep.healthcheck.checks import (
    FAIL,
    PASS,
    WARN,
    check_mllp_listeners,
    check_wal_archive,
    evaluate,
)
from ep.healthcheck.formats import health_json, nagios
from ep.models import MllpListener
from tests.backup.test_archiving import stats
from tests.support import gone_pid, is_postgres

HOST = socket.gethostname()


def listener(now, *, id=1, host=HOST, address="0.0.0.0:2575", pid=None, stopped=False):
    return MllpListener(
        id=id,
        hostname=host,
        address=address,
        pid=os.getpid() if pid is None else pid,
        listening_since=None if stopped else now - timedelta(hours=5),
        stopped_at=now - timedelta(hours=1) if stopped else None,
        last_message_at=now - timedelta(minutes=3),
        messages=1234,
    )


def test_a_listening_listener_shows_since_when_how_many_and_the_last_message(now):
    (check,) = check_mllp_listeners([listener(now)], host=HOST)

    assert check.status == PASS
    assert check.message.startswith(f"MLLP listener on 0.0.0.0:2575 ({HOST}) listening since ")
    assert ", 1234 messages, last at " in check.message
    assert check.observed_value == 1234


def test_a_listener_whose_process_on_this_host_is_gone_is_an_error(now):
    (check,) = check_mllp_listeners([listener(now, pid=gone_pid())], host=HOST)

    assert check.status == FAIL
    assert "stopped without finishing: its process no longer exists" in check.message
    assert check.command == "systemctl restart ep-mllp"


def test_a_process_on_another_host_is_not_judged_from_here(now):
    (check,) = check_mllp_listeners([listener(now, host="mllp02", pid=gone_pid())], host=HOST)
    assert check.status == PASS


def test_a_stopped_listener_warns_unless_another_one_listens(now):
    stopped = listener(now, stopped=True)
    (alone,) = check_mllp_listeners([stopped], host=HOST)
    assert alone.status == WARN
    assert alone.message.startswith("MLLP listener on 0.0.0.0:2575 stopped at ")

    other = listener(now, id=2, host="mllp02")
    beside = check_mllp_listeners([stopped, other], host=HOST)
    assert [check.status for check in beside] == [PASS, PASS]
    assert "another listener is listening" in beside[0].message

    dead = listener(now, id=3, address="0.0.0.0:2576", pid=gone_pid())
    statuses = [check.status for check in check_mllp_listeners([stopped, dead], host=HOST)]
    assert statuses == [WARN, FAIL]  # a dead listener is no one listening


def test_without_listeners_there_is_no_mllp_check(db_session, app, now):
    report = evaluate(db_session, app.config["EP"], now=now)
    assert not [check for check in report.checks if check.component == "mllpListener"]


def test_a_dead_listener_turns_health_check_status_to_error(db_session, app, now):
    db_session.add(listener(now, pid=gone_pid()))
    db_session.commit()

    report = evaluate(db_session, app.config["EP"], now=now, detail=False)

    (check,) = [check for check in report.checks if check.component == "mllpListener"]
    assert check.status == FAIL and not report.ok
    line, code = nagios(report)
    assert code == 2 and "MLLP listener on 0.0.0.0:2575" in line


def test_the_wal_archive_check_warns_and_names_the_command(now):
    ok, message = judge_archiving(stats(archive_mode="off"), now=now, warn_after_minutes=60)
    check = check_wal_archive(ok, message, warn_after_minutes=60)
    assert check.status == WARN
    assert check.message == "WAL archiving is expected but archive_mode is off."
    assert check.command == "sudo -u postgres pgbackrest --stanza=ep check"
    assert check_wal_archive(True, "works", warn_after_minutes=60).status == PASS


def test_with_archiving_expected_postgresql_is_asked_and_sqlite_is_not(
    make_app, app, db_session, migrated, now
):
    ensure_installation(db_session, now=now - timedelta(minutes=1), demo=False)
    db_session.commit()
    expecting = make_app(WalArchivingExpected="true")
    with expecting.app_context():
        report = evaluate(db_session, expecting.config["EP"], now=now)
    checks = [check for check in report.checks if check.component == "walArchive"]
    if not is_postgres(migrated):
        assert checks == []
        return
    # the test server archives nothing: archive_mode is off
    (check,) = checks
    assert check.status == WARN
    assert "archive_mode is off" in check.message
    assert report.ok  # a warning: HealthCheckStatus stays OK
    body = health_json(report, now=now)
    assert body["checks"]["walArchive:archiving"][0]["output"] == check.message
    plain = evaluate(db_session, app.config["EP"], now=now)
    assert not [check for check in plain.checks if check.component == "walArchive"]
