"""PURGE: what outlived its retention goes; what someone still needs stays."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError

from ep.batches.purge import PURGE
from ep.models import (
    AuditEvent,
    BatchHeartbeat,
    BatchRun,
    InboxMessage,
    LabMessage,
    Notification,
    Order,
    Result,
)
from tests.batches import factories
from tests.support import is_postgres, run_ep

YEAR = timedelta(days=365)


def ids(read, model):
    return {row[0] for row in read(select(model.id))}


def lab_message(session, now, *, received_at, status="imported", order=None, resolved_at=None):
    row = LabMessage(
        source="LAB",
        format="hl7v2",
        payload=b"MSH|...",
        sha256="0" * 64,
        status=status,
        received_at=received_at,
        order=order,
        resolved_at=resolved_at,
    )
    session.add(row)
    session.flush()
    return row


def test_closed_orders_past_retention_go_with_their_results_and_open_ones_stay(
    db_session, run, read, now
):
    pkg = factories.package(db_session, now=now)
    who = factories.person(db_session, now=now)
    long_ago = now - 11 * YEAR

    def order(**values):
        values.setdefault("ordered_at", long_ago)
        values.setdefault("expires_at", long_ago + timedelta(days=30))
        return factories.order(db_session, person=who, package=pkg, now=now, **values)

    old = order(status="released", released_at=long_ago + timedelta(days=10))
    factories.result(db_session, order=old, now=now, received_at=long_ago)
    message = lab_message(db_session, now, received_at=now - timedelta(days=1), order=old)
    waiting = order(status="ordered")  # never sampled nor expired: still open
    held = order(status="resulted", held_for_contact=True)  # staff must call first
    recent = order(status="released", released_at=now - timedelta(days=10))
    order(status="expired")
    db_session.add(
        InboxMessage(
            person=who,
            dedupe_key="result:x",
            subject="s",
            body="b",
            order_id=old.id,
            created_at=now,
        )
    )
    db_session.commit()
    kept = {waiting.id, held.id, recent.id}
    message_id = message.id

    outcome = run(PURGE, clock=lambda: now)

    assert outcome.status == "succeeded"
    assert ids(read, Order) == kept  # the old released and the old expired ones went
    assert read(select(func.count()).select_from(Result)) == [(0,)]
    assert read(select(LabMessage.id, LabMessage.order_id)) == [(message_id, None)]
    assert read(select(InboxMessage.order_id)) == [(None,)]


def test_sent_notifications_past_retention_go_and_pending_ones_stay(db_session, run, read, now):
    who = factories.person(db_session, now=now)
    old = now - 400 * timedelta(days=1)

    def notification(key, status, created_at):
        db_session.add(
            Notification(
                person=who,
                kind="result",
                channel="file",
                dedupe_key=key,
                status=status,
                created_at=created_at,
            )
        )
        db_session.add(
            InboxMessage(person=who, dedupe_key=key, subject="s", body="b", created_at=created_at)
        )

    notification("old-sent", "sent", old)
    notification("old-pending", "pending", old)
    notification("new-sent", "sent", now - timedelta(days=10))
    db_session.commit()

    run(PURGE, clock=lambda: now)

    kept = {row[0] for row in read(select(Notification.dedupe_key))}
    assert kept == {"old-pending", "new-sent"}
    assert {row[0] for row in read(select(InboxMessage.dedupe_key))} == kept


def test_audit_events_are_kept_five_years_whatever_the_setting(
    db_session, make_app, run, read, now
):
    for age in (6 * YEAR, 4 * YEAR, timedelta(days=40)):
        db_session.add(AuditEvent(at=now - age, actor_type="system", actor_id="t", action="read"))
    db_session.commit()
    app = make_app(RetainAuditEventsDays="30")  # shorter than the law allows

    outcome = run(PURGE, app=app, clock=lambda: now)

    assert outcome.status == "succeeded" and outcome.succeeded == 1
    ages = sorted((now - row[0]).days for row in read(select(AuditEvent.at)))
    assert ages == [40, 4 * 365]


def test_on_postgresql_the_database_itself_refuses_to_purge_younger_audit_events(
    database_url, db_session, now
):
    if not is_postgres(database_url):
        pytest.skip("the audit trigger is PostgreSQL's (set EP_TEST_DATABASE_URL)")
    db_session.add(AuditEvent(at=now - 4 * YEAR, actor_type="system", actor_id="t", action="r"))
    db_session.commit()
    db_session.execute(text("SET LOCAL ep.purge_audit = 'on'"))
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(delete(AuditEvent))
    db_session.rollback()


def test_old_lab_messages_and_batch_runs_go_but_not_what_staff_or_the_health_check_need(
    db_session, run, read, now
):
    long_ago = now - 11 * YEAR
    lab_message(db_session, now, received_at=long_ago)
    unresolved = lab_message(db_session, now, received_at=long_ago, status="unmatched")
    lab_message(db_session, now, received_at=long_ago, status="unmatched", resolved_at=long_ago)
    runs = [
        BatchRun(
            batch="PURGE",
            host="h",
            pid=1,
            started_at=long_ago,
            finished_at=long_ago,
            status="succeeded",
        )
        for _ in range(2)
    ]
    db_session.add_all(runs)
    db_session.flush()
    db_session.add(BatchHeartbeat(batch="PURGE", last_run_id=runs[1].id, last_activity_at=long_ago))
    db_session.commit()
    unresolved_id, latest_run_id = unresolved.id, runs[1].id

    outcome = run(PURGE, clock=lambda: now)

    assert ids(read, LabMessage) == {unresolved_id}  # the processed and resolved ones went
    assert ids(read, BatchRun) == {latest_run_id, outcome.run_id}


def test_the_real_command_previews_then_purges(db_session, config_path, now):
    db_session.add(AuditEvent(at=now - 6 * YEAR, actor_type="system", actor_id="t", action="r"))
    db_session.commit()

    preview = run_ep("batch", "purge", "--dry-run", config=config_path)
    done = run_ep("batch", "purge", config=config_path)

    assert "would delete 1 audit events past retention" in preview.stdout
    assert "would delete 0 closed orders past retention" in preview.stdout
    assert done.returncode == 0, done.stderr
    assert "PURGE run" in done.stdout and "1 items (1 succeeded" in done.stdout
