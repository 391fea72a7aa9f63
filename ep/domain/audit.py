"""The PDL access log: one append-only event per staff read or change of patient data, and
per page of their own orders or results a resident reads (ep.web.citizen.own_page)."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ep.models import AuditEvent, User


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff user (HSA-ID), a resident or the system, and from where."""

    type: str  # user | resident | system
    id: str
    name: str | None = None
    care_unit_hsa_id: str | None = None
    care_unit_name: str | None = None
    client_addr: str | None = None

    @classmethod
    def for_user(cls, user: User, client_addr: str | None = None) -> "Actor":
        return cls(
            "user",
            user.hsa_id,
            user.name,
            user.care_unit_hsa_id,
            user.care_unit_name,
            client_addr,
        )

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls("system", name[:40], name)


def described(text: str, **values: str | int | list[str] | None) -> str:
    """Details kept as what happened (``text``, a key) and its values, not as a sentence:
    each page words them in its reader's language (ep.web.audit_words). A value that is a
    time is kept as its ISO text in UTC; a value that is None is left out."""
    kept = {name: value for name, value in values.items() if value is not None}
    return json.dumps({"text": text, **kept}, ensure_ascii=False, sort_keys=True)


def description(details: str | None) -> dict[str, Any] | None:
    """The key and values ``described`` kept, or None for details kept as plain text (the
    rows written before, in English, and lists of order numbers)."""
    if not details or not details.startswith("{"):
        return None
    try:
        kept = json.loads(details)
    except ValueError:
        return None
    return kept if isinstance(kept, dict) and isinstance(kept.get("text"), str) else None


def _values(
    actor: Actor,
    action: str,
    *,
    now: datetime,
    patient: str | None = None,
    object_type: str | None = None,
    object_id: object = None,
    details: str | None = None,
) -> dict[str, Any]:
    return dict(
        at=now,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        care_unit_hsa_id=actor.care_unit_hsa_id,
        care_unit_name=actor.care_unit_name,
        patient_personnummer=patient,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        client_addr=actor.client_addr,
        details=details,
    )


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    now: datetime,
    patient: str | None = None,
    object_type: str | None = None,
    object_id: object = None,
    details: str | None = None,
) -> AuditEvent:
    """Append one audit event to the session (committed with the caller's unit of work)."""
    event = AuditEvent(
        **_values(
            actor,
            action,
            now=now,
            patient=patient,
            object_type=object_type,
            object_id=object_id,
            details=details,
        )
    )
    session.add(event)
    return event


def record_many(
    session: Session, actor: Actor, action: str, events: list[dict[str, Any]], *, now: datetime
) -> None:
    """Append one audit event per dict of ``record``'s keywords, in one statement however
    many (a list page logs a read per patient it shows). Executes only; the caller commits."""
    if events:
        session.execute(
            insert(AuditEvent), [_values(actor, action, now=now, **event) for event in events]
        )
