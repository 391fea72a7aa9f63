"""At the sampling site: find a resident's open orders and mark them sampled."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain import DomainError
from ep.domain.audit import Actor, described, record
from ep.domain.patient_access import acting_user, find_person, log_order_change
from ep.domain.reminders import refresh_due_again
from ep.identity import parse_personnummer
from ep.models import Offer, Order
from ep.models.orders import OPEN_ORDER_STATUSES


def open_orders_for(
    session: Session, *, personnummer: str, actor: Actor, now: datetime
) -> list[Order]:
    """Return the resident's orders waiting for sampling, soonest expiry first; log the read.

    Raises InvalidIdentifier for a malformed personnummer. An unknown resident has no
    orders; the lookup is logged all the same.
    """
    number = parse_personnummer(personnummer)
    person = find_person(session, number)
    orders: list[Order] = []
    if person is not None:
        orders = list(
            session.scalars(
                select(Order)
                .where(
                    Order.person_id == person.id,
                    Order.status.in_(OPEN_ORDER_STATUSES),
                    Order.expires_at > now,
                )
                .order_by(Order.expires_at)
            )
        )
    record(
        session,
        actor,
        "read:open-orders",
        now=now,
        patient=number,
        object_type="person",
        object_id=person.id if person else None,
        details=", ".join(order.number for order in orders) or described("none-open"),
    )
    return orders


def mark_sampled(
    session: Session,
    *,
    order: Order,
    actor: Actor,
    now: datetime,
    sampled_at: datetime | None = None,
) -> Order:
    """Record that the sample for ``order`` was taken now (or at ``sampled_at``); log it.

    Raises DomainError when the order is not waiting for sampling (already sampled,
    cancelled or expired).
    """
    if order.status not in OPEN_ORDER_STATUSES or order.expires_at <= now:
        raise DomainError(f"order {order.number} is not waiting for sampling ({order.status})")
    user = acting_user(session, actor)
    order.status = "sampled"
    order.sampled_at = sampled_at or now
    order.sampled_by_id = user.id if user else None
    log_order_change(session, actor, order, described("sampled"), now=now)
    session.flush()
    if order.offer_id is not None:
        # a recurring offer comes due again counted from the sampling
        refresh_due_again(session, Offer.id == order.offer_id)
    return order
