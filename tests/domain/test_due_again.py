"""A recurring offer's reminder to order again comes due exactly when it should, whatever
changed its orders: each path that places, samples, cancels, results, expires or purges
keeps ``Offer.due_again_at`` right, and NOTIFYREMINDERS' finder reads only that column.

The rule (ep.domain.reminders): the latest order not cancelled, sampled (or, never
sampled, placed) ``recurrence_months`` calendar months before, counted in UTC with the day
clamped to the month's end; nothing while an order is open or after the offer ends.
"""

from datetime import UTC, datetime, timedelta

import pytest

from ep.domain.audit import Actor
from ep.domain.expiry import expire_offers, expire_orders
from ep.domain.integration import report_sampled
from ep.domain.offers import assign_offer
from ep.domain.orders import cancel_order, place_order
from ep.domain.purge import purge_orders
from ep.domain.reminders import OFFER_DUE_AGAIN, offers_due_again
from ep.domain.results import record_results
from ep.domain.sampling import mark_sampled
from ep.labformats import Observation
from ep.models import Package, SamplingLocation
from ep.timeutil import STOCKHOLM

SECOND = timedelta(seconds=1)


def stockholm(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time as staff and residents read it: on the wall clock in Stockholm."""
    return datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM)


class World:
    """One resident with one offer assigned by staff, and the means to act on it."""

    def __init__(self, session, *, resident, staff_user, config):
        self.session, self.resident, self.config = session, resident, config
        self.actor = Actor.for_user(staff_user)
        self.package = Package(code="DIABETES", name_sv="Diabetes", name_en="Diabetes")
        self.location = SamplingLocation(code="VC-TOLVASEN", name="Vårdcentralen Tolvåsen")
        session.add_all([self.package, self.location])
        session.flush()
        self.offer = None

    def assign(self, *, at, until=None, months=3):
        self.offer = assign_offer(
            self.session,
            person=self.resident,
            package=self.package,
            valid_until=until or stockholm(2030, 12, 31, 23, 59),
            recurrence_months=months,
            actor=self.actor,
            now=at,
        )
        return self.offer

    def place(self, at):
        return place_order(
            self.session,
            person=self.resident,
            package=self.package,
            offer=self.offer,
            location=self.location,
            now=at,
        )

    def sample(self, order, at):
        return mark_sampled(self.session, order=order, actor=self.actor, now=at)

    def result(self, order, at):
        observation = Observation(
            "NPU27300", "B-HbA1c", "41", 41.0, "mmol/mol", None, None, None, None, "F", at
        )
        record_results(self.session, order=order, observations=[observation], now=at)


def assigned_never_ordered(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    return None, None


def ordered_and_still_open(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    w.place(stockholm(2026, 2, 2, 10, 0))
    return None, None


def sampled_at_the_site(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    order = w.sample(w.place(stockholm(2026, 2, 2, 10, 0)), stockholm(2026, 2, 5, 8, 30))
    # 07:30 UTC in February; three calendar months on, 07:30 UTC (09:30 summer time)
    return datetime(2026, 5, 5, 7, 30, tzinfo=UTC), order


def sampled_on_the_31st_monthly(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0), months=1)
    order = w.sample(w.place(stockholm(2026, 1, 29, 10, 0)), stockholm(2026, 1, 31, 10, 0))
    return datetime(2026, 2, 28, 9, 0, tzinfo=UTC), order  # February has no 31st


def sampled_on_the_30th_of_november(w):
    w.assign(at=stockholm(2027, 11, 1, 9, 0))
    order = w.sample(w.place(stockholm(2027, 11, 28, 10, 0)), stockholm(2027, 11, 30, 12, 0))
    return datetime(2028, 2, 29, 11, 0, tzinfo=UTC), order  # a leap year


def sampled_as_the_sampling_system_reported(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    order = w.place(stockholm(2026, 2, 2, 10, 0))
    report_sampled(
        w.session,
        number=order.number,
        sampled_at=stockholm(2026, 2, 5, 8, 30),  # reported at noon, taken at 08:30
        location_code="VC-TOLVASEN",
        actor=w.actor,
        now=stockholm(2026, 2, 5, 12, 0),
    )
    return datetime(2026, 5, 5, 7, 30, tzinfo=UTC), order


def next_order_cancelled(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    first = w.sample(w.place(stockholm(2026, 2, 2, 10, 0)), stockholm(2026, 2, 5, 8, 30))
    second = w.place(stockholm(2026, 4, 20, 18, 0))
    cancel_order(w.session, person=w.resident, order=second, now=stockholm(2026, 4, 21, 7, 0))
    return datetime(2026, 5, 5, 7, 30, tzinfo=UTC), first  # from the first order again


def expired_unsampled(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    order = w.place(stockholm(2026, 2, 2, 10, 0))
    assert expire_orders(w.session, now=order.expires_at + SECOND, limit=10) == 1
    return datetime(2026, 5, 2, 9, 0, tzinfo=UTC), order  # from the ordering


def resulted_without_being_marked_sampled(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    order = w.place(stockholm(2026, 2, 2, 10, 0))
    w.result(order, stockholm(2026, 2, 10, 14, 0))  # the lab's report is all EP hears
    return datetime(2026, 5, 2, 9, 0, tzinfo=UTC), order


def latest_order_purged(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    kept = w.sample(w.place(stockholm(2026, 1, 10, 10, 0)), stockholm(2026, 1, 12, 8, 0))
    w.result(kept, stockholm(2026, 1, 14, 8, 0))  # resulted, never released: kept
    gone = w.sample(w.place(stockholm(2026, 4, 10, 10, 0)), stockholm(2026, 4, 12, 8, 0))
    gone.status, gone.released_at = "released", stockholm(2026, 4, 14, 8, 0)
    w.session.flush()
    after_retention = stockholm(2026, 4, 20) + timedelta(days=w.config["RetainOrdersDays"])
    assert purge_orders(w.session, now=after_retention, config=w.config, limit=10) == 1
    return datetime(2026, 4, 12, 7, 0, tzinfo=UTC), kept


def only_order_purged(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0))
    gone = w.sample(w.place(stockholm(2026, 1, 10, 10, 0)), stockholm(2026, 1, 12, 8, 0))
    gone.status, gone.released_at = "released", stockholm(2026, 1, 14, 8, 0)
    w.session.flush()
    after_retention = stockholm(2026, 1, 20) + timedelta(days=w.config["RetainOrdersDays"])
    assert purge_orders(w.session, now=after_retention, config=w.config, limit=10) == 1
    return None, None


def offer_expired(w):
    offer = w.assign(at=stockholm(2026, 1, 2, 9, 0), until=stockholm(2026, 6, 30, 23, 59))
    w.sample(w.place(stockholm(2026, 2, 2, 10, 0)), stockholm(2026, 2, 5, 8, 30))
    assert expire_offers(w.session, now=offer.valid_until + SECOND, limit=10) == 1
    return None, None


def offer_ends_before_it_would_come_due(w):
    w.assign(at=stockholm(2026, 1, 2, 9, 0), until=stockholm(2026, 4, 30, 23, 59))
    w.sample(w.place(stockholm(2026, 2, 2, 10, 0)), stockholm(2026, 2, 5, 8, 30))
    return None, None


CASES = [
    assigned_never_ordered,
    ordered_and_still_open,
    sampled_at_the_site,
    sampled_on_the_31st_monthly,
    sampled_on_the_30th_of_november,
    sampled_as_the_sampling_system_reported,
    next_order_cancelled,
    expired_unsampled,
    resulted_without_being_marked_sampled,
    latest_order_purged,
    only_order_purged,
    offer_expired,
    offer_ends_before_it_would_come_due,
]


def reminders_at(session, at):
    return [r.dedupe_key for r in offers_due_again(session, now=at, after=0, limit=50)]


@pytest.mark.parametrize("action", CASES, ids=[case.__name__ for case in CASES])
def test_the_reminder_to_order_again_comes_due_exactly_when_it_should(
    action, db_session, resident, staff_user, app
):
    w = World(db_session, resident=resident, staff_user=staff_user, config=app.config["EP"])

    due, latest = action(w)
    db_session.commit()

    offer = w.offer
    db_session.refresh(offer)
    assert offer.due_again_at == due
    if due is None:
        # not on any day the offer is valid
        for day in range(0, 5 * 365, 7):
            at = stockholm(2026, 1, 2, 12, 0) + timedelta(days=day)
            if at < offer.valid_until:
                assert reminders_at(db_session, at) == []
        return
    assert reminders_at(db_session, due - SECOND) == []
    assert reminders_at(db_session, due) == [f"{OFFER_DUE_AGAIN}:{offer.id}:{latest.id}"]
