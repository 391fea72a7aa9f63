"""What the operator sees under each fault (issue 9), with the real `ep` on both databases:
a killed run, a slow provider, no installation, no database."""

import signal
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from ep.batches.schedule import entries
from ep.healthcheck.checks import evaluate
from ep.healthcheck.formats import health_json, nagios, prometheus
from ep.models import BatchHeartbeat, BatchRun, Installation
from tests.batches.test_crash_and_rerun import expiring_orders, sms_env
from tests.support import make_instance, run_ep

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
BATCHES = ("NOTIFYREMINDERS", "IMPORTRESULTS", "NOTIFYRESULTS", "EXPIREORDERS", "PURGE")


@pytest.fixture
def installed(db_session, now):
    # a minute ago: the batches that have not run yet are still within their grace
    db_session.add(Installation(created_at=now - timedelta(minutes=1)))
    db_session.commit()


def kill_mid_send(db_session, now, sms_gateway, start_ep, env):
    """Start NOTIFYREMINDERS, kill -9 it while the gateway holds its first message."""
    expiring_orders(db_session, now, 3, people=3)
    reached = threading.Event()

    def on_request(request):
        reached.set()
        sms_gateway.released.wait(30)

    sms_gateway.on_request = on_request
    process = start_ep("batch", "notify-reminders", env=env)
    assert reached.wait(60), process.stderr.read() if process.poll() is not None else ""
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    sms_gateway.on_request = None
    sms_gateway.released.set()
    db_session.rollback()
    return db_session.get(BatchHeartbeat, "NOTIFYREMINDERS")


def test_a_killed_run_is_red_at_once_on_its_own_host_with_one_actionable_message(
    db_session, config_path, now, sms_gateway, start_ep, installed
):
    env = sms_env(sms_gateway)
    heartbeat = kill_mid_send(db_session, now, sms_gateway, start_ep, env)
    run_id, pid = heartbeat.running_run_id, heartbeat.running_pid
    assert run_id is not None  # nobody recorded the end: the process died

    check = run_ep("check", config=config_path, env=env)
    status = run_ep("batch", "status", config=config_path, env=env)
    history = run_ep("batch", "history", "notify-reminders", config=config_path, env=env)

    assert check.returncode == 2, check.stdout
    wanted = f"NOTIFYREMINDERS run {run_id} on "
    assert wanted in check.stdout and f"(pid {pid}) stopped without finishing" in check.stdout
    assert "its process no longer exists" in check.stdout
    assert "Run it again: ep batch notify-reminders" in check.stdout
    assert status.returncode == 1
    line = next(x for x in status.stdout.splitlines() if x.startswith("NOTIFYREMINDERS"))
    assert "ERROR: NOTIFYREMINDERS run" in line and "last heartbeat" in line
    row = next(x for x in history.stdout.splitlines() if x.split()[0] == str(run_id))
    assert "stopped?" in row  # ended at its last heartbeat, not "running" for a day


def test_a_killed_run_on_another_host_is_red_once_the_lease_has_passed(
    db_session, config_path, now, sms_gateway, start_ep, installed, app
):
    env = sms_env(sms_gateway, EP_BatchLeaseSeconds="300")
    kill_mid_send(db_session, now, sms_gateway, start_ep, env)
    # as if it ran on another host: only the lease can tell it died
    db_session.execute(
        update(BatchHeartbeat)
        .where(BatchHeartbeat.batch == "NOTIFYREMINDERS")
        .values(running_host="batch02")
    )
    db_session.commit()
    last = db_session.get(BatchHeartbeat, "NOTIFYREMINDERS").last_activity_at
    config = app.config["EP"]

    def state(at):
        report = evaluate(db_session, config, now=at)
        db_session.rollback()
        return next(c for c in report.checks if c.component == "NOTIFYREMINDERS")

    # the clock moved forward, not slept: inside the lease it is running, past it red
    assert state(last + timedelta(seconds=299)).message.endswith("running now.")
    stopped = state(last + timedelta(seconds=301))
    assert stopped.status == "fail"
    assert "stopped without finishing: no heartbeat for longer than BatchLeaseSeconds" in (
        stopped.message
    )
    # and the real `ep check` says the same once the heartbeat is that old
    db_session.execute(
        update(BatchHeartbeat)
        .where(BatchHeartbeat.batch == "NOTIFYREMINDERS")
        .values(last_activity_at=now - timedelta(seconds=301))
    )
    db_session.commit()
    check = run_ep("check", config=config_path, env=env)
    assert check.returncode == 2 and "(pid " in check.stdout and "batch02" in check.stdout

    # the next run takes over; until it succeeds the check stays red, then it is green
    rerun = run_ep("batch", "notify-reminders", config=config_path, env=env)
    assert rerun.returncode == 0, rerun.stderr
    db_session.rollback()
    killed = db_session.scalars(select(BatchRun).order_by(BatchRun.id)).first()
    assert killed.status == "stopped" and killed.error_type == "StoppedWithoutFinishing"
    # a killed run ends at its last heartbeat
    assert abs((killed.finished_at - (now - timedelta(seconds=301))).total_seconds()) < 1
    assert run_ep("check", config=config_path, env=env).returncode == 0


