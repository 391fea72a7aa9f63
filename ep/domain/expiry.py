"""EXPIREORDERS: close orders nobody came to sample in time, and offers past their end."""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session

from ep.domain.bulk import Model
from ep.domain.reminders import offers_of, refresh_due_again
from ep.models import Offer, Order
from ep.models.orders import OPEN_ORDER_STATUSES


def _overdue_orders(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Order.status.in_(OPEN_ORDER_STATUSES), Order.expires_at <= now)


def _overdue_offers(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Offer.status == "active", Offer.valid_until <= now)


def _expire(
    session: Session,
    model: Model,
    overdue: tuple[ColumnElement[bool], ...],
    oldest_first: Any,
    limit: int,
) -> tuple[int, list[int]]:
    """Mark up to ``limit`` overdue rows expired; the UPDATE checks the state again, so a
    row that changed a moment ago (say, an order just sampled) is left alone. Returns how
    many were expired and the ids looked at."""
    query = select(model.id).where(*overdue).order_by(oldest_first).limit(limit)
    ids = list(session.scalars(query))
    if not ids:
        return 0, ids
    expired = session.execute(
        update(model)
        .where(model.id.in_(ids), *overdue)
        .values(status="expired")
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], expired).rowcount, ids  # an UPDATE's result counts its rows


def expire_orders(session: Session, *, now: datetime, limit: int) -> int:
    """Mark up to ``limit`` unsampled orders past ``expires_at`` expired; flushes only."""
    count, ids = _expire(session, Order, _overdue_orders(now), Order.expires_at, limit)
    if ids:
        # an offer whose order expired unsampled comes due again counted from that order
        refresh_due_again(session, offers_of(Order.id.in_(ids)))
    return count


def expire_offers(session: Session, *, now: datetime, limit: int) -> int:
    """Mark up to ``limit`` active offers past ``valid_until`` expired; flushes only."""
    count, ids = _expire(session, Offer, _overdue_offers(now), Offer.valid_until, limit)
    if ids:
        refresh_due_again(session, Offer.id.in_(ids))  # an expired offer is never due again
    return count


def overdue_counts(session: Session, *, now: datetime) -> tuple[int, int]:
    """How many orders and offers expire_orders and expire_offers would close now."""
    orders = session.scalar(select(func.count()).select_from(Order).where(*_overdue_orders(now)))
    offers = session.scalar(select(func.count()).select_from(Offer).where(*_overdue_offers(now)))
    return orders or 0, offers or 0
