"""NOTIFYREMINDERS: which reminders are due, by each package's reminder rules.

Four rules, each switched on per package (``Package.remind_*``; None switches it off):

- ``reminder:offer-not-ordered:<offer>`` — an active offer, valid now, with no order
  (other than cancelled ones) ``remind_offer_after_days`` after it became valid;
- ``reminder:order-expiring:<order>`` — an order still waiting for sampling that expires
  within ``remind_expiring_within_days``;
- ``reminder:kit-not-registered:<order>`` — a home-kit order whose kit the resident has not
  registered ``remind_kit_after_days`` after ordering;
- ``reminder:offer-due-again:<offer>:<last order>`` — a recurring offer whose latest order
  was sampled (or, if never sampled, placed) ``recurrence_months`` ago, with no order open
  now. The previous order is part of the key, so each round reminds once. When that comes
  due is kept on the offer (``Offer.due_again_at``, by ``refresh_due_again``), so the
  finder reads the offers come due, not every recurring offer.

The dedupe key makes each reminder exist at most once, so a rerun — after a crash, a
deadlock or a timeout — queues only what is missing. Each finder returns candidates in id
order after a cursor and skips those whose key is queued already, so a batch can walk
through them chunk by chunk.
"""

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    SQLColumnExpression,
    String,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from ep.database import months_later, unindexed
from ep.domain.notifications import NotificationRequest, queue_notifications
from ep.models import Kit, Notification, Offer, Order, Package, Person
from ep.models.orders import OPEN_ORDER_STATUSES

OFFER_NOT_ORDERED = "reminder:offer-not-ordered"
ORDER_EXPIRING = "reminder:order-expiring"
KIT_NOT_REGISTERED = "reminder:kit-not-registered"
OFFER_DUE_AGAIN = "reminder:offer-due-again"


@dataclass(frozen=True)
class Reminder:
    """One due reminder: what it is about, whom it goes to and its dedupe key."""

    kind: str
    dedupe_key: str
    person_id: int
    order_id: int | None
    cursor: int  # the offer or order id, for walking through candidates in order


def _not_queued(kind: str, object_id: SQLColumnExpression[int]) -> ColumnElement[bool]:
    key = literal(f"{kind}:") + cast(object_id, String)
    return ~exists().where(Notification.dedupe_key == key)


def _package_rules(
    session: Session, rule_column: InstrumentedAttribute[int | None]
) -> list[tuple[int, int]]:
    """(package id, rule value) for every package with this reminder rule switched on."""
    rows = session.execute(select(Package.id, rule_column).where(rule_column.is_not(None)))
    return [(package_id, value) for package_id, value in rows if value is not None]


def offers_not_ordered(
    session: Session, *, now: datetime, after: int, limit: int
) -> list[Reminder]:
    """Active, valid offers nobody has ordered from, past their package's reminder delay."""
    by_package = [
        and_(Offer.package_id == package_id, Offer.valid_from <= now - timedelta(days=days))
        for package_id, days in _package_rules(session, Package.remind_offer_after_days)
    ]
    ordered = exists().where(Order.offer_id == Offer.id, Order.status != "cancelled")
    rows = session.execute(
        select(Offer.id, Offer.person_id)
        .where(
            Offer.id > after,
            unindexed(Offer.status) == "active",
            Offer.valid_until > now,
            or_(false(), *by_package),
            ~ordered,
            _not_queued(OFFER_NOT_ORDERED, Offer.id),
        )
        .order_by(Offer.id)
        .limit(limit)
    ).all()
    return [
        Reminder(OFFER_NOT_ORDERED, f"{OFFER_NOT_ORDERED}:{offer_id}", person_id, None, offer_id)
        for offer_id, person_id in rows
    ]


