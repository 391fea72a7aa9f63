"""NOTIFYREMINDERS: each package's reminder rules, each reminder queued and sent once."""

from datetime import timedelta

from sqlalchemy import select

from ep.batches.notify_reminders import NOTIFYREMINDERS
from ep.domain.reminders import add_months
from ep.models import InboxMessage, Kit, Notification
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
