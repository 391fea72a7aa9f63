"""NOTIFYREMINDERS: each package's reminder rules, each reminder queued and sent once."""

import json
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, select, update

from ep.batches.notify_reminders import NOTIFYREMINDERS
from ep.domain.reminders import add_months, offers_due_again
from ep.models import InboxMessage, Kit, Notification, Offer
from tests.batches import factories
from tests.support import run_ep


def keys(read):
    return sorted(row[0] for row in read(select(Notification.dedupe_key)))


def sent_files(outbox):
    return sorted(p.name for p in outbox.glob("*.txt")) if outbox.exists() else []


def test_each_rule_reminds_when_its_package_says_and_not_before(db_session, run, read, now):
    pkg = factories.package(
        db_session,
        now=now,
        remind_offer_after_days=7,
        remind_expiring_within_days=3,
        remind_kit_after_days=5,
    )
    who = factories.person(db_session, now=now)
    days = timedelta(days=1)
    old_offer = factories.offer(
        db_session, person=who, package=pkg, now=now, valid_from=now - 8 * days
    )
    factories.offer(db_session, person=who, package=pkg, now=now, valid_from=now - 6 * days)
    expiring = factories.order(
        db_session, person=who, package=pkg, now=now, expires_at=now + 2 * days
    )
    factories.order(db_session, person=who, package=pkg, now=now, expires_at=now + 4 * days)
    kit_order = factories.order(
        db_session, person=who, package=pkg, now=now, home_kit=True, ordered_at=now - 6 * days
    )
    registered = Kit(code="KIT-1", package=pkg, person=who, registered_at=now - days)
    factories.order(
        db_session,
        person=who,
        package=pkg,
        now=now,
        home_kit=True,
        ordered_at=now - 6 * days,
        kit=registered,
    )
    db_session.commit()

    outcome = run(NOTIFYREMINDERS, clock=lambda: now)

    assert outcome.status == "succeeded"
    assert keys(read) == sorted(
        [
            f"reminder:offer-not-ordered:{old_offer.id}",
            f"reminder:order-expiring:{expiring.id}",
            f"reminder:kit-not-registered:{kit_order.id}",
        ]
    )
    assert {row[0] for row in read(select(Notification.status))} == {"sent"}
    inbox = read(select(InboxMessage.order_id, InboxMessage.subject))
    assert (expiring.id, "Din beställning går snart ut") in inbox


def test_a_rule_set_to_none_reminds_of_nothing(db_session, run, read, now):
    pkg = factories.package(db_session, now=now)  # every remind_* is None
    who = factories.person(db_session, now=now)
    factories.offer(
        db_session, person=who, package=pkg, now=now, valid_from=now - timedelta(days=90)
    )
    factories.order(
        db_session, person=who, package=pkg, now=now, expires_at=now + timedelta(hours=1)
    )
    db_session.commit()

    assert run(NOTIFYREMINDERS, clock=lambda: now).processed == 0
    assert keys(read) == []


def test_an_ordered_offer_is_not_reminded_of_but_a_recurring_one_comes_due_again(
    db_session, run, read, now
):
    pkg = factories.package(db_session, now=now, remind_offer_after_days=1)
    who = factories.person(db_session, now=now)
    recurring = factories.offer(
        db_session,
        person=who,
        package=pkg,
        now=now,
        valid_from=now - timedelta(days=200),
        valid_until=now + timedelta(days=400),
        recurrence_months=3,
    )
    sampled_at = now - timedelta(days=100)
    last = factories.order(
        db_session,
        person=who,
        package=pkg,
        now=now,
        offer=recurring,
        status="released",
        ordered_at=sampled_at - timedelta(days=2),
        sampled_at=sampled_at,
    )
    not_yet = factories.offer(
        db_session,
        person=who,
        package=pkg,
        now=now,
        recurrence_months=6,
        valid_from=now - timedelta(days=200),
    )
    factories.order(
        db_session,
        person=who,
        package=pkg,
        now=now,
        offer=not_yet,
        status="resulted",
        sampled_at=sampled_at,
    )
    db_session.commit()

    run(NOTIFYREMINDERS, clock=lambda: now)
    assert keys(read) == [f"reminder:offer-due-again:{recurring.id}:{last.id}"]

    # the resident orders again: no reminder while that order is open, nor twice later
    factories.order(db_session, person=who, package=pkg, now=now, offer=recurring)
    db_session.commit()
    assert run(NOTIFYREMINDERS, clock=lambda: now + timedelta(days=1)).processed == 0


def test_a_second_run_queues_and_sends_nothing_again(db_session, run, read, now, outbox):
    factories.expiring_orders(db_session, now, 5)

    first = run(NOTIFYREMINDERS, clock=lambda: now)
    files = sent_files(outbox)
    second = run(NOTIFYREMINDERS, clock=lambda: now + timedelta(hours=1))

    # 5 queued and 5 sent, counted apart; then nothing
    assert (first.queued, first.succeeded, second.processed) == (5, 5, 0)
    assert len(files) == 5 and sent_files(outbox) == files
    assert len(keys(read)) == 5


def test_limit_queues_and_sends_at_most_n_and_the_next_run_does_the_rest(
    db_session, run, read, now, outbox
):
    factories.expiring_orders(db_session, now, 7)

    run(NOTIFYREMINDERS, clock=lambda: now, limit=4)
    assert len(keys(read)) == 4 and len(sent_files(outbox)) == 4
    run(NOTIFYREMINDERS, clock=lambda: now)
    assert len(keys(read)) == 7 and len(sent_files(outbox)) == 7


