"""The notification outbox and the resident's in-app inbox."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep.models.base import Base
from ep.models.people import Person
from ep.timeutil import utcnow

NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")


class Notification(Base):
    """One message to one resident on one channel, sent at most once.

    ``dedupe_key`` (say ``reminder:order-expiring:42``) is unique, so a rerun can never
    create the same message twice, and it is passed to the provider as the idempotency key.
    """

    __tablename__ = "notification"
    __table_args__ = (
        # the sender's work query: pending rows due now, oldest first
        Index("ix_notification_status_next_attempt_at", "status", "next_attempt_at"),
        # PURGE: notifications created before the retention cutoff
        Index("ix_notification_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # reminder:offer-not-ordered, result …
    channel: Mapped[str] = mapped_column(String(10))  # inbox | file | smtp | sms
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    language: Mapped[str] = mapped_column(String(2), default="sv")
    recipient: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a worker's claim: a claim older than the batch lease is taken over
    claimed_by_run_id: Mapped[int | None]
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship()


class InboxMessage(Base):
    """A message in the resident's in-app inbox ("Meddelanden")."""

    __tablename__ = "inbox_message"
    __table_args__ = (
        # the resident's inbox, newest first
        Index("ix_inbox_message_person_id_created_at", "person_id", "created_at"),
        # PURGE: inbox messages created before the retention cutoff
        Index("ix_inbox_message_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # indexed: PURGE unlinks and deletes orders, each looked up here
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship()
