"""Runs that meet each other: deadlocks and lock timeouts on PostgreSQL, parallel senders,
SIGTERM from the scheduler, and what a person at a terminal sees."""

import os
import pty
import select as select_module
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, select, text, update

from ep.batches.notify_reminders import NOTIFYREMINDERS
from ep.batches.runner import Batch, Reporter, StepResult
from ep.models import BatchRun, Notification, Person
from tests.batches import factories
from tests.batches.test_crash_and_rerun import TOKEN, expiring_orders, sms_env
from tests.support import EP_COMMAND, is_postgres


@pytest.fixture
def postgres_only(database_url):
    if not is_postgres(database_url):
        pytest.skip("needs PostgreSQL (set EP_TEST_DATABASE_URL)")


@pytest.fixture
def other_connection(database_url):
    """A second, independent database connection: another transaction in the way."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


class Log(Reporter):
    def __init__(self):
        self.lines = []
        self.retrying = threading.Event()

    def log(self, message):
        self.lines.append(message)
        if "retrying" in message:
            self.retrying.set()


def one_shot(name, body):
    """A batch with one step that runs ``body(ctx, attempt)`` until it succeeds once."""
    attempts = []

    def step(ctx):
        if ctx.state.get("done"):
            return None
        attempts.append(len(attempts) + 1)
        body(ctx, len(attempts))
        ctx.session.commit()
        ctx.state["done"] = True
        return StepResult(succeeded=1)

    batch = Batch(factories.spec(name), steps=(step,), preview=list)
    return batch, attempts


def two_people(db_session, now):
    first = factories.person(db_session, now=now)
    second = factories.person(db_session, now=now)
    db_session.commit()
    return first.id, second.id


def rename(connection_or_session, person_id, name):
    connection_or_session.execute(
        update(Person).where(Person.id == person_id).values(given_name=name)
    )


def wait_until_waiting_for_a_lock(database_url, pid):
    """Return once the backend ``pid`` waits for a lock (a fresh look each time)."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                waiting = connection.scalar(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                )
                if waiting == "Lock":
                    return
                time.sleep(0.02)  # polls another backend's state, not the clock
    finally:
        engine.dispose()
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_a_deadlock_on_postgresql_is_retried_and_the_run_succeeds(
    postgres_only, database_url, db_session, now, run, read, other_connection
):
    a, b = two_people(db_session, now)
    other_holds_b, batch_holds_a = threading.Event(), threading.Event()
    other_pid = other_connection.scalar(text("SELECT pg_backend_pid()"))

    def body(ctx, attempt):
        # the batch is the one PostgreSQL picks to abort: it checks for deadlocks first
        ctx.session.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
        rename(ctx.session, a, "batch")
        if attempt == 1:
            batch_holds_a.set()
            assert other_holds_b.wait(10)
            # only once the other waits for row a does the batch ask for row b: the batch's
            # deadlock check then always finds the cycle, however slowly the other started
            wait_until_waiting_for_a_lock(database_url, other_pid)
        rename(ctx.session, b, "batch")

    def other():
        other_connection.execute(text("SET deadlock_timeout = '10s'"))
        rename(other_connection, b, "other")
        other_holds_b.set()
        batch_holds_a.wait(10)
        rename(other_connection, a, "other")  # waits for the batch: a deadlock
        other_connection.commit()

    thread = threading.Thread(target=other)
    thread.start()
    batch, attempts = one_shot("DEADLOCKTEST", body)
    log = Log()
    outcome = run(batch, reporter=log)
    thread.join(20)

    assert outcome.status == "succeeded" and attempts == [1, 2]
    assert any("DeadlockDetected" in line and "attempt 1 of 3" in line for line in log.lines)
    names = dict(read(select(Person.id, Person.given_name)))
    assert names == {a: "batch", b: "batch"}  # the retry did the work after the other


