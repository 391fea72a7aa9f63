"""PURGE (gallring): delete what has outlived its retention period in ep.ini.

Each purger deletes one chunk of one kind of row and returns how many went; nothing is
deleted that a resident or staff still need:

- orders closed (released, cancelled or expired) longer ago than RetainOrdersDays, with
  their results and home kits; their inbox messages and lab messages stay, unlinked.
  Open orders — waiting for sampling, sampled, with results not yet released, or held
  for staff contact — are never touched, however old;
- offers that ended longer ago than RetainOrdersDays and no order refers to any more;
- sent or failed notifications older than RetainNotificationsDays, and inbox messages as
  old (the message and its notification share a dedupe key; a pending one is kept);
- lab messages older than RetainLabMessagesDays that no kept result refers to, except
  unmatched ones staff have not resolved yet;
- batch runs finished longer ago than RetainBatchRunsDays (not the latest of a batch);
- audit events older than RetainAuditEventsDays — and never younger than five years,
  whatever the setting (PDL). On PostgreSQL the database enforces the five years itself
  (migration 0002).
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from ep.config import Config
from ep.domain.bulk import Model
from ep.domain.reminders import add_months, refresh_due_again
from ep.models import (
    AuditEvent,
    BatchHeartbeat,
    BatchRun,
    InboxMessage,
    Kit,
    LabMessage,
    Notification,
    Offer,
    Order,
    Result,
)

AUDIT_MINIMUM_YEARS = 5
CLOSED_ORDER_STATUSES = ("released", "cancelled", "expired")
# what a kind of row must meet to be past retention, from the time and the configuration
Conditions = tuple[ColumnElement[bool], ...]


def _days_ago(now: datetime, config: Config, key: str) -> datetime:
    return now - timedelta(days=config[key])


def audit_cutoff(now: datetime, config: Config) -> datetime:
    """Audit events before this may go: the setting, but never less than five years."""
    legal_minimum = add_months(now, -12 * AUDIT_MINIMUM_YEARS)
    return min(_days_ago(now, config, "RetainAuditEventsDays"), legal_minimum)


def _closed_orders(now: datetime, config: Config) -> Conditions:
    cutoff = _days_ago(now, config, "RetainOrdersDays")
    closed_at = func.coalesce(Order.released_at, Order.cancelled_at, Order.expires_at)
    return (
        # an order is closed after it was ordered: this bound lets the database look only
        # at the orders older than the cutoff (ix_order_ordered_at), not all of history
        Order.ordered_at < cutoff,
        Order.status.in_(CLOSED_ORDER_STATUSES),
        closed_at < cutoff,
    )


def _old_offers(now: datetime, config: Config) -> Conditions:
    referenced = select(Order.id).where(Order.offer_id == Offer.id).exists()
    # ended before the cutoff, so no longer valid whatever its status (ix_offer_valid_until)
    return (
        Offer.valid_until < _days_ago(now, config, "RetainOrdersDays"),
        ~referenced,
    )


def _old_notifications(now: datetime, config: Config) -> Conditions:
    return (
        Notification.status.in_(("sent", "failed")),
        Notification.created_at < _days_ago(now, config, "RetainNotificationsDays"),
    )


def _old_inbox_messages(now: datetime, config: Config) -> Conditions:
    pending = (
        select(Notification.id)
        .where(
            Notification.dedupe_key == InboxMessage.dedupe_key,
            Notification.status.in_(("pending", "sending")),
        )
        .exists()
    )
    return (
        InboxMessage.created_at < _days_ago(now, config, "RetainNotificationsDays"),
        ~pending,
    )


def _old_lab_messages(now: datetime, config: Config) -> Conditions:
    kept_result = select(Result.id).where(Result.lab_message_id == LabMessage.id).exists()
    return (
        LabMessage.received_at < _days_ago(now, config, "RetainLabMessagesDays"),
        or_(LabMessage.status != "unmatched", LabMessage.resolved_at.is_not(None)),
        ~kept_result,
    )


def _old_batch_runs(now: datetime, config: Config) -> Conditions:
    latest = select(BatchHeartbeat.batch).where(
        or_(
            BatchHeartbeat.last_run_id == BatchRun.id,
            BatchHeartbeat.running_run_id == BatchRun.id,
        )
    )
    return (
        BatchRun.finished_at.is_not(None),
        BatchRun.finished_at < _days_ago(now, config, "RetainBatchRunsDays"),
        ~latest.exists(),
    )


def _old_audit_events(now: datetime, config: Config) -> Conditions:
    return (AuditEvent.at < audit_cutoff(now, config),)


def _ids(session: Session, model: Model, conditions: Conditions, limit: int) -> list[int]:
    return list(
        session.scalars(select(model.id).where(*conditions).order_by(model.id).limit(limit))
    )


def _delete(session: Session, model: Model, ids: list[int]) -> int:
    if not ids:
        return 0
    statement = delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
    # a DELETE's result is a cursor's, which counts its rows
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def purge_orders(session: Session, *, now: datetime, config: Config, limit: int) -> int:
    """Delete up to ``limit`` long-closed orders with their results and kits. Flushes."""
    ids = _ids(session, Order, _closed_orders(now, config), limit)
    if not ids:
        return 0
    kit_ids = [k for k in session.scalars(select(Order.kit_id).where(Order.id.in_(ids))) if k]
    offer_ids = set(
        session.scalars(
            select(Order.offer_id).where(Order.id.in_(ids), Order.offer_id.is_not(None))
        )
    )
    for model in (InboxMessage, LabMessage):
        session.execute(
            update(model)
            .where(model.order_id.in_(ids))
            .values(order_id=None)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(Result).where(Result.order_id.in_(ids)).execution_options(synchronize_session=False)
    )
    deleted = _delete(session, Order, ids)
    _delete(session, Kit, kit_ids)
    if offer_ids:
        # an offer whose latest order went comes due again from the one before, if any
        refresh_due_again(session, Offer.id.in_(offer_ids))
    return deleted


def _purger(
    model: Model, conditions: Callable[[datetime, Config], Conditions]
) -> Callable[..., int]:
    """A purger deleting up to ``limit`` rows of ``model`` past retention. Flushes only."""

    def purge(session: Session, *, now: datetime, config: Config, limit: int) -> int:
        return _delete(session, model, _ids(session, model, conditions(now, config), limit))

    return purge


purge_offers = _purger(Offer, _old_offers)
purge_notifications = _purger(Notification, _old_notifications)
purge_inbox_messages = _purger(InboxMessage, _old_inbox_messages)
purge_lab_messages = _purger(LabMessage, _old_lab_messages)
purge_batch_runs = _purger(BatchRun, _old_batch_runs)
_purge_audit_rows = _purger(AuditEvent, _old_audit_events)


def purge_audit_events(session: Session, *, now: datetime, config: Config, limit: int) -> int:
    """Delete up to ``limit`` audit events past retention, never younger than five years."""
    if session.get_bind().dialect.name == "postgresql":
        # the append-only trigger lets this transaction delete events over five years old
        session.execute(text("SET LOCAL ep.purge_audit = 'on'"))
    return _purge_audit_rows(session, now=now, config=config, limit=limit)


# (what, purger, the conditions it deletes by) in an order that respects the references
PURGERS = (
    ("closed orders", purge_orders, (Order, _closed_orders)),
    ("ended offers", purge_offers, (Offer, _old_offers)),
    ("notifications", purge_notifications, (Notification, _old_notifications)),
    ("inbox messages", purge_inbox_messages, (InboxMessage, _old_inbox_messages)),
    ("lab messages", purge_lab_messages, (LabMessage, _old_lab_messages)),
    ("batch runs", purge_batch_runs, (BatchRun, _old_batch_runs)),
    ("audit events", purge_audit_events, (AuditEvent, _old_audit_events)),
)


def purge_counts(session: Session, *, now: datetime, config: Config) -> dict[str, int]:
    """How many rows of each kind PURGE would delete now (for --dry-run)."""
    return {
        what: session.scalar(
            select(func.count()).select_from(model).where(*conditions(now, config))
        )
        or 0
        for what, _purge, (model, conditions) in PURGERS
    }
