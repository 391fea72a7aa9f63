"""send_next: one claim per row, recorded before the next, never delivered twice."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain.notifications import (
    exhausted_count,
    pending_count,
    queue_notification,
    send_due,
    send_next,
)
from ep.extensions import db
from ep.models import BatchRun, Notification
from ep.notify import TransientDeliveryError
from tests.support import is_postgres


def _queue(session, person, count, now):
    """Queue ``count`` notifications, due one microsecond apart up to ``now``."""
    for number in range(count):
        queued_at = now - timedelta(microseconds=count - number)
        queue_notification(
            session, person=person, kind="result", dedupe_key=f"result:{number}", now=queued_at
        )
    session.commit()


def _statuses(engine):
    with Session(engine) as other:
        return dict(other.execute(select(Notification.dedupe_key, Notification.status)).all())


def test_each_message_is_recorded_as_sent_before_the_next_goes(
    db_session, resident, sms_gateway, sms_config, now
):
    _queue(db_session, resident, 3, now)
    seen = []
    engine = db.engine
    # what another connection sees while the gateway holds each request
    sms_gateway.on_request = lambda request: seen.append(_statuses(engine))

    for _ in range(3):
        send_next(db_session, sms_config, claimant="1@h:1", now=now)

    assert seen == [
        {"result:0": "sending", "result:1": "pending", "result:2": "pending"},
        {"result:0": "sent", "result:1": "sending", "result:2": "pending"},
        {"result:0": "sent", "result:1": "sent", "result:2": "sending"},
    ]


def test_a_claim_of_several_sms_still_records_each_before_the_next_goes(
    db_session, resident, sms_gateway, sms_config, now
):
    _queue(db_session, resident, 3, now)
    seen = []
    engine = db.engine
    sms_gateway.on_request = lambda request: seen.append(_statuses(engine))

    outcome = send_due(db_session, sms_config, claimant="1@h:1", now=now, limit=3)

    assert (outcome.sent, outcome.failed) == (3, 0)
    assert seen == [
        {"result:0": "sending", "result:1": "sending", "result:2": "sending"},
        {"result:0": "sent", "result:1": "sending", "result:2": "sending"},
        {"result:0": "sent", "result:1": "sent", "result:2": "sending"},
    ]
    assert set(_statuses(engine).values()) == {"sent"}


def _claim_by_hand(session, *, run_id, claimed_at):
    session.execute(
        Notification.__table__.update().values(
            status="sending", claimed_by_run_id=run_id, claimed_at=claimed_at
        )
    )
    session.commit()


def test_a_fresh_claim_of_a_live_sender_is_left_alone(
    db_session, resident, notify_config, outbox, now
):
    _queue(db_session, resident, 1, now)
    _claim_by_hand(db_session, run_id=None, claimed_at=now - timedelta(seconds=60))

    assert send_next(db_session, notify_config(), claimant="2@h:2", now=now) is None
    assert not outbox.exists()


def test_a_claim_older_than_the_lease_is_taken_over(
    db_session, resident, notify_config, outbox, now
):
    _queue(db_session, resident, 1, now)
    _claim_by_hand(db_session, run_id=None, claimed_at=now - timedelta(seconds=301))

    assert send_next(db_session, notify_config(), claimant="2@h:2", now=now) == "sent"
    row = db_session.execute(select(Notification)).scalar_one()
    assert (row.status, row.claimed_by_run_id) == ("sent", 2)
    assert len(list(outbox.iterdir())) == 1


def test_a_claim_of_a_run_that_has_ended_is_taken_over_at_once(
    db_session, resident, notify_config, now
):
    dead = BatchRun(
        batch="NOTIFYREMINDERS", host="h", pid=1, started_at=now, status="failed", finished_at=now
    )
    db_session.add(dead)
    db_session.commit()
    _queue(db_session, resident, 1, now)
    _claim_by_hand(db_session, run_id=dead.id, claimed_at=now - timedelta(seconds=5))

    assert send_next(db_session, notify_config(), claimant="99@h:2", now=now) == "sent"


def test_an_unexpected_error_puts_the_message_back_for_a_later_try(
    db_session, resident, notify_config, monkeypatch, now
):
    _queue(db_session, resident, 1, now)

    def broken(message):
        raise RuntimeError("a fault of ours, not the provider's")

    monkeypatch.setattr("ep.notify.file.render", broken)
    with pytest.raises(RuntimeError):
        send_next(db_session, notify_config(), claimant="1@h:1", now=now)

    row = db_session.execute(select(Notification)).scalar_one()
    assert (row.status, row.attempts, row.claimed_at) == ("pending", 1, None)
    assert "a fault of ours" in row.last_error


def test_messages_that_keep_failing_stay_pending_and_are_reported(
    db_session, resident, sms_gateway, sms_config, now
):
    _queue(db_session, resident, 1, now)
    sms_gateway.answers = [(503, {})] * 5
    moment = now
    for _ in range(5):
        with pytest.raises(TransientDeliveryError):
            send_next(db_session, sms_config, claimant="1@h:1", now=moment)
        moment += timedelta(hours=1)

    assert exhausted_count(db_session, max_attempts=sms_config["BatchMaxAttempts"]) == 1
    assert pending_count(db_session, now=moment) == 1
    # the provider is back: the message still goes, once
    assert send_next(db_session, sms_config, claimant="1@h:1", now=moment) == "sent"
    db_session.rollback()  # a fresh snapshot: see what the sender wrote
    assert exhausted_count(db_session, max_attempts=5) == 0


def test_four_parallel_senders_deliver_each_message_exactly_once(
    db_session, resident, sms_gateway, sms_config, migrated, now
):
    """Each sender has its own session; the gateway counts what reached it.

    On PostgreSQL the senders claim side by side (FOR UPDATE SKIP LOCKED); on SQLite the
    same conditional UPDATE claim runs one writer at a time, so this shows the same
    exactly-once outcome with less parallelism.
    """
    count = 120
    _queue(db_session, resident, count, now)
    engine = db.engine
    start = threading.Barrier(4)
    outcomes: list[list] = [[] for _ in range(4)]
    errors = []

    def sender(number):
        try:
            with Session(engine) as session:
                start.wait(timeout=10)
                while (
                    outcome := send_next(
                        session, sms_config, claimant=f"{number}@h:{number}", now=now
                    )
                ) is not None:
                    outcomes[number].append(outcome)
        except Exception as exc:  # reported below, with the thread's number
            errors.append((number, exc))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    delivered = Counter(request.headers["idempotency-key"] for request in sms_gateway.requests)
    assert len(delivered) == count
    assert set(delivered.values()) == {1}
    assert sum(len(o) for o in outcomes) == count
    assert set(_statuses(engine).values()) == {"sent"}
    if is_postgres(migrated):
        # the work was shared out, not done by one sender while the others waited
        assert sum(1 for o in outcomes if o) >= 2


def test_sending_never_commits_the_callers_open_work(
    db_session, resident, notify_config, outbox, now
):
    queue_notification(db_session, person=resident, kind="result", dedupe_key="r:1", now=now)
    db_session.commit()
    resident.email = "changed-but-not-committed@example.se"

    assert send_next(db_session, notify_config(), claimant="1@h:1", now=now) == "sent"

    db_session.rollback()  # the caller changes its mind: nothing of its work was kept
    assert resident.email != "changed-but-not-committed@example.se"
    assert _statuses(db.engine) == {"r:1": "sent"}
    assert [p.name for p in outbox.iterdir()] == ["r%3A1.txt"]
