"""At the desk: find a resident by whatever they bring, and add one EP has not met yet.

A resident at the counter shows a personnummer, an order number or the code on a home
kit. Each lookup names a patient (or tries to), so each is logged in the PDL access log
like the personnummer search always was.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain import NotFound
from ep.domain.audit import Actor, described, record
from ep.domain.patient_access import find_person
from ep.domain.staff_input import N_, Problems
from ep.identity import InvalidIdentifier, parse_kit_code, parse_order_number, parse_personnummer
from ep.models import Kit, Order, Person
from ep.timeutil import local

NAME_LENGTH = 100


@dataclass(frozen=True)
class Found:
    """Whom a desk search found, and the order it named (for a number or a kit code)."""

    person: Person
    order: Order | None = None


class UnknownResident(NotFound):
    """A valid personnummer that no resident in EP has: staff may add the resident."""

    def __init__(self, personnummer: str):
        super().__init__(f"no resident with personnummer {personnummer}")
        self.personnummer = personnummer


def search(session: Session, *, key: str, actor: Actor, now: datetime) -> Found:
    """Find the resident by personnummer, order number or kit code (tried in that order).

    Raises InvalidIdentifier when ``key`` is none of the three, UnknownResident for a
    personnummer EP does not know and NotFound for an order number or kit code no order
    has; every outcome but the malformed one is logged.
    """
    try:
        personnummer = parse_personnummer(key, today=local(now).date())
    except InvalidIdentifier:
        if looks_like_personnummer(key):
            raise  # a mistyped personnummer, not a kit code made of digits
        personnummer = None
    if personnummer is not None:
        person = find_person(session, personnummer)
        if person is None:
            record(
                session,
                actor,
                "search:patient",
                now=now,
                patient=personnummer,
                details=described("not-found"),
            )
            raise UnknownResident(personnummer)
        return Found(person)

    order, searched = _order_by_number_or_kit(session, key)
    record(
        session,
        actor,
        "search:patient",
        now=now,
        patient=order.person.personnummer if order else None,
        object_type="order",
        object_id=order.number if order else None,
        details=described(searched[0] if order else f"{searched[0]}-not-found", key=searched[1]),
    )
    if order is None:
        raise NotFound(f"no order with {searched[0]} {searched[1]}")
    return Found(order.person, order)


def looks_like_personnummer(key: str) -> bool:
    """Digits with a dash or plus at most: meant as a personnummer, whatever else it fits."""
    return bool(key.strip()) and all(c.isdigit() or c in "-+ " for c in key.strip())


def _order_by_number_or_kit(session: Session, key: str) -> tuple[Order | None, tuple[str, str]]:
    """The order and what was searched: ("order-number" or "kit-code", the number or code)."""
    try:
        number = parse_order_number(key)
    except InvalidIdentifier:
        number = None
    if number is not None:
        order = session.scalar(select(Order).where(Order.number == number))
        return order, ("order-number", number)
    code = parse_kit_code(key)  # InvalidIdentifier: the key is none of the three
    order = session.scalar(select(Order).join(Kit, Kit.id == Order.kit_id).where(Kit.code == code))
    return order, ("kit-code", code)


def add_resident(
    session: Session,
    *,
    personnummer: str,
    given_name: str,
    family_name: str,
    actor: Actor,
    now: datetime,
) -> Person:
    """Add a resident who has not logged in yet, so staff can assign an offer.

    The name is what staff entered; the region's login replaces it when the resident
    logs in with a name. Raises InvalidInput naming the fields to fix.
    """
    problems = Problems()
    try:
        personnummer = parse_personnummer(personnummer, today=local(now).date())
    except InvalidIdentifier:
        problems.add("personnummer", N_("Personnumret är inte giltigt."))
    names = {
        "given_name": " ".join(given_name.split()),
        "family_name": " ".join(family_name.split()),
    }
    for field, value in names.items():
        if not value:
            problems.add(field, N_("Skriv invånarens namn."))
        elif len(value) > NAME_LENGTH:
            problems.add(field, N_("Namnet får ha högst %(max)s tecken."), max=NAME_LENGTH)
    problems.raise_any()
    if find_person(session, personnummer) is not None:
        problems.add("personnummer", N_("Invånaren finns redan i EP."))
        problems.raise_any()
    person = Person(personnummer=personnummer, language="sv", created_at=now, **names)
    session.add(person)
    session.flush()
    record(
        session,
        actor,
        "create:person",
        now=now,
        patient=personnummer,
        object_type="person",
        object_id=person.id,
        details=described("added-at-desk"),
    )
    return person
