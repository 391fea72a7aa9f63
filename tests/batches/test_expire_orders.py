"""EXPIREORDERS: `ep batch expire-orders` closes what nobody acted on in time."""

from datetime import timedelta

from sqlalchemy import select

from ep.models import Offer, Order
from tests.batches import factories
from tests.support import run_ep


def test_it_expires_unsampled_orders_and_offers_past_their_end_and_nothing_else(
    db_session, config_path, now
):
    pkg = factories.package(db_session, now=now)
    who = factories.person(db_session, now=now)
    past = now - timedelta(minutes=5)
    overdue = factories.order(db_session, person=who, package=pkg, now=now, expires_at=past)
    sampled = factories.order(
        db_session, person=who, package=pkg, now=now, expires_at=past, status="sampled"
    )
    current = factories.order(db_session, person=who, package=pkg, now=now)
    old_offer = factories.offer(db_session, person=who, package=pkg, now=now, valid_until=past)
    live_offer = factories.offer(db_session, person=who, package=pkg, now=now)
    db_session.commit()

    done = run_ep("batch", "expire-orders", config=config_path)

    assert done.returncode == 0, done.stderr
    assert "EXPIREORDERS run" in done.stdout and "succeeded" in done.stdout
    assert "2 items (2 succeeded, 0 failed, 0 skipped)" in done.stdout
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    statuses = dict(db_session.execute(select(Order.id, Order.status)).all())
    assert statuses == {overdue.id: "expired", sampled.id: "sampled", current.id: "ordered"}
    offers = dict(db_session.execute(select(Offer.id, Offer.status)).all())
    assert offers == {old_offer.id: "expired", live_offer.id: "active"}


def test_a_dry_run_says_what_it_would_expire_and_changes_nothing(db_session, config_path, now):
    pkg = factories.package(db_session, now=now)
    who = factories.person(db_session, now=now)
    factories.order(
        db_session, person=who, package=pkg, now=now, expires_at=now - timedelta(days=1)
    )
    db_session.commit()

    done = run_ep("batch", "expire-orders", "--dry-run", config=config_path)

    assert done.returncode == 0, done.stderr
    assert "would expire 1 unsampled orders past their expiry date" in done.stdout
    assert "dry run, nothing was changed" in done.stdout
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    assert db_session.scalar(select(Order.status)) == "ordered"
