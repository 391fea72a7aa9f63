"""The resident's orders: what they may order, placing and cancelling, home kits.

Every function takes the resident it acts for and refuses (NotFound) anything that is not
theirs, so a view can never hand one resident another's order by a guessed id.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ep.domain import DomainError, NotFound
from ep.domain.audit import Actor, described, record
from ep.domain.patient_access import acting_user, log_order_change
from ep.domain.reminders import refresh_due_again
from ep.identity import InvalidIdentifier, new_order_number, parse_kit_code
from ep.identity.personnummer import age_on
from ep.models import Kit, Offer, Order, Package, Person, SamplingLocation
from ep.models.orders import OPEN_ORDER_STATUSES
from ep.timeutil import local

ORDER_NUMBER_TRIES = 10


class OrderRefused(DomainError):
    """The resident may not do this; ``reason`` is a key the web translates."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Orderable:
    """A package the resident may order now, from an offer or as generally available."""

    package: Package
    offer: Offer | None = None


def resident_actor(person: Person) -> Actor:
    """The actor for audit events of a resident's own changes."""
    return Actor("resident", person.personnummer, person.name or None)


def record_own_change(
    session: Session,
    person: Person,
    action: str,
    *,
    now: datetime,
    object_type: str,
    object_id: str,
    details: str | None = None,
) -> None:
    """Log a change the resident made to their own data (PDL: every change is logged)."""
    record(
        session,
        resident_actor(person),
        action,
        now=now,
        patient=person.personnummer,
        object_type=object_type,
        object_id=object_id,
        details=details,
    )


def is_eligible(person: Person, package: Package, *, now: datetime) -> bool:
    """Return whether ``person`` is within the package's age limits on ``now``'s date."""
    age = age_on(person.personnummer, local(now).date())
    if package.min_age is not None and age < package.min_age:
        return False
    return package.max_age is None or age <= package.max_age


def orderable(session: Session, *, person: Person, now: datetime) -> list[Orderable]:
    """Return the resident's active offers and the generally available packages they may order.

    An offer or package with an order still waiting for sampling is left out, so a second
    click cannot order the same thing twice.
    """
    open_orders = session.execute(
        select(Order.offer_id, Order.package_id).where(
            Order.person_id == person.id, Order.status.in_(OPEN_ORDER_STATUSES)
        )
    ).all()
    open_offers = {offer_id for offer_id, _ in open_orders if offer_id is not None}
    open_packages = {package_id for offer_id, package_id in open_orders if offer_id is None}

    offers = session.scalars(
        select(Offer)
        .join(Offer.package)
        .where(
            Offer.person_id == person.id,
            Offer.status == "active",
            Offer.valid_from <= now,
            Offer.valid_until >= now,
            Package.active,
        )
        .options(selectinload(Offer.package))
        .order_by(Offer.valid_until, Offer.id)
    ).all()
    items = [Orderable(offer.package, offer) for offer in offers if offer.id not in open_offers]

    general = session.scalars(
        select(Package).where(Package.active, Package.generally_available).order_by(Package.code)
    ).all()
    items += [
        Orderable(package)
        for package in general
        if package.id not in open_packages and is_eligible(person, package, now=now)
    ]
    return items


def find_orderable(
    session: Session, *, person: Person, package_id: int, offer_id: int | None, now: datetime
) -> Orderable:
    """Return the one orderable item for this package (and offer); NotFound otherwise."""
    for item in orderable(session, person=person, now=now):
        if item.package.id == package_id and (item.offer.id if item.offer else None) == offer_id:
            return item
    raise NotFound("nothing to order here")


def active_locations(session: Session) -> list[SamplingLocation]:
    """Return the sampling locations a resident can choose, by name."""
    return list(
        session.scalars(
            select(SamplingLocation).where(SamplingLocation.active).order_by(SamplingLocation.name)
        )
    )


def _unused_order_number(session: Session) -> str:
    for _ in range(ORDER_NUMBER_TRIES):
        number = new_order_number()
        if session.scalar(select(Order.id).where(Order.number == number)) is None:
            return number
    raise DomainError("could not find a free order number")  # 32**7 numbers: never in practice


