"""Staff reading a patient's data: each read writes one PDL access-log event.

The event goes into the caller's session, so it is committed in the same transaction
as the read's response: no read is shown that is not also logged.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ep.domain import NotFound
from ep.domain.audit import Actor, record, record_many
from ep.domain.users import find_user
from ep.identity import parse_personnummer
from ep.models import Offer, Order, Person, Result, User


def acting_user(session: Session, actor: Actor) -> User | None:
    """Return the User behind a staff actor (None for the system or a resident)."""
    return find_user(session, actor.id) if actor.type == "user" else None


def log_order_change(
    session: Session, actor: Actor, order: Order, details: str, *, now: datetime
) -> None:
    """Log a change staff made to an order (sampled, contacted …)."""
    record(
        session,
        actor,
        "update:order",
        now=now,
        patient=order.person.personnummer,
        object_type="order",
        object_id=order.number,
        details=details,
    )


def log_list_reads(
    session: Session,
    actor: Actor,
    action: str,
    shown: dict[str, list[str]],
    *,
    object_type: str,
    now: datetime,
) -> None:
    """Log a list page as one read per patient it shows (personnummer -> the ids shown)."""
    record_many(
        session,
        actor,
        action,
        [
            dict(
                patient=personnummer,
                object_type=object_type,
                object_id=ids[0] if len(ids) == 1 else None,
                details=", ".join(ids),
            )
            for personnummer, ids in shown.items()
        ],
        now=now,
    )


@dataclass
class PatientRecord:
    """What the staff patient page shows: the person, offers, orders and current results."""

    person: Person
    offers: list[Offer]
    orders: list[Order]
    results: dict[int, list[Result]]  # order id -> current results


def find_person(session: Session, personnummer: str) -> Person | None:
    """Return the resident with this personnummer (any accepted form), or None."""
    number = parse_personnummer(personnummer)
    return session.scalar(select(Person).where(Person.personnummer == number))


def current_results(session: Session, order_ids: list[int]) -> dict[int, list[Result]]:
    """Return the current (not superseded) results of these orders, by order id."""
    by_order: dict[int, list[Result]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return by_order
    rows = session.scalars(
        select(Result)
        .where(Result.order_id.in_(order_ids), Result.superseded_at.is_(None))
        .order_by(Result.order_id, Result.id)
    )
    for row in rows:
        by_order[row.order_id].append(row)
    return by_order


def read_patient(session: Session, *, person_id: int, actor: Actor, now: datetime) -> PatientRecord:
    """Return the patient's record for the staff page; log the read."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no resident {person_id}")
    offers = list(
        session.scalars(
            select(Offer)
            .where(Offer.person_id == person.id)
            .order_by(Offer.created_at.desc())
            .options(selectinload(Offer.package))
        )
    )
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.person_id == person.id)
            .order_by(Order.ordered_at.desc())
            # the page shows each order's package and sampling location: one query each
            .options(selectinload(Order.package), selectinload(Order.location))
        )
    )
    results = current_results(session, [order.id for order in orders])
    record(
        session,
        actor,
        "read:patient",
        now=now,
        patient=person.personnummer,
        object_type="person",
        object_id=person.id,
        details="offers, orders, results",
    )
    return PatientRecord(person, offers, orders, results)


def read_order(
    session: Session, *, order_id: int, actor: Actor, now: datetime, purpose: str
) -> tuple[Order, list[Result]]:
    """Return one order with its current results; log the read with its purpose."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    results = current_results(session, [order.id])[order.id]
    record(
        session,
        actor,
        f"read:{purpose}",
        now=now,
        patient=order.person.personnummer,
        object_type="order",
        object_id=order.number,
    )
    return order, results
