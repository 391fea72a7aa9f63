"""Offers, orders and home kits: the resident's path from offer to sampling."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, and_, column, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep.models.base import Base, partial_index
from ep.models.catalogue import Package, SamplingLocation
from ep.models.people import Person, User
from ep.timeutil import utcnow

OFFER_STATUSES = ("active", "ordered", "expired", "withdrawn")
ORDER_STATUSES = (
    "ordered",
    "sampled",
    "partial",
    "resulted",
    "released",
    "cancelled",
    "expired",
)
# orders that still wait for sampling; EXPIREORDERS and the reminders look only at these
OPEN_ORDER_STATUSES = ("ordered",)
# a home kit's way, as the resident and staff see it
KIT_STEPS = ("ordered", "sent", "registered", "received", "answered")


class Offer(Base):
    """A package assigned to a resident by staff, valid for a period, maybe recurring."""

    __tablename__ = "offer"
    __table_args__ = (
        # NOTIFYREMINDERS and EXPIREORDERS: active offers by validity
        Index("ix_offer_status_valid_until", "status", "valid_until"),
        # NOTIFYREMINDERS' offer-not-ordered finder walks the active offers by id
        partial_index("ix_offer_active_id", "id", where=column("status") == "active"),
        # NOTIFYREMINDERS' offer-due-again finder walks the recurring offers by id
        partial_index(
            "ix_offer_recurring_id", "id", where=column("recurrence_months").is_not(None)
        ),
        # NOTIFYREMINDERS' offer-due-again finder reads only the offers come due
        partial_index(
            "ix_offer_due_again_at", "due_again_at", where=column("due_again_at").is_not(None)
        ),
        # PURGE: offers ended before the retention cutoff
        Index("ix_offer_valid_until", "valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # indexed, as every foreign key: deleting a package or user must not scan offers
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    # months between recurring samplings (e.g. 3 for quarterly); None = once
    recurrence_months: Mapped[int | None]
    # when the reminder to order again comes due (ep.domain.reminders.refresh_due_again
    # keeps it); None when it never will: not recurring, an order open now, never ordered,
    # reminded already, or not before the offer ends
    due_again_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship()
    package: Mapped[Package] = relationship()
    assigned_by: Mapped[User | None] = relationship()


class Kit(Base):
    """A home test kit; its code (printed as a QR code) binds it to a resident."""

    __tablename__ = "kit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # indexed: deleting a package must not scan every kit
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    registered_at: Mapped[datetime | None]
    # posted to the resident by staff (the kit's code entered then); None = handed out
    sent_at: Mapped[datetime | None]
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    package: Mapped[Package] = relationship()
    person: Mapped[Person | None] = relationship()
    sent_by: Mapped[User | None] = relationship()


class Order(Base):
    """A resident's order of a package: at a sampling location, or as a home kit."""

    __tablename__ = "order"
    __table_args__ = (
        # EXPIREORDERS and the expiring-order reminder: open orders by expiry
        Index("ix_order_status_expires_at", "status", "expires_at"),
        # NOTIFYRESULTS: orders with results waiting for release
        Index("ix_order_status_resulted_at", "status", "resulted_at"),
        # the reminder finders walk the orders still waiting for sampling by id
        partial_index("ix_order_open_id", "id", where=column("status") == "ordered"),
        # the STI worklist: orders held for staff contact, oldest result first
        partial_index(
            "ix_order_held_resulted_at",
            "resulted_at",
            "id",
            where=and_(column("held_for_contact").is_(true()), column("contacted_at").is_(None)),
        ),
        # an offer's orders, the latest first (the offer-due-again rule): the order by id
        # comes from the index itself, so no planner walks the whole table backwards by
        # primary key looking for one offer's latest order
        Index("ix_order_offer_id_id", "offer_id", "id"),
        # PURGE: an order closed before the cutoff was ordered before it, so the closed
        # orders past retention are found among the old ones, not the whole history
        Index("ix_order_ordered_at", "ordered_at"),
        # the rarely set user references, indexed for the foreign key without their NULLs
        partial_index(
            "ix_order_contacted_by_id",
            "contacted_by_id",
            where=column("contacted_by_id").is_not(None),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # indexed, as every foreign key: deleting a package or location must not scan orders
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("sampling_location.id"), index=True)
    kit_id: Mapped[int | None] = mapped_column(ForeignKey("kit.id"), unique=True)
    home_kit: Mapped[bool] = mapped_column(default=False)
    # where a home kit is posted, as the resident confirmed it when ordering
    delivery_address: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="ordered")
    ordered_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    sampled_at: Mapped[datetime | None]
    sampled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # where the sample was taken, when a sampling system said so (/api/v1)
    sampled_location_id: Mapped[int | None] = mapped_column(
        ForeignKey("sampling_location.id"), index=True
    )
    resulted_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # contact-positive policy: a positive result waits here until staff have called
    held_for_contact: Mapped[bool] = mapped_column(default=False)
    contacted_at: Mapped[datetime | None]
    contacted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    person: Mapped[Person] = relationship()
    package: Mapped[Package] = relationship()
    offer: Mapped[Offer | None] = relationship()
    location: Mapped[SamplingLocation | None] = relationship(foreign_keys=[location_id])
    sampled_location: Mapped[SamplingLocation | None] = relationship(
        foreign_keys=[sampled_location_id]
    )
    kit: Mapped[Kit | None] = relationship()
    sampled_by: Mapped[User | None] = relationship(foreign_keys=[sampled_by_id])
    contacted_by: Mapped[User | None] = relationship(foreign_keys=[contacted_by_id])

    @property
    def kit_step(self) -> str | None:
        """How far a home kit has come (one of KIT_STEPS); None for an order at a site."""
        if not self.home_kit:
            return None
        if self.status == "released":
            return "answered"
        if self.status in ("sampled", "partial", "resulted"):
            return "received"
        if self.kit is not None and self.kit.registered_at is not None:
            return "registered"
        if self.kit is not None and self.kit.sent_at is not None:
            return "sent"
        return "ordered"