def _order_reminders(
    session: Session,
    kind: str,
    conditions: list[ColumnElement[bool]],
    *,
    now: datetime,
    after: int,
    limit: int,
) -> list[Reminder]:
    """Reminders of ``kind`` for open orders meeting ``conditions``, not yet queued."""
    rows = session.execute(
        select(Order.id, Order.person_id)
        .where(
            Order.id > after,
            unindexed(Order.status).in_(OPEN_ORDER_STATUSES),
            Order.expires_at > now,
            *conditions,
            _not_queued(kind, Order.id),
        )
        .order_by(Order.id)
        .limit(limit)
    ).all()
    return [
        Reminder(kind, f"{kind}:{order_id}", person_id, order_id, order_id)
        for order_id, person_id in rows
    ]


def orders_expiring(session: Session, *, now: datetime, after: int, limit: int) -> list[Reminder]:
    """Orders still waiting for sampling that expire within their package's warning time."""
    by_package = [
        and_(Order.package_id == package_id, Order.expires_at <= now + timedelta(days=days))
        for package_id, days in _package_rules(session, Package.remind_expiring_within_days)
    ]
    conditions = [or_(false(), *by_package)]
    return _order_reminders(session, ORDER_EXPIRING, conditions, now=now, after=after, limit=limit)


def kits_not_registered(
    session: Session, *, now: datetime, after: int, limit: int
) -> list[Reminder]:
    """Home-kit orders whose kit is not registered, past their package's reminder delay."""
    by_package = [
        and_(Order.package_id == package_id, Order.ordered_at <= now - timedelta(days=days))
        for package_id, days in _package_rules(session, Package.remind_kit_after_days)
    ]
    registered = exists().where(Kit.id == Order.kit_id, Kit.registered_at.is_not(None))
    conditions = [Order.home_kit.is_(True), or_(false(), *by_package), ~registered]
    return _order_reminders(
        session, KIT_NOT_REGISTERED, conditions, now=now, after=after, limit=limit
    )


def _latest_order_id() -> ScalarSelect[int]:
    """The offer's latest order that was not cancelled (correlated to ``Offer``)."""
    return (
        select(Order.id)
        .where(Order.offer_id == Offer.id, Order.status != "cancelled")
        .order_by(Order.id.desc())
        .limit(1)
        .correlate(Offer)
        .scalar_subquery()
    )


def due_again_at() -> ScalarSelect[datetime]:
    """When each offer's due-again reminder comes due, from its orders; NULL if never.

    Correlated to ``Offer``: the latest order's sampling (or ordering) time plus the
    offer's ``recurrence_months``. NULL for an offer that does not recur or is closed,
    has an order open now or none yet, whose reminder for that order is queued already,
    or that ends before the reminder would come due.
    """
    latest = aliased(Order)
    due = months_later(func.coalesce(latest.sampled_at, latest.ordered_at), Offer.recurrence_months)
    open_order = (
        exists()
        .where(Order.offer_id == Offer.id, Order.status.in_(OPEN_ORDER_STATUSES))
        .correlate(Offer)
    )
    key = (
        literal(f"{OFFER_DUE_AGAIN}:")
        + cast(Offer.id, String)
        + literal(":")
        + cast(latest.id, String)
    )
    return (
        select(due)
        .where(
            latest.id == _latest_order_id(),
            Offer.recurrence_months > 0,
            Offer.status.in_(("active", "ordered")),
            due < Offer.valid_until,
            ~open_order,
            ~exists().where(Notification.dedupe_key == key).correlate(Offer, latest),
        )
        .correlate(Offer)
        .scalar_subquery()
    )


def refresh_due_again(session: Session, offers: ColumnElement[bool]) -> None:
    """Recompute ``Offer.due_again_at`` of the offers matching ``offers``, in one UPDATE.

    Every change to an offer's recurrence or status, or to its orders (placed, cancelled,
    sampled, resulted, expired, purged), calls this for the offers it touched.
    """
    session.execute(
        update(Offer)
        # an offer that never recurred keeps its NULL without a write
        .where(offers, or_(Offer.recurrence_months.is_not(None), Offer.due_again_at.is_not(None)))
        .values(due_again_at=due_again_at())
        .execution_options(synchronize_session="fetch")
    )


