"""Lab results and every lab message EP has received."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep.models.base import Base
from ep.models.catalogue import Analysis
from ep.models.orders import Order
from ep.timeutil import utcnow

LAB_MESSAGE_STATUSES = ("imported", "duplicate", "unmatched", "rejected")
RESULT_STATUSES = ("P", "F", "C")  # preliminary, final, corrected (HL7 table 0085)
# a second final value for an analysis that has one is held back for staff to decide:
# open (waiting), kept (the earlier value stays), replaced (the held value became current)
CONFLICT_STATES = ("open", "kept", "replaced")


class LabMessage(Base):
    """One message a lab delivered, kept whole whatever became of it."""

    __tablename__ = "lab_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))  # sending facility or file name origin
    format: Mapped[str] = mapped_column(String(20))  # hl7v2 | fhir
    # idempotency key: MSH-10 or the FHIR resource id; a repeat is recorded as duplicate
    control_id: Mapped[str | None] = mapped_column(String(200), index=True)
    filename: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
    # what the message said, kept for matching unmatched messages by hand
    order_number: Mapped[str | None] = mapped_column(String(40))
    personnummer: Mapped[str | None] = mapped_column(String(12))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # set when staff attach an unmatched message to an order
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    order: Mapped[Order | None] = relationship()


class Result(Base):
    """One analysis value for an order; a correction supersedes and keeps the old row."""

    __tablename__ = "result"
    __table_args__ = (
        # "my results" and the trend: current results per order
        Index("ix_result_order_id_superseded_at", "order_id", "superseded_at"),
        # the staff conflict worklist: the few open conflicts among millions of results
        Index(
            "ix_result_open_conflict",
            "received_at",
            postgresql_where=text("conflict = 'open'"),
            sqlite_where=text("conflict = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"))
    analysis_code: Mapped[str] = mapped_column(String(20))
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analysis.id"))
    value_text: Mapped[str] = mapped_column(String(200))
    value_numeric: Mapped[float | None]
    unit: Mapped[str | None] = mapped_column(String(30))
    ref_range: Mapped[str | None] = mapped_column(String(100))
    ref_low: Mapped[float | None]
    ref_high: Mapped[float | None]
    # HL7 table 0078: L, H, LL, HH, N, A, AA, POS, NEG …; None when the lab gave none
    flag: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(1), default="F")
    comment: Mapped[str | None] = mapped_column(Text)
    observed_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    superseded_at: Mapped[datetime | None]
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("result.id"))
    lab_message_id: Mapped[int | None] = mapped_column(ForeignKey("lab_message.id"))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # set on a final value held back because the analysis had a final value already
    conflict: Mapped[str | None] = mapped_column(String(10))
    conflict_decided_at: Mapped[datetime | None]
    conflict_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    order: Mapped[Order] = relationship()
    # joined: every place that shows a result shows the analysis's name beside it
    analysis: Mapped[Analysis | None] = relationship(lazy="joined")
    lab_message: Mapped[LabMessage | None] = relationship()
