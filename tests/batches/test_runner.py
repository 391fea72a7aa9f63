"""The runner every batch shares: run records, heartbeats, the lock, retries, stopping."""

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ep.batches.runner import (
    Batch,
    BatchLocked,
    StepResult,
    TransientError,
    is_transient,
)
from ep.models import BatchHeartbeat, BatchRun
from ep.timeutil import utcnow
from tests.batches import factories


class Work:
    """A test batch over an in-memory list: each call takes one chunk of items."""

    def __init__(self, count, *, fail_with=None, failures=0, on_item=None, name="TESTBATCH"):
        self.items = list(range(count))
        self.done = []
        self.fail_with, self.failures, self.on_item = fail_with, failures, on_item
        self.batch = Batch(
            factories.spec(name),
            steps=(self.step,),
            preview=lambda ctx: [f"would do {len(self.items)} items"],
        )

    def step(self, ctx):
        if self.failures:
            self.failures -= 1
            raise self.fail_with
        chunk = self.items[: ctx.chunk_size()]
        if not chunk:
            return None
        result = StepResult()
        for item in chunk:
            if ctx.stopping:
                break
            if self.on_item:
                self.on_item(ctx, item)
            self.items.remove(item)
            self.done.append(item)
            result.succeeded += 1
        return result


def heartbeat(read, name="TESTBATCH"):
    rows = read(select(BatchHeartbeat).where(BatchHeartbeat.batch == name))
    return rows[0][0] if rows else None


def runs(read, name="TESTBATCH"):
    return [row[0] for row in read(select(BatchRun).where(BatchRun.batch == name))]


def test_a_run_does_every_item_and_records_its_counts_and_heartbeat(run, read):
    work = Work(7)
    outcome = run(work.batch)
    assert outcome.status == "succeeded" and outcome.exit_code == 0
    assert work.done == list(range(7))
    [recorded] = runs(read)
    assert (recorded.status, recorded.processed, recorded.succeeded) == ("succeeded", 7, 7)
    assert recorded.finished_at >= recorded.started_at
    beat = heartbeat(read)
    assert beat.last_outcome == "succeeded" and beat.last_run_id == recorded.id
    assert beat.last_success_at == beat.last_activity_at == recorded.finished_at
    assert beat.running_run_id is None and beat.running_pid is None


def test_the_heartbeat_shows_the_live_run_while_it_works(run, read):
    seen = []

    def look(ctx, item):
        if item == 0:
            seen.append(heartbeat(read))

    run(Work(1, on_item=look).batch, host="batchhost", pid=4242)
    live = seen[0]
    assert (live.running_host, live.running_pid) == ("batchhost", 4242)
    assert live.running_run_id is not None and live.running_since is not None


def test_a_second_start_while_a_run_is_alive_is_refused_naming_the_live_run(run, read):
    started, release = threading.Event(), threading.Event()

    def hold(ctx, item):
        started.set()
        release.wait(10)

    first = Work(1, on_item=hold)
    thread = threading.Thread(target=run, args=(first.batch,))
    thread.start()
    try:
        assert started.wait(10)
        second = Work(5)
        with pytest.raises(BatchLocked) as refused:
            run(second.batch, pid=2222)
        message = str(refused.value)
        assert "TESTBATCH is already running" in message
        assert f"on {socket.gethostname()} (pid {os.getpid()})" in message
        assert second.done == []
    finally:
        release.set()
        thread.join(10)
    assert [r.status for r in runs(read)] == ["succeeded"]
    assert run(Work(2).batch).status == "succeeded"  # the lock is free again


def test_a_run_silent_longer_than_the_lease_is_taken_over(run, read, batch_app):
    long_ago = utcnow() - timedelta(hours=1)
    with batch_app.app_context():
        from ep.extensions import db

        dead = BatchRun(batch="TESTBATCH", host="deadhost", pid=99, started_at=long_ago)
        db.session.add(dead)
        db.session.flush()
        db.session.add(
            BatchHeartbeat(
                batch="TESTBATCH",
                last_activity_at=long_ago,
                running_run_id=dead.id,
                running_host="deadhost",
                running_pid=99,
                running_since=long_ago,
            )
        )
        db.session.commit()
        dead_id = dead.id

    outcome = run(Work(3).batch)

    assert outcome.status == "succeeded" and outcome.processed == 3
    by_id = {r.id: r for r in runs(read)}
    assert by_id[dead_id].status == "stopped"
    assert by_id[dead_id].error_type == "StoppedWithoutFinishing"
    assert "taken over by run" in by_id[dead_id].error_message
    # the killed run ended at its last heartbeat, not when the next run noticed
    assert by_id[dead_id].finished_at.replace(tzinfo=None) == long_ago.replace(tzinfo=None)
    assert heartbeat(read).running_run_id is None


def test_a_run_whose_process_on_this_host_has_exited_is_taken_over_at_once(run, read):
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(exited.stdout)
    started, release = threading.Event(), threading.Event()

    def hold(ctx, item):
        started.set()
        release.wait(10)

    first = Work(1, on_item=hold)
    thread = threading.Thread(target=run, args=(first.batch,), kwargs={"pid": dead_pid})
    thread.start()
    try:
        assert started.wait(10)
        second = Work(2)
        outcome = run(second.batch)  # the first "holder" is a pid that has exited
        assert outcome.status == "succeeded" and second.done == [0, 1]
    finally:
        release.set()
        thread.join(10)
    abandoned = [r for r in runs(read) if r.pid == dead_pid]
    assert abandoned[0].error_type == "StoppedWithoutFinishing", abandoned[0].error_message
    assert "its process has exited" in abandoned[0].error_message


