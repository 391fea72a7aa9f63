"""NOTIFYRESULTS: results are released by the package's policy, one message per release."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.batches.notify_results import NOTIFYRESULTS
from ep.domain.release import parse_policy, release_order
from ep.models import InboxMessage, Notification, Order, Result
from tests.batches import factories
from tests.support import run_ep


def resulted_order(session, now, *, policy, results=(("38", None),), hours_ago=1):
    pkg = factories.package(session, now=now, release_policy=policy)
    who = factories.person(session, now=now)
    order = factories.order(
        session,
        person=who,
        package=pkg,
        now=now,
        status="resulted",
        sampled_at=now - timedelta(days=1),
        resulted_at=now - timedelta(hours=hours_ago),
    )
    for value, flag in results:
        factories.result(session, order=order, now=now, value_text=value, flag=flag)
    session.commit()
    return order


def state(read, order):
    [(status, held, released_at)] = read(
        select(Order.status, Order.held_for_contact, Order.released_at).where(Order.id == order.id)
    )
    return status, held, released_at is not None


def notified(read):
    return sorted(row[0] for row in read(select(Notification.dedupe_key)))


def test_immediate_releases_the_results_and_tells_the_resident_once(
    db_session, run, read, now, outbox
):
    order = resulted_order(db_session, now, policy="immediate")

    first = run(NOTIFYRESULTS, clock=lambda: now)
    second = run(NOTIFYRESULTS, clock=lambda: now + timedelta(minutes=5))

    assert state(read, order) == ("released", False, True)
    assert all(row[0] is not None for row in read(select(Result.released_at)))
    [key] = notified(read)
    assert key.startswith(f"result:{order.id}:")
    assert read(select(InboxMessage.subject)) == [("Dina provsvar är klara",)]
    # released (queued) and sent, counted apart; then nothing
    assert (first.queued, first.succeeded, second.processed) == (1, 1, 0)
    assert len(list(outbox.glob("*.txt"))) == 1


def test_a_delay_holds_the_results_until_the_hours_have_passed(db_session, run, read, now):
    order = resulted_order(db_session, now, policy="delay:48", hours_ago=47)

    run(NOTIFYRESULTS, clock=lambda: now)
    assert state(read, order) == ("resulted", False, False) and notified(read) == []

    run(NOTIFYRESULTS, clock=lambda: now + timedelta(hours=2))
    assert state(read, order) == ("released", False, True) and len(notified(read)) == 1


@pytest.mark.parametrize(
    "results",
    [
        (("Negativ", "NEG"),),
        (("Ej påvisad", None), ("Negativ", "N")),
        (("Not detected", None),),
    ],
)
def test_contact_positive_releases_a_negative_at_once(db_session, run, read, now, results):
    order = resulted_order(db_session, now, policy="contact-positive", results=results)
    run(NOTIFYRESULTS, clock=lambda: now)
    assert state(read, order) == ("released", False, True) and len(notified(read)) == 1


@pytest.mark.parametrize(
    "results",
    [
        (("Positiv", "POS"),),
        (("Negativ", "NEG"), ("Påvisad", "A")),
        (("Positiv", None),),
        (("Svårbedömt, nytt prov behövs", None),),  # not clearly negative: a person looks
    ],
)
def test_contact_positive_holds_a_positive_for_the_staff_worklist(
    db_session, run, read, now, results
):
    order = resulted_order(db_session, now, policy="contact-positive", results=results)

    run(NOTIFYRESULTS, clock=lambda: now)

    assert state(read, order) == ("resulted", True, False)
    assert notified(read) == [] and read(select(InboxMessage.id)) == []
    assert all(row[0] is None for row in read(select(Result.released_at)))


def test_a_held_positive_is_released_once_staff_have_recorded_the_contact(
    db_session, run, read, now
):
    order = resulted_order(db_session, now, policy="contact-positive", results=(("Pos", "POS"),))
    run(NOTIFYRESULTS, clock=lambda: now)
    db_session.rollback()
    db_session.get(Order, order.id).contacted_at = now + timedelta(hours=3)
    db_session.commit()

    run(NOTIFYRESULTS, clock=lambda: now + timedelta(hours=3))

    assert state(read, order) == ("released", True, True) and len(notified(read)) == 1


def test_a_correction_after_release_is_released_and_told_again(db_session, run, read, now):
    order = resulted_order(db_session, now, policy="immediate")
    run(NOTIFYRESULTS, clock=lambda: now)
    db_session.rollback()
    first = db_session.scalars(select(Result)).one()
    corrected = factories.result(
        db_session, order=first.order, now=now, value_text="41", status="C"
    )
    first.superseded_at, first.superseded_by_id = now, corrected.id
    db_session.commit()

    run(NOTIFYRESULTS, clock=lambda: now + timedelta(minutes=5))

    assert notified(read) == sorted(
        [f"result:{order.id}:{first.id}", f"result:{order.id}:{corrected.id}"]
    )
    db_session.rollback()
    assert release_order(db_session, db_session.get(Order, order.id), now=now) is False


def test_an_unknown_policy_releases_nothing(db_session, run, read, now):
    order = resulted_order(db_session, now, policy="whenever")
    run(NOTIFYRESULTS, clock=lambda: now)
    assert state(read, order) == ("resulted", False, False)


def test_policies_are_read_as_written():
    assert parse_policy("immediate") == ("immediate", 0)
    assert parse_policy("delay:72") == ("delay", 72)
    assert parse_policy("contact-positive") == ("contact-positive", 0)
    with pytest.raises(ValueError):
        parse_policy("delay:soon")


def test_the_real_command_releases_and_summarises(db_session, config_path, now, tmp_path):
    resulted_order(db_session, now, policy="immediate")
    resulted_order(db_session, now, policy="contact-positive", results=(("Positiv", "POS"),))
    env = {"EP_NotificationDirectory": str(tmp_path / "out")}

    preview = run_ep("batch", "notify-results", "--dry-run", config=config_path, env=env)
    done = run_ep("batch", "notify-results", config=config_path, env=env)

    assert "would release or hold 2 orders with results due" in preview.stdout
    assert done.returncode == 0, done.stderr
    assert "3 items (1 queued, 1 succeeded, 0 failed, 1 skipped)" in done.stdout  # 1 held
