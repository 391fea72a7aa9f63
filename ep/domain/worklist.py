"""The STI-positive worklist: results held until staff have contacted the resident.

Under the contact-positive release policy a positive result is not released to the
resident; smittskyddslagen requires that staff contact them first. Marking the order
contacted releases it (and the resident is notified, content-free).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ep.domain import DomainError
from ep.domain.audit import Actor
from ep.domain.patient_access import (
    acting_user,
    current_results,
    log_list_reads,
    log_order_change,
)
from ep.domain.release import release_order
from ep.domain.staff_input import N_, Problems
from ep.models import Order, Result
from ep.timeutil import STOCKHOLM, local

# how staff reached the resident (the audit log keeps the key)
CONTACT_WAYS = ("phone", "visit", "video")
NOTE_LENGTH = 500


@dataclass(frozen=True)
class ContactNote:
    """Who (the actor), when and how the resident was contacted, and what was said."""

    how: str
    at: datetime
    note: str

    def details(self) -> str:
        when = local(self.at).strftime("%Y-%m-%d %H:%M")
        note = f": {self.note}" if self.note else ""
        return f"contacted by {self.how} at {when}{note}; result released"


def contact_note(*, how: str, when: str, note: str, now: datetime) -> ContactNote:
    """Read the contact form: a way, a local time not in the future, an optional note.

    Raises InvalidInput naming the fields to fix.
    """
    problems = Problems()
    if how not in CONTACT_WAYS:
        problems.add("how", N_("Välj hur du kontaktade invånaren."))
    at = None
    try:
        at = datetime.fromisoformat((when or "").strip()).replace(tzinfo=STOCKHOLM)
    except ValueError:
        problems.add("when", N_("Skriv tiden som ÅÅÅÅ-MM-DD TT:MM."))
    if at is not None and not now - timedelta(days=30) <= at <= now + timedelta(minutes=5):
        problems.add("when", N_("Tiden ska vara nu eller de senaste 30 dagarna."))
    note = " ".join((note or "").split())
    if len(note) > NOTE_LENGTH:
        problems.add("note", N_("Anteckningen får ha högst %(max)s tecken."), max=NOTE_LENGTH)
    problems.raise_any()
    assert at is not None  # an unreadable time was a problem
    return ContactNote(how, at, note)


@dataclass
class WorklistEntry:
    order: Order
    results: list[Result]


def held_orders(session: Session, *, actor: Actor, now: datetime) -> list[WorklistEntry]:
    """Return the orders waiting for contact, oldest result first; log one read per patient."""
    orders = list(
        session.scalars(
            select(Order)
            # the partial index ix_order_held_resulted_at holds exactly these, in this order
            .where(Order.held_for_contact.is_(True), Order.contacted_at.is_(None))
            .order_by(Order.resulted_at, Order.id)
            # the page shows each order's resident and package: one query each, not per row
            .options(selectinload(Order.person), selectinload(Order.package))
        )
    )
    results = current_results(session, [order.id for order in orders])
    by_patient: dict[str, list[str]] = {}
    for order in orders:
        by_patient.setdefault(order.person.personnummer, []).append(order.number)
    log_list_reads(session, actor, "read:worklist", by_patient, object_type="order", now=now)
    return [WorklistEntry(order, results[order.id]) for order in orders]


def mark_contacted(
    session: Session, *, order: Order, contact: ContactNote, actor: Actor, now: datetime
) -> Order:
    """Record that staff have contacted the resident, and release the held result.

    The contact note (who is the actor; when, how and what was said) is kept in the
    audit log with the release.
    """
    if not order.held_for_contact or order.contacted_at is not None:
        raise DomainError(f"order {order.number} is not waiting for contact")
    user = acting_user(session, actor)
    # held_for_contact stays set, as the record that this result waited for a call;
    # contacted_at is what lets the release policy go (ep.domain.release.must_hold)
    order.contacted_at = contact.at
    order.contacted_by_id = user.id if user else None
    log_order_change(session, actor, order, contact.details(), now=now)
    session.flush()
    release_order(session, order, now=now)
    return order