def test_the_real_command_reminds_and_prints_a_one_line_summary(
    db_session, config_path, now, tmp_path
):
    pkg = factories.package(db_session, now=now, remind_expiring_within_days=3)
    who = factories.person(db_session, now=now)
    factories.order(
        db_session, person=who, package=pkg, now=now, expires_at=now + timedelta(days=1)
    )
    db_session.commit()
    env = {"EP_NotificationDirectory": str(tmp_path / "out")}

    preview = run_ep("batch", "notify-reminders", "--dry-run", config=config_path, env=env)
    done = run_ep("batch", "notify-reminders", config=config_path, env=env)

    assert preview.returncode == 0, preview.stderr
    assert "would queue 1 reminder:order-expiring reminders" in preview.stdout
    assert done.returncode == 0, done.stderr
    [summary] = done.stdout.splitlines()
    assert (
        summary.startswith("NOTIFYREMINDERS run ") and "2 items (1 queued, 1 succeeded" in summary
    )
    assert "started on" in done.stderr  # a plain log line (no terminal here)
    assert len(list((tmp_path / "out").glob("*.txt"))) == 1


def test_months_are_added_by_the_calendar():
    from datetime import UTC, datetime

    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 3) == datetime(2027, 2, 15, tzinfo=UTC)


def recurring_offers(session, now, *, due, not_due):
    """Quarterly offers whose last order was sampled 100 days ago (due again) or 10 days
    ago (not yet); committed."""
    pkg = factories.package(session, now=now)
    who = factories.person(session, now=now)
    made = {}
    for kind, count, sampled_at in (
        ("due", due, now - timedelta(days=100)),
        ("not due", not_due, now - timedelta(days=10)),
    ):
        made[kind] = []
        for _ in range(count):
            offer = factories.offer(
                session,
                person=who,
                package=pkg,
                now=now,
                recurrence_months=3,
                valid_from=now - timedelta(days=200),
                valid_until=now + timedelta(days=400),
            )
            factories.order(
                session,
                person=who,
                package=pkg,
                now=now,
                offer=offer,
                status="released",
                ordered_at=sampled_at - timedelta(days=2),
                sampled_at=sampled_at,
            )
            made[kind].append(offer)
    session.commit()
    return made


@contextmanager
def statements_run(session):
    """The (SQL, parameters) the session's engine runs inside the block."""
    engine = session.get_bind()
    seen = []

    def note(_conn, _cursor, statement, parameters, *_args):
        if statement != "BEGIN":  # SQLite's, issued by EP's connect hook
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def offer_rows_read(session, statement, parameters):
    """How the candidate query reads the offer table: on SQLite the plan's lines for it,
    on PostgreSQL (index, rows read) for each scan of it, as EXPLAIN ANALYZE counts."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        return [row[3] for row in plan if " offer " in f"{row[3]} "]
    # the statistics autovacuum keeps; and the test's few hundred rows fit in a page or
    # two, where a sequential scan is cheapest, so that is ruled out
    connection.exec_driver_sql("ANALYZE offer")
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    [[plan]] = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
    ).all()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    scans, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "offer":
            read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            scans.append((node.get("Index Name"), read))
    return scans


def test_the_due_again_finder_reads_the_offers_come_due_not_every_recurring_one(db_session, now):
    made = recurring_offers(db_session, now, due=1, not_due=1)
    with statements_run(db_session) as few:
        found_few = offers_due_again(db_session, now=now, after=0, limit=500)
    db_session.rollback()
    recurring_offers(db_session, now, due=0, not_due=199)
    with statements_run(db_session) as many:
        found_many = offers_due_again(db_session, now=now, after=0, limit=500)

    [due] = made["due"]
    assert [r.cursor for r in found_few] == [r.cursor for r in found_many] == [due.id]
    # the same statements for 1 and for 200 offers not due: the candidate page, and the
    # next page, empty
    assert [sql for sql, _ in few] == [sql for sql, _ in many]
    assert len(many) == 2
    candidates, parameters = many[0]
    scans = offer_rows_read(db_session, candidates, parameters)
    if db_session.get_bind().dialect.name == "sqlite":
        assert scans and all("ix_offer_due_again_at" in scan for scan in scans), scans
    else:
        # the one due row read, by the partial index; none of the 200 not due
        assert scans == [("ix_offer_due_again_at", 1)], scans


def test_a_reminded_offer_is_read_once_more_then_not_until_it_is_ordered_again(
    db_session, run, read, now
):
    made = recurring_offers(db_session, now, due=3, not_due=2)
    due_ids = [offer.id for offer in made["due"]]

    first = run(NOTIFYREMINDERS, clock=lambda: now)
    second = run(NOTIFYREMINDERS, clock=lambda: now + timedelta(days=1))

    assert (first.queued, second.processed) == (3, 0)
    assert [key.rsplit(":", 2)[1] for key in keys(read)] == sorted(map(str, due_ids))
    # the second run found them reminded and cleared them: no run reads them again
    still_due = read(select(Offer.id).where(Offer.due_again_at.is_not(None)))
    assert sorted(row[0] for row in still_due) == sorted(o.id for o in made["not due"])


def test_an_offer_wrongly_marked_due_is_checked_against_its_orders_and_corrected(
    db_session, run, read, now
):
    [offer] = recurring_offers(db_session, now, due=0, not_due=1)["not due"]
    right = offer.due_again_at
    assert right == add_months(now - timedelta(days=10), 3)
    # as if some change had set it wrong: the orders say otherwise
    db_session.execute(
        update(Offer).where(Offer.id == offer.id).values(due_again_at=now - timedelta(days=1))
    )
    db_session.commit()

    assert run(NOTIFYREMINDERS, clock=lambda: now).processed == 0
    assert keys(read) == []
    assert read(select(Offer.due_again_at).where(Offer.id == offer.id)) == [(right,)]
