"""`ep batch status | history | schedule` and the exit codes schedulers act on."""

from datetime import timedelta
from pathlib import Path

import pytest

from ep.batches.schedule import (
    EXAMPLE_LINUX,
    EXAMPLE_WINDOWS,
    RENDERERS,
    entries,
    render_task_xml,
    systemd_units,
)
from ep.models import BatchHeartbeat, BatchRun, Installation
from tests.support import EP_COMMAND, run_ep

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMMANDS = (
    "notify-reminders",
    "import-results",
    "notify-results",
    "expire-orders",
    "purge",
    "backup",
)


def hold_lock(session, *, name, silent_for, host="otherhost", pid=4321):
    since = silent_for + timedelta(minutes=1)
    run = BatchRun(batch=name, host=host, pid=pid, started_at=since)
    session.add(run)
    session.flush()
    session.add(
        BatchHeartbeat(
            batch=name,
            last_activity_at=silent_for,
            running_run_id=run.id,
            running_host=host,
            running_pid=pid,
            running_since=since,
        )
    )
    session.commit()
    return run


def test_a_second_start_while_a_run_is_alive_exits_75_naming_the_live_run(
    db_session, config_path, now
):
    live = hold_lock(db_session, name="EXPIREORDERS", silent_for=now - timedelta(seconds=20))

    refused = run_ep("batch", "expire-orders", config=config_path)

    assert refused.returncode == 75
    assert f"EXPIREORDERS is already running: run {live.id} on otherhost (pid 4321)" in (
        refused.stderr
    )
    assert refused.stdout == ""
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    assert db_session.query(BatchRun).count() == 1  # nothing recorded for the refused start


def test_a_run_silent_longer_than_the_lease_is_taken_over_by_the_next_start(
    db_session, config_path, now
):
    dead = hold_lock(db_session, name="EXPIREORDERS", silent_for=now - timedelta(minutes=6))

    done = run_ep("batch", "expire-orders", config=config_path)

    assert done.returncode == 0, done.stderr
    assert (
        f"run {dead.id} on otherhost (pid 4321) stopped without finishing: no heartbeat since"
        in done.stderr
    )
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    assert db_session.get(BatchRun, dead.id).status == "stopped"
    assert db_session.get(BatchHeartbeat, "EXPIREORDERS").last_outcome == "succeeded"


def test_status_shows_each_batch_with_last_activity_threshold_and_health(
    db_session, config_path, now
):
    db_session.add(Installation(created_at=now - timedelta(minutes=10)))
    db_session.commit()
    assert run_ep("batch", "expire-orders", config=config_path).returncode == 0
    db_session.add(
        BatchHeartbeat(
            batch="NOTIFYRESULTS",
            last_activity_at=now - timedelta(minutes=3),
            last_outcome="failed",
            last_run_id=None,
            last_failure_at=now - timedelta(minutes=3),
            last_error_type="TransientDeliveryError",
            last_error_message="SMS gateway answered 500",
        )
    )
    db_session.commit()

    shown = run_ep("batch", "status", config=config_path)

    assert shown.returncode == 1  # one batch is ERROR
    lines = {line.split()[0]: line for line in shown.stdout.splitlines()[1:]}
    assert set(lines) == {
        "NOTIFYREMINDERS",
        "IMPORTRESULTS",
        "NOTIFYRESULTS",
        "EXPIREORDERS",
        "PURGE",
        "BACKUP",
    }
    assert "1500 min  OK: Last activity" in lines["EXPIREORDERS"]
    assert "OK: Has not run yet." in lines["PURGE"]
    assert "30 min  ERROR: The latest run failed" in lines["NOTIFYRESULTS"]
    assert "TransientDeliveryError: SMS gateway answered 500" in lines["NOTIFYRESULTS"]
    assert "Run it again: ep batch notify-results" in lines["NOTIFYRESULTS"]


