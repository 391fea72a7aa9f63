"""EP.Admin's search of the PDL access log: by patient, user and time, a page at a time.

The search itself shows who looked at a patient's data, so it is logged too.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ep.domain.audit import Actor, record
from ep.models import AuditEvent

PAGE_SIZE = 50


@dataclass
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def search_audit(
    session: Session,
    *,
    personnummer: str | None = None,
    hsa_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    actor: Actor,
    now: datetime,
) -> AuditPage:
    """Return one page of matching events, newest first; log the search."""
    conditions = []
    if personnummer:
        conditions.append(AuditEvent.patient_personnummer == personnummer)
    if hsa_id:
        conditions.append(AuditEvent.actor_id == hsa_id)
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    if until is not None:
        conditions.append(AuditEvent.at < until)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    page = max(1, page)
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(*conditions)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    filters = [
        f"{name}={value.isoformat() if isinstance(value, datetime) else value}"
        for name, value in (
            ("patient", personnummer),
            ("user", hsa_id),
            ("since", since),
            ("until", until),
        )
        if value
    ]
    record(
        session,
        actor,
        "search:audit-log",
        now=now,
        patient=personnummer or None,
        details=(", ".join(filters) or "no filter") + f"; page {page}",
    )
    return AuditPage(events, total or 0, page, page_size)
