"""EXPIREORDERS: close orders nobody came to sample in time, and offers past their end."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ep.models import Offer, Order
from ep.models.orders import OPEN_ORDER_STATUSES


def _overdue_orders(now: datetime):
    return (Order.status.in_(OPEN_ORDER_STATUSES), Order.expires_at <= now)


def _overdue_offers(now: datetime):
    return (Offer.status == "active", Offer.valid_until <= now)


def expire_orders(session: Session, *, now: datetime, limit: int) -> int:
    """Mark up to ``limit`` unsampled orders past ``expires_at`` expired; return how many.

    The status is checked again in the UPDATE itself, so an order sampled a moment ago
    is never expired. Flushes only.
    """
    ids = session.scalars(
        select(Order.id).where(*_overdue_orders(now)).order_by(Order.expires_at).limit(limit)
    ).all()
    if not ids:
        return 0
    return session.execute(
        update(Order)
        .where(Order.id.in_(ids), *_overdue_orders(now))
        .values(status="expired")
        .execution_options(synchronize_session=False)
    ).rowcount


def expire_offers(session: Session, *, now: datetime, limit: int) -> int:
    """Mark up to ``limit`` active offers past ``valid_until`` expired; return how many."""
    ids = session.scalars(
        select(Offer.id).where(*_overdue_offers(now)).order_by(Offer.valid_until).limit(limit)
    ).all()
    if not ids:
        return 0
    return session.execute(
        update(Offer)
        .where(Offer.id.in_(ids), *_overdue_offers(now))
        .values(status="expired")
        .execution_options(synchronize_session=False)
    ).rowcount


def overdue_counts(session: Session, *, now: datetime) -> tuple[int, int]:
    """How many orders and offers expire_orders and expire_offers would close now."""
    orders = session.scalar(select(func.count()).select_from(Order).where(*_overdue_orders(now)))
    offers = session.scalar(select(func.count()).select_from(Offer).where(*_overdue_offers(now)))
    return orders, offers
