"""Upgrades that keep every row: every migration, up and down, on a database with rows.

pytest-alembic's own tests (one head, upgrade from nothing, models match the DDL, each
step down and up again) plus EP's: each step on a database holding rows in every table,
and a database at each released revision upgraded to head with every row kept.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pytest_alembic.tests import (  # noqa: F401 - collected here as tests
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain.reminders import refresh_due_again
from ep.models import Offer
from tests.migrations.released import RELEASED
from tests.migrations.rows import (
    fill_empty_tables,
    insert_rows,
    invalid_constraints,
    row_counts,
)


def steps(alembic_runner):
    revisions = alembic_runner.history.revisions
    return [r for r in revisions if r not in ("base", "heads")]


def test_each_step_goes_down_and_up_again_with_rows_in_every_table(alembic_runner, alembic_engine):
    for revision in steps(alembic_runner):
        alembic_runner.migrate_up_to(revision)
        with alembic_engine.begin() as connection:
            fill_empty_tables(connection, revision)
            before = row_counts(connection)
        assert all(before.values()), f"empty tables at {revision}: {before}"

        alembic_runner.migrate_down_one()
        with alembic_engine.connect() as connection:
            below = row_counts(connection)
        alembic_runner.migrate_up_one()

        with alembic_engine.connect() as connection:
            again = row_counts(connection)
            assert invalid_constraints(connection) == []
        # a step down may drop what its step up made, and nothing else
        kept = {name: n for name, n in before.items() if name in below}
        assert {name: below[name] for name in kept} == kept, f"down from {revision}"
        assert {name: again[name] for name in kept} == kept, f"up to {revision} again"


@pytest.mark.parametrize("released", sorted(RELEASED))
def test_a_database_at_a_released_revision_upgrades_to_head_keeping_every_row(
    alembic_runner, alembic_engine, released
):
    alembic_runner.migrate_up_to(released)
    with alembic_engine.begin() as connection:
        insert_rows(connection, RELEASED[released])
        before = row_counts(connection)
    assert all(before.values()), f"the released rows leave tables empty: {before}"

    alembic_runner.migrate_up_to("heads")

    with alembic_engine.connect() as connection:
        after = row_counts(connection)
        assert {name: after[name] for name in before} == before
        assert invalid_constraints(connection) == []
    assert alembic_runner.current == alembic_runner.heads[0]


def _offer(offer_id: int, **values) -> dict:
    return {
        "__tablename__": "offer",
        "id": offer_id,
        "person_id": 1,
        "package_id": 1,
        "valid_from": datetime(2025, 1, 1, tzinfo=UTC),
        "valid_until": datetime(2030, 1, 1, tzinfo=UTC),
        "recurrence_months": 3,
        "status": "active",
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        **values,
    }


def _order(order_id: int, offer_id: int, status: str, ordered_at, sampled_at=None) -> dict:
    return {
        "__tablename__": "order",
        "id": order_id,
        "number": f"EP20000{order_id:02d}X",
        "person_id": 1,
        "package_id": 1,
        "offer_id": offer_id,
        "location_id": 1,
        "home_kit": False,
        "status": status,
        # in UTC, as EP writes them (a reflected table's DateTime would keep the wall clock)
        "ordered_at": ordered_at.astimezone(UTC),
        "expires_at": (ordered_at + timedelta(days=30)).astimezone(UTC),
        "sampled_at": sampled_at and sampled_at.astimezone(UTC),
        "held_for_contact": False,
    }


def test_0011_fills_in_when_each_recurring_offer_comes_due_again_as_ep_keeps_it(
    alembic_runner, alembic_engine
):
    stockholm = ZoneInfo("Europe/Stockholm")
    jan31 = datetime(2026, 1, 31, 10, 0, tzinfo=stockholm)  # 09:00 UTC
    feb5 = datetime(2026, 2, 5, 8, 30, tzinfo=stockholm)  # 07:30 UTC
    reminded = {
        "__tablename__": "notification",
        "id": 10,
        "person_id": 1,
        "kind": "reminder:offer-due-again",
        "channel": "sms",
        "dedupe_key": "reminder:offer-due-again:14:24",
        "language": "sv",
        "recipient": "+46701234567",
        "subject": "EP",
        "body": "Du har ett nytt meddelande i Egen provhantering.",
        "status": "sent",
        "attempts": 1,
        "next_attempt_at": feb5.astimezone(UTC),
        "created_at": feb5.astimezone(UTC),
    }
    rows = [
        _offer(11, recurrence_months=1),  # sampled on the 31st, then an order cancelled
        _order(20, 11, "released", jan31 - timedelta(days=2), jan31),
        _order(21, 11, "cancelled", jan31 + timedelta(days=20)),
        _offer(12),  # ordered, never sampled, expired
        _order(22, 12, "expired", feb5),
        _offer(13),  # an order open now
        _order(23, 13, "released", jan31 - timedelta(days=2), jan31),
        _order(26, 13, "ordered", feb5),
        _offer(14),  # reminded already
        _order(24, 14, "released", jan31 - timedelta(days=2), jan31),
        reminded,
        _offer(15, valid_until=datetime(2026, 4, 1, tzinfo=UTC)),  # ends before it is due
        _order(25, 15, "released", feb5 - timedelta(days=2), feb5),
        _offer(16),  # never ordered
        _offer(17, recurrence_months=None),  # once
        _order(27, 17, "released", feb5 - timedelta(days=2), feb5),
    ]
    alembic_runner.migrate_up_to("0010")
    with alembic_engine.begin() as connection:
        insert_rows(connection, RELEASED["0002"] + rows)

    alembic_runner.migrate_up_to("heads")

    with Session(alembic_engine) as session:
        due = dict(session.execute(select(Offer.id, Offer.due_again_at)).all())
        # the released offer 1: quarterly, its one order sampled at(-790)
        assert due[1] == datetime(2026, 5, 24, 2, 30, tzinfo=UTC)
        assert due[11] == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)  # February has no 31st
        assert due[12] == datetime(2026, 5, 5, 7, 30, tzinfo=UTC)  # from the ordering
        assert {due[n] for n in (13, 14, 15, 16, 17)} == {None}
        # what EP itself keeps from now on agrees with the migration's backfill
        refresh_due_again(session, Offer.id.is_not(None))
        assert dict(session.execute(select(Offer.id, Offer.due_again_at)).all()) == due
        session.rollback()