def test_a_transient_error_is_retried_and_the_run_succeeds(run, read):
    work = Work(4, fail_with=TransientError("deadlock, say"), failures=2)
    outcome = run(work.batch)
    assert outcome.status == "succeeded" and work.done == [0, 1, 2, 3]


def test_a_transient_error_that_persists_fails_the_run_and_the_heartbeat_says_why(run, read):
    work = Work(4, fail_with=TransientError("the gateway answers 503"), failures=10)
    outcome = run(work.batch)
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert work.items == [0, 1, 2, 3]  # left for the next run
    beat = heartbeat(read)
    assert beat.last_outcome == "failed" and beat.last_failure_at is not None
    assert beat.last_error_type == "TransientError"
    assert "the gateway answers 503" in beat.last_error_message
    assert "gave up after 3 attempts" in beat.last_error_message
    assert beat.running_run_id is None
    [recorded] = runs(read)
    assert recorded.status == "failed" and recorded.error_type == "TransientError"


def test_a_bug_fails_the_run_at_once_with_its_type(run, read):
    work = Work(4, fail_with=KeyError("no such thing"), failures=1)
    outcome = run(work.batch)
    assert outcome.status == "failed" and outcome.error_type == "KeyError"
    assert work.items == [0, 1, 2, 3]
    assert heartbeat(read).last_error_type == "KeyError"


def test_a_stop_request_finishes_the_item_in_flight_and_records_the_run_interrupted(run, read):
    stop = threading.Event()

    def ask_to_stop(ctx, item):
        if item == 1:
            stop.set()  # what SIGTERM does

    work = Work(9, on_item=ask_to_stop)
    outcome = run(work.batch, stop_event=stop)
    assert work.done == [0, 1]
    assert outcome.status == "failed" and outcome.error_type == "Interrupted"
    [recorded] = runs(read)
    assert recorded.processed == 2 and recorded.error_type == "Interrupted"
    assert "left for the next run" in recorded.error_message


def test_limit_stops_after_that_many_items(run, read):
    work = Work(10)
    outcome = run(work.batch, limit=4)
    assert outcome.status == "succeeded" and work.done == [0, 1, 2, 3]
    assert runs(read)[0].processed == 4


def test_a_dry_run_previews_and_records_nothing(run, read):
    work = Work(5)
    outcome = run(work.batch, dry_run=True)
    assert outcome.status == "dry-run" and outcome.preview == ["would do 5 items"]
    assert work.done == [] and runs(read) == [] and heartbeat(read) is None


def test_a_run_whose_lease_was_taken_from_it_stops_and_says_so(run, read, batch_app):
    def steal(ctx, item):
        if item == 0:
            from sqlalchemy import update

            ctx.session.execute(
                update(BatchHeartbeat)
                .where(BatchHeartbeat.batch == "TESTBATCH")
                .values(running_run_id=None)
            )
            ctx.session.commit()

    work = Work(9, on_item=steal)
    outcome = run(work.batch)
    assert outcome.status == "failed" and outcome.error_type == "LeaseLost"
    assert len(work.done) == 3  # the chunk in hand, then it noticed


def test_database_errors_are_told_apart_transient_from_permanent():
    locked = OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))
    duplicate = IntegrityError("INSERT x", {}, sqlite3.IntegrityError("UNIQUE failed"))
    broken = OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x"))
    assert is_transient(locked)
    assert not is_transient(duplicate)
    assert not is_transient(broken)
    assert is_transient(TransientError("x")) and not is_transient(ValueError("x"))
    # PostgreSQL's driver: a connection that broke before any SQLSTATE came back is
    # transient, a refused statement is not
    cut = psycopg.OperationalError("server closed the connection unexpectedly")
    assert is_transient(OperationalError("SELECT 1", {}, cut))
    assert not is_transient(psycopg.errors.UndefinedTable("relation x does not exist"))


def test_a_slow_item_keeps_the_lease_by_the_pulse_and_no_takeover_happens(make_app, run, read):
    # one item waits four leases; the pulse thread keeps the heartbeat fresh meanwhile
    app = make_app(BatchLeaseSeconds="1", BatchChunkSize="1", BatchRetryDelayMilliseconds="0")
    started, stamps = threading.Event(), []

    def slow(ctx, item):
        started.set()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            # what a second starter would see: a heartbeat younger than the lease
            stamps.append(heartbeat(read).last_activity_at)
            ctx.stop_event.wait(0.2)

    work = Work(1, on_item=slow)
    outcome = run(work.batch, app=app)

    assert outcome.status == "succeeded" and work.done == [0]
    assert len(set(stamps)) >= 8  # renewed again and again while the item was in hand


def test_a_run_whose_lease_was_taken_stops_before_it_does_anything_more(
    make_app, run, read, db_session, now
):
    app = make_app(BatchLeaseSeconds="2", BatchChunkSize="1", BatchRetryDelayMilliseconds="0")
    rival = BatchRun(batch="TESTBATCH", host="otherhost", pid=1, started_at=now)
    db_session.add(rival)
    db_session.commit()
    rival_id = rival.id

    def taken_over(ctx, item):
        if item == 0:  # another run takes the lock while this one works
            with Session(ctx.session.get_bind()) as other:
                other.execute(
                    update(BatchHeartbeat)
                    .where(BatchHeartbeat.batch == "TESTBATCH")
                    .values(running_run_id=rival_id)
                )
                other.commit()
            assert ctx.lease.lost.wait(10)  # the pulse notices at its next stamp
            assert ctx.stopping

    work = Work(5, on_item=taken_over)
    outcome = run(work.batch, app=app)

    assert outcome.status == "failed" and outcome.error_type == "LeaseLost"
    assert work.done == [0]  # the item in hand, nothing after it
