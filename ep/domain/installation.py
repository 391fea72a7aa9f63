"""The installation row: when EP was set up here."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.models import Installation


def ensure_installation(session: Session, *, now: datetime, demo: bool) -> bool:
    """Record the installation once; return whether it was recorded now."""
    if session.scalar(select(Installation.id)) is not None:
        return False
    session.add(Installation(created_at=now, demo=demo))
    session.flush()
    return True


def installed_at(session: Session) -> datetime | None:
    """Return when the installation was created, None before `ep init`."""
    return session.scalar(select(Installation.created_at).order_by(Installation.id))
