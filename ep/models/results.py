"""Lab results and every lab message EP has received."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, and_, column, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep.models.base import Base, partial_index
from ep.models.catalogue import Analysis
from ep.models.orders import Order
from ep.timeutil import utcnow

LAB_MESSAGE_STATUSES = ("imported", "duplicate", "unmatched", "rejected")
# what the operator sees as quarantined: waiting for a person, until resolved
QUARANTINED_STATUSES = ("rejected", "unmatched")
RESULT_STATUSES = ("P", "F", "C")  # preliminary, final, corrected (HL7 table 0085)
# a second final value for an analysis that has one is held back for staff to decide:
# open (waiting), kept (the earlier value stays), replaced (the held value became current)
CONFLICT_STATES = ("open", "kept", "replaced")


class LabMessage(Base):
    """One message a lab delivered, kept whole whatever became of it."""

    __tablename__ = "lab_message"
    __table_args__ = (
        # the quarantined count (operator page, /metrics, ep check) and the unmatched
        # worklist read only the few messages waiting for a person, not millions imported
        partial_index(
            "ix_lab_message_quarantined",
            "status",
            "received_at",
            where=and_(column("status").in_(QUARANTINED_STATUSES), column("resolved_at").is_(None)),
        ),
        # PURGE: lab messages received before the retention cutoff
        Index("ix_lab_message_received_at", "received_at"),
        # the foreign key to the rarely set resolving user, without its NULLs
        partial_index(
            "ix_lab_message_resolved_by_id",
            "resolved_by_id",
            where=column("resolved_by_id").is_not(None),
        ),
    )

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
        # NOTIFYRESULTS starts from the results not yet released, not from every order
        partial_index(
            "ix_result_unreleased_order_id",
            "order_id",
            where=and_(column("released_at").is_(None), column("superseded_at").is_(None)),
        ),
        # PURGE deletes results: each deleted row is looked up here by its correction,
        # which without an index meant a scan of the whole table per deleted result
        partial_index(
            "ix_result_superseded_by_id",
            "superseded_by_id",
            where=column("superseded_by_id").is_not(None),
        ),
        # the foreign key to the user who typed a result in, without its NULLs
        partial_index(
            "ix_result_entered_by_id",
            "entered_by_id",
            where=column("entered_by_id").is_not(None),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"))
    analysis_code: Mapped[str] = mapped_column(String(20))
    # indexed: deleting an analysis must not scan every result
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analysis.id"), index=True)
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
    # indexed: PURGE's "no kept result refers to it" and the delete of a lab message
    lab_message_id: Mapped[int | None] = mapped_column(ForeignKey("lab_message.id"), index=True)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # set on a final value held back because the analysis had a final value already
    conflict: Mapped[str | None] = mapped_column(String(10))
    conflict_decided_at: Mapped[datetime | None]
    # who decided a conflict: indexed so deleting a user never scans all results
    conflict_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)

    order: Mapped[Order] = relationship()
    # joined: every place that shows a result shows the analysis's name beside it
    analysis: Mapped[Analysis | None] = relationship(lazy="joined")
    lab_message: Mapped[LabMessage | None] = relationship()
