"""BACKUP: `ep batch backup` runs through the runner, and the health check watches it
like every other batch (ok, late, failed)."""

import json
from datetime import timedelta

import pytest

from ep.backup import PREFIX, list_backups
from ep.batches.backup import BACKUP
from ep.config import load_config
from ep.domain.installation import ensure_installation
from ep.healthcheck.checks import FAIL, PASS, evaluate
from ep.models import BatchHeartbeat, BatchRun
from ep.timeutil import as_utc
from tests.healthcheck.conftest import record_run
from tests.support import run_ep


def backup_check(session, config, now):
    report = evaluate(session, config, now=now)
    return next(check for check in report.checks if check.component == "BACKUP")


@pytest.fixture
def backups(tmp_path):
    return tmp_path / "backups"


@pytest.fixture
def backup_app(make_app, app, backups):
    return make_app(BackupDirectory=str(backups), BackupRetainCount="2")


def test_the_real_command_previews_then_writes_a_backup_recorded_as_a_run(
    db_session, config_path, now
):
    # installed a minute ago: the other batches have not run yet, which is no error
    ensure_installation(db_session, now=now - timedelta(minutes=1), demo=False)
    db_session.commit()
    folder = load_config(config_path, environ={}).path_of("BackupDirectory")
    before = set(list_backups(folder))

    preview = run_ep("batch", "backup", "--dry-run", config=config_path)
    assert preview.returncode == 0, preview.stderr
    assert f"database into {folder.absolute()}" in preview.stdout
    assert set(list_backups(folder)) == before

    done = run_ep("batch", "backup", config=config_path)

    assert done.returncode == 0, done.stderr
    assert "BACKUP run" in done.stdout and "succeeded" in done.stdout
    (new,) = set(list_backups(folder)) - before
    manifest = json.loads((new / "manifest.json").read_text())
    assert manifest["tables"]["installation"] == 1
    assert f"backed up {sum(manifest['tables'].values())} rows" in done.stderr
    db_session.rollback()  # a fresh snapshot: the runs committed on sessions of their own
    heartbeat = db_session.get(BatchHeartbeat, "BACKUP")
    assert heartbeat.last_outcome == "succeeded"
    assert db_session.get(BatchRun, heartbeat.last_run_id).status == "succeeded"
    checked = run_ep("check", config=config_path)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.startswith("EP OK")
    assert "'BACKUP_inactivity'=" in checked.stdout  # minutes since the run: ;1500;1500


def test_a_failed_backup_is_red_until_the_next_one_succeeds_and_keeps_older_backups(
    db_session, backup_app, run, backups, now
):
    ensure_installation(db_session, now=now - timedelta(days=1), demo=False)
    db_session.commit()
    config = backup_app.config["EP"]
    older = backups / f"{PREFIX}20200101T000000Z"
    older.mkdir(parents=True)
    (older / "manifest.json").write_text("{}")
    # a folder already bearing this second's name: the backup refuses to write over it
    (backups / f"{PREFIX}{as_utc(now):%Y%m%dT%H%M%SZ}").mkdir()

    failed = run(BACKUP, app=backup_app, clock=lambda: now)

    assert failed.exit_code == 1
    assert failed.error_type == "BackupError" and "exists already" in failed.error_message
    assert list_backups(backups) == [older]  # a failed backup never costs an older one
    db_session.rollback()
    check = backup_check(db_session, config, now + timedelta(minutes=1))
    assert check.status == FAIL
    assert "The latest run failed" in check.message and "exists already" in check.message
    assert check.message.endswith("Run it again: ep batch backup")

    later = now + timedelta(seconds=1)
    succeeded = run(BACKUP, app=backup_app, clock=lambda: later)

    assert succeeded.exit_code == 0 and succeeded.succeeded == 1
    (written,) = list_backups(backups)[1:]  # BackupRetainCount = 2 kept: the older one too
    assert written.name == f"{PREFIX}{as_utc(later):%Y%m%dT%H%M%SZ}"
    db_session.rollback()  # a fresh snapshot: the runs committed on sessions of their own
    check = backup_check(db_session, config, later + timedelta(minutes=1))
    assert check.status == PASS, check.message
    assert "last run succeeded" in check.message


@pytest.mark.parametrize("minutes_ago, status", [(1499, PASS), (1501, FAIL)])
def test_a_night_without_a_backup_turns_the_health_check_red(
    db_session, app, now, minutes_ago, status
):
    ensure_installation(db_session, now=now - timedelta(days=10), demo=False)
    started = now - timedelta(minutes=minutes_ago, seconds=40)
    record_run(db_session, "BACKUP", started=started, status="succeeded")
    db_session.commit()

    check = backup_check(db_session, app.config["EP"], now)

    assert check.status == status
    assert check.threshold == "1500 min"
    if status == FAIL:
        assert check.message.startswith("Configured to warn after 1500 minutes inactivity.")
