"""The PDL access log: who read or changed which patient's data. Append-only."""

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ep.models.base import Base
from ep.timeutil import utcnow

ACTOR_TYPES = ("user", "resident", "system")


class AuditEvent(Base):
    """One access or change. No code path updates or deletes these rows.

    The patient is kept as personnummer, not a foreign key, so the event outlives the
    retention of the data it describes (PDL: at least five years).
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        # the resident's extract and the admin's search by patient
        Index("ix_audit_event_patient_at", "patient_personnummer", "at"),
        # the admin's search by user
        Index("ix_audit_event_actor_id_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[str] = mapped_column(String(40))  # HSA-ID, personnummer or "system"
    actor_name: Mapped[str | None] = mapped_column(String(200))
    care_unit_hsa_id: Mapped[str | None] = mapped_column(String(31))
    care_unit_name: Mapped[str | None] = mapped_column(String(200))
    patient_personnummer: Mapped[str | None] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(60))  # read:results, update:order …
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(60))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)