def offers_of(orders: ColumnElement[bool]) -> ColumnElement[bool]:
    """The offers that the orders matching ``orders`` were placed from."""
    return Offer.id.in_(select(Order.offer_id).where(orders, Order.offer_id.is_not(None)))


def _due_again_candidates(
    session: Session, *, now: datetime, after: int, limit: int
) -> Sequence[Row[int, int, datetime, int, datetime]]:
    """Offers whose ``due_again_at`` has come, after ``after`` by id, with what they are
    due for by their orders now: (offer, person, valid until, latest order, due at)."""
    return session.execute(
        select(Offer.id, Offer.person_id, Offer.valid_until, _latest_order_id(), due_again_at())
        .where(
            # read by ix_offer_due_again_at, not by walking the ids (unary + on SQLite)
            Offer.due_again_at.is_not(None),
            Offer.due_again_at <= now,
            unindexed(Offer.id) > after,
        )
        .order_by(Offer.id)
        .limit(limit)
    ).all()


def offers_due_again(session: Session, *, now: datetime, after: int, limit: int) -> list[Reminder]:
    """Recurring offers whose latest order is ``recurrence_months`` old, none open now.

    Only the offers whose ``due_again_at`` has come are read, so the cost follows what is
    due, not how many offers recur. The column is an index, the orders are the truth:
    each candidate is checked against them again, and one not due after all (a reminder
    queued by the last run, a change that missed the column) gets its column recomputed
    and is not read again. An offer past its end waits for EXPIREORDERS to close it.
    """
    found: list[Reminder] = []
    cursor = after
    while len(found) < limit:
        candidates = _due_again_candidates(session, now=now, after=cursor, limit=limit)
        if not candidates:
            break
        stale = []
        for offer_id, person_id, valid_until, order_id, due in candidates:
            if due is not None and due <= now < valid_until:
                key = f"{OFFER_DUE_AGAIN}:{offer_id}:{order_id}"
                found.append(Reminder(OFFER_DUE_AGAIN, key, person_id, None, offer_id))
            elif due is None or due > now:
                stale.append(offer_id)
        if stale:
            refresh_due_again(session, Offer.id.in_(stale))
        cursor = candidates[-1][0]
    return found[:limit]


Finder = Callable[..., list[Reminder]]
RULES: tuple[tuple[str, Finder], ...] = (
    (OFFER_NOT_ORDERED, offers_not_ordered),
    (ORDER_EXPIRING, orders_expiring),
    (KIT_NOT_REGISTERED, kits_not_registered),
    (OFFER_DUE_AGAIN, offers_due_again),
)


def queue_reminders(
    session: Session, reminders: Sequence[Reminder], *, now: datetime
) -> tuple[int, int]:
    """Queue the reminders' notifications in bulk; return (queued, already there). Flushes only."""
    people = {
        person.id: person
        for person in session.scalars(
            select(Person).where(Person.id.in_({r.person_id for r in reminders}))
        )
    }
    requests = [
        NotificationRequest(
            people[reminder.person_id], reminder.kind, reminder.dedupe_key, reminder.order_id
        )
        for reminder in reminders
    ]
    queued = queue_notifications(session, requests, now=now)
    return queued, len(reminders) - queued


def due_counts(session: Session, *, now: datetime, page: int = 5000) -> dict[str, int]:
    """How many reminders of each kind are due and not yet queued (for --dry-run)."""
    counts = {}
    for kind, find in RULES:
        total, after = 0, 0
        while found := find(session, now=now, after=after, limit=page):
            total, after = total + len(found), found[-1].cursor
        counts[kind] = total
    return counts


def add_months(value: datetime, months: int) -> datetime:
    """``value`` plus ``months`` calendar months, the day clamped to the month's end."""
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)