def test_a_slow_provider_never_causes_a_takeover_nor_a_duplicate(
    db_session, config_path, now, sms_gateway, start_ep, installed
):
    expected = expiring_orders(db_session, now, 25, people=25)
    sms_gateway.delay = 0.4  # each reply takes 0.4 s: the run lasts five times the lease
    env = sms_env(sms_gateway, EP_BatchLeaseSeconds="2")
    first = start_ep("batch", "notify-reminders", env=env)
    deadline = time.monotonic() + 60
    while not sms_gateway.requests and time.monotonic() < deadline:
        time.sleep(0.05)  # waits for the first run to be sending, not for time to pass

    def first_run_unfinished():
        # read from the database, not from the process: a run that has recorded its end
        # has released the lock, while its process may take a moment longer to exit
        db_session.rollback()
        return db_session.scalar(select(BatchRun.status).order_by(BatchRun.id).limit(1)) == (
            "running"
        )

    attempts = []  # (exit code, whether the first run was still unfinished after it, stderr)
    while first.poll() is None:
        second = run_ep("batch", "notify-reminders", config=config_path, env=env)
        attempts.append((second.returncode, first_run_unfinished(), second.stderr))
    _out, first_err = first.communicate(10)

    assert first.returncode == 0, first_err
    assert any(unfinished for _code, unfinished, _err in attempts), attempts
    takeovers = [(code, err) for code, unfinished, err in attempts if unfinished and code != 75]
    assert takeovers == []  # while the first run holds its lease, every other start is refused
    delivered = Counter(request.headers["idempotency-key"] for request in sms_gateway.requests)
    assert set(delivered) == expected
    assert max(delivered.values()) == 1  # 0 duplicates
    db_session.rollback()
    runs = db_session.scalars(select(BatchRun).order_by(BatchRun.id)).all()
    assert {run.status for run in runs} == {"succeeded"}
    assert sum(run.succeeded for run in runs) == 25
    assert (runs[0].queued, runs[0].succeeded) == (25, 25)  # counted apart


def test_without_an_installation_record_the_check_is_error(db_session, config_path):
    # the tables are there (`ep db upgrade`), the installation row is not
    check = run_ep("check", config=config_path)
    status = run_ep("batch", "status", config=config_path)

    assert check.returncode == 2
    assert "EP is not installed in this database: run `ep init`." in check.stdout
    assert status.returncode == 1
    assert status.stdout.startswith("ERROR: EP is not installed in this database")


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path):
    path = tmp_path / "nothing-here.sqlite"
    config = make_instance(tmp_path / "instance", f"sqlite:///{path}")

    for args in (("batch", "status"), ("batch", "expire-orders"), ("user", "list")):
        refused = run_ep(*args, config=config)
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stderr == (
            f"ep: no database at {path}: run `ep init` (or `ep db upgrade`) to create it\n"
        )
    check = run_ep("check", config=config)
    assert check.returncode == 2 and "no database at" in check.stdout
    assert not path.exists()
    assert run_ep("db", "upgrade", config=config).returncode == 0
    assert path.exists()


