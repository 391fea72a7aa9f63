"""Offers: staff assign a package to a resident, valid for a period, maybe recurring."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain.audit import Actor, record
from ep.domain.patient_access import acting_user
from ep.domain.staff_input import N_, Problems
from ep.models import Offer, Package, Person

MAX_RECURRENCE_MONTHS = 24


def assignable_packages(session: Session) -> list[Package]:
    """Return the active packages staff may offer, by name."""
    return list(session.scalars(select(Package).where(Package.active).order_by(Package.name_sv)))


def check_offer(
    problems: Problems,
    *,
    package: Package | None,
    valid_until: datetime | None,
    recurrence_months: int | None,
    now: datetime,
) -> None:
    """Add what is wrong with an offer to ``problems`` (fields as in assign_offer)."""
    if package is None or not package.active:
        problems.add("package", N_("Välj ett provpaket."))
    if valid_until is None:
        problems.add("valid_until", N_("Ange till och med vilket datum erbjudandet gäller."))
    elif valid_until <= now:
        problems.add("valid_until", N_("Datumet måste ligga i framtiden."))
    if recurrence_months is not None and not 1 <= recurrence_months <= MAX_RECURRENCE_MONTHS:
        problems.add(
            "recurrence_months",
            N_("Skriv ett antal månader från 1 till %(high)s, eller lämna tomt."),
            high=MAX_RECURRENCE_MONTHS,
        )


def assign_offer(
    session: Session,
    *,
    person: Person,
    package: Package | None,
    valid_until: datetime | None,
    recurrence_months: int | None,
    actor: Actor,
    now: datetime,
) -> Offer:
    """Offer ``package`` to ``person`` from now until ``valid_until``; log the change.

    Raises InvalidInput (fields ``package``, ``valid_until``, ``recurrence_months``).
    """
    problems = Problems()
    check_offer(
        problems,
        package=package,
        valid_until=valid_until,
        recurrence_months=recurrence_months,
        now=now,
    )
    problems.raise_any()
    assert package is not None and valid_until is not None  # else check_offer objected
    user = acting_user(session, actor)
    offer = Offer(
        person_id=person.id,
        package_id=package.id,
        assigned_by_id=user.id if user else None,
        valid_from=now,
        valid_until=valid_until,
        recurrence_months=recurrence_months,
        status="active",
        created_at=now,
    )
    session.add(offer)
    session.flush()
    record(
        session,
        actor,
        "create:offer",
        now=now,
        patient=person.personnummer,
        object_type="offer",
        object_id=offer.id,
        details=f"{package.code} until {valid_until.date().isoformat()}"
        + (f", every {recurrence_months} months" if recurrence_months else ""),
    )
    return offer