def place_order(
    session: Session,
    *,
    person: Person,
    package: Package,
    offer: Offer | None = None,
    location: SamplingLocation | None = None,
    home_kit: bool = False,
    delivery_address: str | None = None,
    now: datetime,
) -> Order:
    """Order ``package`` for ``person``: at ``location`` or, if the package has one, a home kit.

    The order gets a new order number (with its check character) and expires after the
    package's validity days. An offer that does not recur is used up by the order.
    """
    if offer is not None:
        if offer.person_id != person.id:
            raise NotFound("no such offer")
        if offer.package_id != package.id or offer.status != "active":
            raise OrderRefused("offer-not-active", "the offer cannot be ordered from")
        if not offer.valid_from <= now <= offer.valid_until:
            raise OrderRefused("offer-not-active", "the offer is not valid now")
    elif not package.generally_available:
        raise OrderRefused("not-eligible", "this package needs an offer from the care unit")
    elif not is_eligible(person, package, now=now):
        raise OrderRefused("not-eligible", "this package is not for the resident's age")
    if not package.active:
        raise OrderRefused("not-eligible", "the package is no longer offered")

    if home_kit:
        if not package.home_kit:
            raise OrderRefused("no-home-kit", "this package has no home kit")
        delivery_address = " ".join((delivery_address or "").split())
        if not 5 <= len(delivery_address) <= 300:
            raise OrderRefused("address-required", "a home kit needs the address to post it to")
        location = None
    elif location is None:
        raise OrderRefused("location-required", "choose a sampling location or a home kit")
    elif not location.active:
        raise OrderRefused("location-required", "the sampling location is closed")

    order = Order(
        number=_unused_order_number(session),
        person_id=person.id,
        package_id=package.id,
        offer_id=offer.id if offer else None,
        location_id=location.id if location else None,
        home_kit=home_kit,
        delivery_address=delivery_address if home_kit else None,
        status="ordered",
        ordered_at=now,
        expires_at=now + timedelta(days=package.order_validity_days),
    )
    session.add(order)
    if offer is not None and offer.recurrence_months is None:
        offer.status = "ordered"
    session.flush()
    if offer is not None:
        refresh_due_again(session, Offer.id == offer.id)  # not due while this one is open
    record_own_change(
        session,
        person,
        "order:place",
        now=now,
        object_type="order",
        object_id=order.number,
        details=package.code,
    )
    return order


def my_orders(session: Session, *, person: Person) -> list[Order]:
    """Return the resident's orders, newest first, with package, location and kit loaded."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.person_id == person.id)
            .options(
                selectinload(Order.package),
                selectinload(Order.location),
                selectinload(Order.kit),
            )
            .order_by(Order.ordered_at.desc(), Order.id.desc())
        )
    )


def get_order(session: Session, *, person: Person, order_id: int) -> Order:
    """Return the resident's own order; NotFound for anyone else's, whatever the id."""
    order = session.scalar(select(Order).where(Order.id == order_id, Order.person_id == person.id))
    if order is None:
        raise NotFound("no such order")
    return order


def can_cancel(order: Order) -> bool:
    """An order can be cancelled until it has been sampled."""
    return order.status in OPEN_ORDER_STATUSES


def cancel_order(session: Session, *, person: Person, order: Order, now: datetime) -> Order:
    """Cancel the resident's order while it is not sampled; a used-up offer opens again."""
    if order.person_id != person.id:
        raise NotFound("no such order")
    if not can_cancel(order):
        raise OrderRefused("not-cancellable", "the order has been sampled and cannot be cancelled")
    order.status = "cancelled"
    order.cancelled_at = now
    offer = order.offer
    if offer is not None and offer.status == "ordered" and offer.valid_until >= now:
        offer.status = "active"
    session.flush()
    if order.offer_id is not None:
        # the order before this one is the latest again
        refresh_due_again(session, Offer.id == order.offer_id)
    record_own_change(
        session, person, "order:cancel", now=now, object_type="order", object_id=order.number
    )
    return order


