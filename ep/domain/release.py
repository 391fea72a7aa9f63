"""NOTIFYRESULTS: release results to the resident by the package's release policy.

- ``immediate`` — as soon as the order's results are in (status ``resulted``);
- ``delay:<hours>`` — that many hours after the results came in (e.g. ``delay:72``), so
  staff can reach the resident first;
- ``contact-positive`` — for STI packages: a negative order is released at once; a
  positive one is held (``Order.held_for_contact``) for the staff worklist, because the
  resident must be contacted by staff (smittskyddslagen), and released once staff have
  recorded the contact (``Order.contacted_at``).

What counts as negative (decided here, fail closed): every current result of the order is
flagged ``N`` or ``NEG`` (HL7 table 0078), or carries no flag and a value that says
negative ("Negativ", "Ej påvisad", "Not detected"). Anything else — ``POS``, ``A``/``AA``
(abnormal), ``H``/``HH``/``L``/``LL``, a value saying positive, or a value nobody can read
as negative — is held for a person to look at. Holding a negative by mistake delays a
message; releasing a positive by mistake is what the law forbids.

A correction that arrives after release (a new current result) is released by the same
rules, with its own notification. An unknown policy releases nothing (fail closed) and is
logged.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from ep.domain.notifications import queue_notification
from ep.models import Order, Package, Result

log = logging.getLogger(__name__)

NEGATIVE_FLAGS = {"N", "NEG"}
NEGATIVE_WORDS = ("negativ", "negative", "ej påvisad", "inte påvisad", "not detected")
RELEASABLE_STATUSES = ("resulted", "released")


@dataclass(frozen=True)
class Settled:
    """What one pass did: orders released and orders held for staff contact."""

    released: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return self.released + self.held


def parse_policy(policy: str) -> tuple[str, int]:
    """("immediate", 0), ("delay", hours) or ("contact-positive", 0); ValueError otherwise."""
    text = (policy or "").strip()
    if text in ("immediate", "contact-positive"):
        return text, 0
    kind, _, hours = text.partition(":")
    if kind == "delay" and hours.strip().isdigit():
        return "delay", int(hours)
    raise ValueError(f"unknown release policy {policy!r}")


def is_negative(result: Result) -> bool:
    """Whether a result is clearly negative (see the module text: fail closed)."""
    flag = (result.flag or "").strip().upper()
    if flag:
        return flag in NEGATIVE_FLAGS
    value = " ".join((result.value_text or "").lower().split())
    return any(value.startswith(word) for word in NEGATIVE_WORDS)


def _unreleased_results() -> ColumnElement[bool]:
    # read from the partial index of results not yet released (ix_result_unreleased_order_id):
    # the few orders waiting, never the millions already released
    return Order.id.in_(
        select(Result.order_id).where(Result.released_at.is_(None), Result.superseded_at.is_(None))
    )


def _due_condition(session: Session, now: datetime) -> ColumnElement[bool]:
    """Orders whose package's policy allows release now (contact-positive: decided later)."""
    allowed = []
    for package_id, policy in session.execute(select(Package.id, Package.release_policy)):
        try:
            kind, hours = parse_policy(policy)
        except ValueError:
            log.warning("package %s: %s; its results are not released", package_id, policy)
            continue
        if kind == "delay":
            allowed.append(
                and_(
                    Order.package_id == package_id,
                    Order.resulted_at <= now - timedelta(hours=hours),
                )
            )
        else:
            allowed.append(Order.package_id == package_id)
    return or_(false(), *allowed)


def _waiting(session: Session, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Orders with results waiting that their package's policy lets go now, not held for
    contact (unless staff have recorded the contact)."""
    return (
        Order.status.in_(RELEASABLE_STATUSES),
        or_(Order.held_for_contact.is_(False), Order.contacted_at.is_not(None)),
        _due_condition(session, now),
        _unreleased_results(),
    )


def due_orders(session: Session, *, now: datetime, limit: int) -> list[Order]:
    """The orders to settle now, oldest first."""
    query = select(Order).where(*_waiting(session, now))
    return list(session.scalars(query.order_by(Order.id).limit(limit)))


def _current_unreleased(session: Session, order: Order) -> list[Result]:
    return list(
        session.scalars(
            select(Result)
            .where(
                Result.order_id == order.id,
                Result.superseded_at.is_(None),
                Result.released_at.is_(None),
            )
            .order_by(Result.id)
        )
    )


def must_hold(session: Session, order: Order) -> bool:
    """Whether a contact-positive order waits for staff: not all of it is clearly negative."""
    if order.contacted_at is not None:
        return False
    kind, _ = parse_policy(order.package.release_policy)
    if kind != "contact-positive":
        return False
    current = session.scalars(
        select(Result).where(Result.order_id == order.id, Result.superseded_at.is_(None))
    ).all()
    return not current or not all(is_negative(result) for result in current)


def release_order(session: Session, order: Order, *, now: datetime) -> bool:
    """Release the order's current results, mark it released and queue the "result"
    notification; return False when nothing was waiting. Flushes only."""
    results = _current_unreleased(session, order)
    if not results:
        return False
    for result in results:
        result.released_at = now
    order.status = "released"
    order.released_at = now
    # one notification per release: a later correction is told with its own key
    queue_notification(
        session,
        person=order.person,
        kind="result",
        dedupe_key=f"result:{order.id}:{results[-1].id}",
        now=now,
        order_id=order.id,
    )
    session.flush()
    return True


def settle_due(session: Session, *, now: datetime, limit: int) -> Settled:
    """Release or hold up to ``limit`` due orders by their package's policy. Flushes only."""
    released = held = 0
    for order in due_orders(session, now=now, limit=limit):
        if must_hold(session, order):
            order.held_for_contact = True
            held += 1
        elif release_order(session, order, now=now):
            released += 1
    session.flush()
    return Settled(released, held)


def release_due(session: Session, *, now: datetime, limit: int) -> int:
    """Apply each package's release policy to up to ``limit`` orders; return how many
    were settled (released, or held for staff contact). Flushes only."""
    return settle_due(session, now=now, limit=limit).total


def due_count(session: Session, *, now: datetime) -> int:
    """How many orders release_due would settle now (for --dry-run)."""
    count = session.scalar(select(func.count()).select_from(Order).where(*_waiting(session, now)))
    return count or 0