def test_a_lock_timeout_on_postgresql_is_retried_and_the_run_succeeds(
    postgres_only, db_session, now, make_app, run, read, other_connection
):
    a, _ = two_people(db_session, now)
    rename(other_connection, a, "other")  # holds the row, uncommitted
    log = Log()

    def release_when_the_batch_retries():
        log.retrying.wait(20)
        other_connection.commit()

    def body(ctx, attempt):
        ctx.session.execute(text("SET LOCAL lock_timeout = '100ms'"))
        rename(ctx.session, a, "batch")

    thread = threading.Thread(target=release_when_the_batch_retries)
    thread.start()
    batch, attempts = one_shot("LOCKTIMEOUTTEST", body)
    app = make_app(BatchRetryDelayMilliseconds="300", BatchMaxAttempts="5")
    outcome = run(batch, app=app, reporter=log)
    thread.join(20)

    assert outcome.status == "succeeded" and len(attempts) >= 2
    assert any("LockNotAvailable" in line for line in log.lines)
    assert dict(read(select(Person.id, Person.given_name)))[a] == "batch"


def test_four_parallel_workers_deliver_each_notification_exactly_once(
    db_session, now, make_app, run, read, sms_gateway
):
    expected = expiring_orders(db_session, now, 120, people=12)
    app = make_app(
        NotificationChannel="sms",
        SmsGatewayUrl=sms_gateway.url,
        SmsGatewayToken=TOKEN,
        BatchChunkSize="7",
        BatchRetryDelayMilliseconds="50",
    )
    # four workers running NOTIFYREMINDERS' own steps side by side; each under its own
    # name, so the one-at-a-time lock does not keep them apart and only the claims do
    workers = [
        Batch(factories.spec(f"WORKER{n}"), NOTIFYREMINDERS.steps, NOTIFYREMINDERS.preview)
        for n in range(4)
    ]
    outcomes = [None] * 4
    start = threading.Barrier(4)

    def work(n):
        start.wait(10)
        outcomes[n] = run(workers[n], app=app, clock=lambda: now)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert [o.status for o in outcomes] == ["succeeded"] * 4
    delivered = Counter(r.headers["idempotency-key"] for r in sms_gateway.requests)
    assert set(delivered) == expected and set(delivered.values()) == {1}
    assert sum(o.queued for o in outcomes) == len(expected)  # queued once
    assert sum(o.succeeded for o in outcomes) == len(expected)  # and sent once
    assert {row[0] for row in read(select(Notification.status))} == {"sent"}


def test_sigterm_finishes_the_message_in_flight_and_records_the_run_interrupted(
    db_session, config_path, now, sms_gateway, start_ep
):
    expiring_orders(db_session, now, 6)
    in_flight = threading.Event()

    def hold_the_third(request):
        if len(sms_gateway.requests) == 2:  # this is the third request
            in_flight.set()
            sms_gateway.released.wait(30)

    sms_gateway.on_request = hold_the_third
    process = start_ep("batch", "notify-reminders", env=sms_env(sms_gateway))
    assert in_flight.wait(60)
    process.send_signal(signal.SIGTERM)
    sms_gateway.released.set()
    out, err = process.communicate(timeout=30)

    assert process.returncode == 1, err
    assert "Interrupted: stopped by a signal after" in out
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    statuses = Counter(db_session.scalars(select(Notification.status)))
    assert statuses == {"sent": 3, "pending": 3}  # the one in flight was finished
    run_row = db_session.scalars(select(BatchRun)).one()
    assert (run_row.status, run_row.error_type) == ("failed", "Interrupted")


def test_a_terminal_shows_a_progress_bar_and_cron_gets_plain_lines(
    db_session, config_path, now, tmp_path
):
    factories.expiring_orders(db_session, now, 4)
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env.update(EP_CONFIG=str(config_path), EP_NotificationDirectory=str(tmp_path / "out"))
    process = subprocess.Popen(
        [EP_COMMAND, "batch", "notify-reminders"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select_module.select([controller], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the command has exited and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    out, _ = process.communicate(timeout=30)
    os.close(controller)

    assert process.returncode == 0
    screen = shown.decode()
    assert "NOTIFYREMINDERS 5/5 [##############################] 4/4" in screen
    assert "started on" in screen
    assert out.startswith("NOTIFYREMINDERS run ")