def test_status_uses_the_operations_manual_words_for_a_batch_that_went_quiet(
    db_session, config_path, now
):
    db_session.add(Installation(created_at=now - timedelta(days=3)))
    db_session.commit()

    shown = run_ep("batch", "status", config=config_path)

    assert shown.returncode == 1
    line = next(x for x in shown.stdout.splitlines() if x.startswith("NOTIFYREMINDERS"))
    assert (
        "ERROR: Configured to warn after 1500 minutes inactivity. Time is NOT within warning "
        "limits defined in ep.ini. Check task scheduler to see if batch is running." in line
    )


def test_history_lists_the_latest_runs_newest_first_with_their_errors(db_session, config_path, now):
    for minutes, status, error in ((30, "succeeded", None), (10, "failed", "Interrupted")):
        db_session.add(
            BatchRun(
                batch="PURGE",
                host="h1",
                pid=7,
                started_at=now - timedelta(minutes=minutes),
                finished_at=now - timedelta(minutes=minutes - 1),
                status=status,
                processed=12,
                succeeded=12,
                error_type=error,
                error_message="stopped by a signal" if error else None,
            )
        )
    db_session.commit()

    shown = run_ep("batch", "history", "PURGE", config=config_path)
    by_command = run_ep("batch", "history", "purge", "--limit", "1", config=config_path)

    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()[1:]
    assert len(rows) == 2
    assert "failed" in rows[0] and "Interrupted: stopped by a signal" in rows[0]
    assert "succeeded" in rows[1] and "60.0" in rows[1] and "h1 (7)" in rows[1]
    assert by_command.stdout.splitlines()[1:] == rows[:1]


@pytest.mark.parametrize("fmt", ["cron", "systemd", "schtasks"])
def test_schedule_prints_entries_with_this_installations_real_paths(config_path, app, fmt):
    shown = run_ep("batch", "schedule", "--format", fmt, config=config_path)

    assert shown.returncode == 0, shown.stderr
    assert str(config_path) in shown.stdout
    assert str(Path(EP_COMMAND).resolve()) in shown.stdout
    for command in COMMANDS:
        assert f"batch {command}" in shown.stdout


def test_the_cron_entries_run_each_batch_inside_its_warning_threshold(config_path, app):
    shown = run_ep("batch", "schedule", "--format", "cron", config=config_path)
    cron = [line for line in shown.stdout.splitlines() if line and not line.startswith("#")]
    assert cron[0] == f"EP_CONFIG={config_path}"
    assert any(line.startswith("0 7 * * * ") and "notify-reminders" in line for line in cron)
    assert any(line.startswith("0 3 * * 0 ") and "batch purge" in line for line in cron)


def test_the_files_in_deploy_are_the_schedule_with_example_paths():
    items = entries()
    assert (DEPLOY / "cron" / "ep.crontab").read_text() == RENDERERS["cron"](items, EXAMPLE_LINUX)
    for name, text in systemd_units(items, EXAMPLE_LINUX).items():
        assert (DEPLOY / "systemd" / name).read_text() == text
    for item in items:
        xml = DEPLOY / "windows" / f"EP-{item.name}.xml"
        assert xml.read_text() == render_task_xml(item, EXAMPLE_WINDOWS)


@pytest.mark.parametrize(
    "args",
    [
        ("batch", "expire-orders", "--limit", "0"),
        ("batch", "history", "NOSUCHBATCH"),
        ("batch", "schedule", "--format", "at"),
        ("batch", "no-such-command"),
    ],
)
def test_a_usage_error_exits_2(config_path, app, args):
    assert run_ep(*args, config=config_path).returncode == 2


def test_a_configuration_error_exits_2_naming_the_key(tmp_path):
    ini = tmp_path / "ep.ini"
    ini.write_text("[appSettings]\nBatchChunkSize = many\n", encoding="utf-8")
    refused = run_ep("batch", "expire-orders", config=ini)
    assert refused.returncode == 2
    assert "BatchChunkSize" in refused.stderr and "'many' is not a whole number" in refused.stderr


def test_a_database_that_cannot_be_reached_fails_the_start_with_one_line(config_path, app):
    refused = run_ep(
        "batch",
        "expire-orders",
        config=config_path,
        env={"EP_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("ep: EXPIREORDERS could not start: OperationalError:")
    assert "Traceback" not in refused.stderr
