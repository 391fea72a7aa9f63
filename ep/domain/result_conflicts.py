"""Conflicting final lab values, held back until staff decide (see ep.domain.results).

A conflict is a final value that arrived for an analysis that had a final value already,
without saying it corrects it. The value the resident may have read stays current; staff
see both on the conflict worklist and either keep it or let the new value replace it.
Replacing puts the order back to resulted, so the release batch shows the new value to
the resident and tells them there is news: the resident's view never changes silently.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ep.domain import DomainError, NotFound
from ep.domain.audit import Actor, record
from ep.domain.patient_access import acting_user, log_list_reads
from ep.models import LabMessage, Order, Person, Result

KEEP = "keep"
REPLACE = "replace"


@dataclass
class Conflict:
    """One held-back value beside the value that is current for the same analysis."""

    held: Result
    current: Result | None  # None when staff removed it meanwhile (not done by EP today)
    order: Order
    personnummer: str
    held_source: str | None
    current_source: str | None


def open_conflicts(session: Session, *, actor: Actor, now: datetime) -> list[Conflict]:
    """Return the conflicts waiting for staff, oldest first; log one read per patient."""
    held_rows = session.execute(
        select(Result, Order, Person.personnummer, LabMessage.source)
        .join(Order, Order.id == Result.order_id)
        .join(Person, Person.id == Order.person_id)
        .outerjoin(LabMessage, LabMessage.id == Result.lab_message_id)
        .where(Result.conflict == "open")
        .order_by(Result.received_at, Result.id)
    ).all()
    current = _current_for(session, [row[0] for row in held_rows])
    conflicts = []
    for held, order, personnummer, source in held_rows:
        now_shown, now_source = current.get((held.order_id, held.analysis_code), (None, None))
        conflicts.append(Conflict(held, now_shown, order, personnummer, source, now_source))
    shown: dict[str, list[str]] = {}
    for conflict in conflicts:
        shown.setdefault(conflict.personnummer, []).append(conflict.order.number)
    log_list_reads(session, actor, "read:result-conflicts", shown, object_type="order", now=now)
    return conflicts


def _current_for(
    session: Session, held: list[Result]
) -> dict[tuple[int, str], tuple[Result, str | None]]:
    if not held:
        return {}
    message = aliased(LabMessage)
    rows = session.execute(
        select(Result, message.source)
        .outerjoin(message, message.id == Result.lab_message_id)
        .where(
            Result.order_id.in_({r.order_id for r in held}),
            Result.analysis_code.in_({r.analysis_code for r in held}),
            Result.superseded_at.is_(None),
        )
    ).all()
    return {(r.order_id, r.analysis_code): (r, source) for r, source in rows}


def decide_conflict(
    session: Session, *, result_id: int, decision: str, actor: Actor, now: datetime
) -> Result:
    """Keep the current value or let the held one replace it; audited; flush only.

    Raises NotFound for no such result, DomainError when it is no open conflict (decided
    by someone else meanwhile) or the decision is neither keep nor replace.
    """
    if decision not in (KEEP, REPLACE):
        raise DomainError(f"decision {decision!r} is neither {KEEP} nor {REPLACE}")
    held = session.get(Result, result_id)
    if held is None:
        raise NotFound(f"no result {result_id}")
    if held.conflict != "open":
        raise DomainError(f"result {result_id} is no open conflict")
    current = session.scalar(
        select(Result).where(
            Result.order_id == held.order_id,
            Result.analysis_code == held.analysis_code,
            Result.superseded_at.is_(None),
        )
    )
    user = acting_user(session, actor)
    held.conflict_decided_at = now
    held.conflict_decided_by_id = user.id if user is not None else None
    order = held.order
    was = f"{current.value_text} {current.unit or ''}".strip() if current else "none"
    new = f"{held.value_text} {held.unit or ''}".strip()
    if decision == KEEP:
        held.conflict = "kept"
    else:
        held.conflict = "replaced"
        held.superseded_at = held.superseded_by_id = None
        if current is not None:
            current.superseded_at, current.superseded_by_id = now, held.id
        # back to resulted: the release batch shows the new value and tells the resident
        order.status, order.resulted_at = "resulted", now
    record(
        session,
        actor,
        f"update:result-conflict-{decision}",
        now=now,
        patient=order.person.personnummer,
        object_type="order",
        object_id=order.number,
        details=f"{held.analysis_code}: kept {was}, not {new}"
        if decision == KEEP
        else f"{held.analysis_code}: {new} replaces {was}",
    )
    session.flush()
    return held