@pytest.mark.parametrize(
    "args, code",
    [
        (("batch", "status"), 1),
        (("batch", "history", "purge"), 1),
        (("batch", "expire-orders"), 1),
        (("user", "list"), 1),
        (("user", "grant", "SE2321000016-1234", "operator"), 1),
    ],
)
def test_with_the_database_down_every_command_answers_in_one_line(config_path, args, code):
    answered = run_ep(*args, config=config_path, env={"EP_DATABASE_URL": NOWHERE})

    assert answered.returncode == code, answered.stderr
    assert len(answered.stderr.splitlines()) == 1, answered.stderr
    assert "Traceback" not in answered.stderr and "[SQL:" not in answered.stderr


def test_with_the_database_down_the_check_lists_every_batch_as_unknown(config_path, app, now):
    check = run_ep("check", config=config_path, env={"EP_DATABASE_URL": NOWHERE})

    assert check.returncode == 2
    assert len(check.stdout.splitlines()) == 1
    for batch in BATCHES:
        assert f"{batch}: not checked: the database is unavailable" in check.stdout
    assert "[SQL:" not in check.stdout

    # the JSON and the metrics carry every batch too
    with Session(create_engine(NOWHERE)) as nowhere:
        report = evaluate(nowhere, app.config["EP"], now=now)
    body = health_json(report, now=now)
    metrics = prometheus(report)
    line, _code = nagios(report)
    for batch in BATCHES:
        assert body["checks"][f"{batch}:inactivity"][0]["output"] == (
            "not checked: the database is unavailable"
        )
        assert f'component="{batch}"' in metrics
    database = body["checks"]["database:responseTime"][0]["output"]
    assert database.startswith("The database cannot be reached: OperationalError: ")
    assert "\n" not in database and len(database) < 400


def test_schedule_systemd_out_writes_the_unit_files(config_path, app, tmp_path):
    out = tmp_path / "units"
    written = run_ep(
        "batch", "schedule", "--format", "systemd", "--out", str(out), config=config_path
    )

    assert written.returncode == 0, written.stderr
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(
        f"ep-{command}.{kind}"
        for command in (
            "notify-reminders",
            "import-results",
            "notify-results",
            "expire-orders",
            "purge",
            "backup",
        )
        for kind in ("service", "timer")
    )
    service = (out / "ep-purge.service").read_text()
    assert f"Environment=EP_CONFIG={config_path}" in service
    assert "ExecStart=" in service and "batch purge" in service
    assert "OnCalendar=Sun *-*-* 03:00:00" in (out / "ep-purge.timer").read_text()


def test_a_successful_run_with_a_log_file_says_nothing_and_a_failure_one_line(
    db_session, config_path, now, tmp_path, installed, sms_gateway
):
    log = tmp_path / "log" / "batches.log"
    quiet = run_ep("batch", "expire-orders", "--log-file", str(log), config=config_path)

    assert quiet.returncode == 0
    assert (quiet.stdout, quiet.stderr) == ("", "")  # cron mails nothing
    assert "EXPIREORDERS run" in log.read_text() and "succeeded in" in log.read_text()

    expiring_orders(db_session, now, 1)
    sms_gateway.answers = [(500, {"error": "gateway overloaded"})]
    env = sms_env(sms_gateway, EP_BatchMaxAttempts="1")
    failed = run_ep(
        "batch", "notify-reminders", "--log-file", str(log), config=config_path, env=env
    )

    assert failed.returncode == 1
    assert failed.stdout == "" and len(failed.stderr.splitlines()) == 1
    assert failed.stderr.startswith("ep: NOTIFYREMINDERS run ") and " failed in " in failed.stderr
    assert "rerun with: ep batch notify-reminders" in failed.stderr


def test_the_task_scheduler_starts_notifyresults_two_minutes_after_importresults():
    by_name = {entry.name: entry for entry in entries()}
    imports, notifies = by_name["IMPORTRESULTS"].when, by_name["NOTIFYRESULTS"].when
    assert "<StartBoundary>2026-01-01T00:00:00</StartBoundary>" in imports.trigger_xml
    assert "<StartBoundary>2026-01-01T00:02:00</StartBoundary>" in notifies.trigger_xml
    assert notifies.schtasks[-2:] == ("/ST", "00:02")
    assert imports.cron == "*/5 * * * *" and notifies.cron == "2-59/5 * * * *"