def normalise_kit_code(code: str) -> str:
    """Return the kit code as printed (upper case, no spaces); OrderRefused if malformed."""
    try:
        return parse_kit_code(code)
    except InvalidIdentifier:
        raise OrderRefused(
            "kit-code-invalid", "a kit code has 6-40 letters, digits and dashes"
        ) from None


def register_kit(session: Session, *, person: Person, code: str, now: datetime) -> Kit:
    """Bind the home kit with ``code`` to the resident and to their open home-kit order.

    A kit already registered by someone else is refused with the same words as a code
    that fits no order, so a guessed code tells nothing about other residents.
    """
    code = normalise_kit_code(code)
    kit = session.scalar(select(Kit).where(Kit.code == code))
    if kit is not None and kit.person_id == person.id:
        if kit.registered_at is None:
            # a kit staff posted is the resident's already: registering says it has come
            kit.registered_at = now
            session.flush()
            record_own_change(
                session, person, "kit:register", now=now, object_type="kit", object_id=kit.code
            )
        return kit  # registering twice is harmless
    if kit is not None and kit.person_id is not None:
        raise OrderRefused("kit-not-registrable", "the kit code cannot be registered")

    waiting = select(Order).where(
        Order.person_id == person.id,
        Order.home_kit,
        Order.kit_id.is_(None),
        Order.status.in_(OPEN_ORDER_STATUSES),
    )
    if kit is not None:
        waiting = waiting.where(Order.package_id == kit.package_id)
    order = session.scalar(waiting.order_by(Order.ordered_at, Order.id))
    if order is None:
        raise OrderRefused("kit-not-registrable", "the kit code cannot be registered")
    if kit is None:
        # kits are handed out over the counter and by post without EP knowing their codes;
        # the first registration creates the kit for the order it completes
        kit = Kit(code=code, package_id=order.package_id, created_at=now)
        session.add(kit)
    kit.person_id = person.id
    kit.registered_at = now
    session.flush()
    order.kit_id = kit.id
    session.flush()
    record_own_change(
        session,
        person,
        "kit:register",
        now=now,
        object_type="kit",
        object_id=kit.code,
        details=order.number,
    )
    return kit


def last_delivery_address(session: Session, *, person: Person) -> str:
    """The address the resident's last home kit went to, to confirm or change; else ''."""
    return (
        session.scalar(
            select(Order.delivery_address)
            .where(Order.person_id == person.id, Order.delivery_address.is_not(None))
            .order_by(Order.ordered_at.desc(), Order.id.desc())
            .limit(1)
        )
        or ""
    )


def send_kit(session: Session, *, order: Order, code: str, actor: Actor, now: datetime) -> Kit:
    """Staff post a home kit: its code is bound to the order and the resident at once.

    The lab then finds the order by the kit's code, even before the resident registers.
    """
    if not order.home_kit or order.status not in OPEN_ORDER_STATUSES:
        raise OrderRefused("kit-not-sendable", "only an open home-kit order gets a kit")
    if order.kit_id is not None:
        raise OrderRefused("kit-not-sendable", "the order has a kit already")
    code = normalise_kit_code(code)
    if session.scalar(select(Kit.id).where(Kit.code == code)) is not None:
        raise OrderRefused("kit-code-taken", "another kit has this code")
    kit = Kit(
        code=code,
        package_id=order.package_id,
        person_id=order.person_id,
        sent_at=now,
        sent_by_id=user.id if (user := acting_user(session, actor)) else None,
        created_at=now,
    )
    session.add(kit)
    session.flush()
    order.kit_id = kit.id
    session.flush()
    log_order_change(session, actor, order, described("kit-sent", kit=code), now=now)
    return kit


def order_of_kit(session: Session, *, person: Person, kit: Kit) -> Order:
    """Return the resident's order that a registered kit belongs to."""
    order = session.scalar(
        select(Order).where(Order.kit_id == kit.id, Order.person_id == person.id)
    )
    if order is None:
        raise NotFound("no such kit")
    return order
