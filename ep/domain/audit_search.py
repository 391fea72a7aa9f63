"""EP.Admin's search of the PDL access log: by patient, user and time, a page at a time.

Five years of a region's log are millions of events, so a page costs the same on the
first page and the last: pages are read by keyset (the events after the last one shown,
by time and id, through the time index), never by OFFSET, and the count stops at
COUNT_CAP ("more than 10,000"). The search itself shows who looked at a patient's data,
so it is logged too.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from ep.domain.audit import Actor, described, record
from ep.models import AuditEvent

PAGE_SIZE = 50
COUNT_CAP = 10_000

Cursor = tuple[datetime, int]


def format_cursor(event: AuditEvent) -> str:
    """The page boundary at ``event``, as the form sends it back."""
    return f"{event.at.isoformat()}_{event.id}"


def parse_cursor(text: str | None) -> Cursor | None:
    """The boundary a form sent, or None when there is none or it is not one of ours."""
    at, _, event_id = (text or "").rpartition("_")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None or not event_id.isdigit():
        return None
    return moment, int(event_id)


@dataclass
class AuditPage:
    events: list[AuditEvent]
    total: int  # counted up to COUNT_CAP + 1
    page: int
    page_size: int
    has_previous: bool
    has_next: bool
    count_cap: int = COUNT_CAP

    @property
    def capped(self) -> bool:
        """More events match than were counted."""
        return self.total > self.count_cap

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, self.count_cap) // self.page_size))

    @property
    def previous_cursor(self) -> str:
        return format_cursor(self.events[0]) if self.events else ""

    @property
    def next_cursor(self) -> str:
        return format_cursor(self.events[-1]) if self.events else ""


def search_audit(
    session: Session,
    *,
    personnummer: str | None = None,
    hsa_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    after: Cursor | None = None,
    before: Cursor | None = None,
    page_size: int = PAGE_SIZE,
    actor: Actor,
    now: datetime,
) -> AuditPage:
    """Return one page of matching events, newest first; log the search.

    ``after``: the page older than that event (next); ``before``: the page newer than it
    (previous); neither: the newest page. ``page`` is only the number shown.
    """
    conditions = []
    if personnummer:
        conditions.append(AuditEvent.patient_personnummer == personnummer)
    if hsa_id:
        conditions.append(AuditEvent.actor_id == hsa_id)
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    if until is not None:
        conditions.append(AuditEvent.at < until)
    matching = select(AuditEvent.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = session.scalar(select(func.count()).select_from(matching)) or 0
    key = tuple_(AuditEvent.at, AuditEvent.id)
    query = select(AuditEvent).where(*conditions).limit(page_size + 1)
    if before is not None:
        # the plain time bound lets the database read the time index from there
        rows = list(
            session.scalars(
                query.where(key > before, AuditEvent.at >= before[0]).order_by(
                    AuditEvent.at, AuditEvent.id
                )
            )
        )
        events = list(reversed(rows[:page_size]))
        has_previous, has_next = len(rows) > page_size, True
    else:
        if after is not None:
            query = query.where(key < after, AuditEvent.at <= after[0])
        rows = list(session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())))
        events = rows[:page_size]
        has_previous, has_next = after is not None, len(rows) > page_size
    page = max(1, page) if (after or before) else 1
    record(
        session,
        actor,
        "search:audit-log",
        now=now,
        patient=personnummer or None,
        details=described(
            "audit-search",
            patient=personnummer,
            user=hsa_id,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            page=page,
        ),
    )
    return AuditPage(events, total, page, page_size, has_previous, has_next, COUNT_CAP)
