"""The notification outbox: queue a message for a resident, send the next one due.

``queue_notification`` writes the in-app inbox message (always) and one ``Notification``
row for the resident's preferred channel, both keyed by the dedupe key, so a rerun never
creates a message twice. ``send_next`` is the sender's unit of work: it claims one due
row atomically, delivers it, records the outcome and commits, so a killed sender repeats
at most the one message in flight — and the provider, given the dedupe key as the
idempotency key, can drop even that.

Which transport carries a row is decided when it is sent, from NotificationChannel:

- ``file`` sends every row to a file (demo and offline installations), whatever the
  resident prefers;
- otherwise a row goes by the resident's preference (``Person.channel``: sms -> the
  mobile number by SMS, email -> the address by e-mail) when that transport is enabled;
- a resident with no preference, no usable number or address, or a preference whose
  transport is not enabled gets the inbox message only: the row is queued on channel
  ``inbox`` and ``send_next`` marks it sent on channel ``inbox`` without contacting
  anyone. Keeping the row means every notification has one outcome to look up.

Row states: pending -> sending (claimed) -> sent | failed, or back to pending after a
transient error with ``next_attempt_at`` pushed out (exponential backoff, capped). A
claim older than BatchLeaseSeconds, or one held by a batch run that has ended, belongs to
a sender that died mid-send and is taken over. After BatchMaxAttempts transient failures
a row stays pending and keeps being retried at the capped backoff — the fault is the
provider's, not the message's — and ``exhausted_count`` reports it; only a permanent error
(the provider refuses this message) ends a row as failed.
"""

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ep.models import BatchRun, InboxMessage, Notification, Person
from ep.notify import (
    OutgoingMessage,
    PermanentDeliveryError,
    transport,
)
from ep.notify.texts import inbox_text, language_of, outgoing_text

log = logging.getLogger(__name__)

INBOX = "inbox"
# Person.channel -> the transport that reaches it
PREFERENCES = {"sms": "sms", "email": "smtp"}
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)
ERROR_LENGTH = 1000

_MOBILE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")

_table = Notification.__table__
_columns = _table.c


def queue_notification(
    session: Session,
    *,
    person: Person,
    kind: str,
    dedupe_key: str,
    now: datetime,
    order_id: int | None = None,
) -> Notification | None:
    """Queue the inbox message and a pending notification; None if ``dedupe_key`` exists."""
    exists = select(Notification.id).where(Notification.dedupe_key == dedupe_key)
    if session.execute(exists).first() is not None:
        return None
    language = language_of(person.language)
    channel, recipient = _route(person)
    inbox_subject, inbox_body = inbox_text(kind, language)
    subject, body = outgoing_text(kind, language)
    notification = Notification(
        person_id=person.id,
        kind=kind,
        channel=channel,
        dedupe_key=dedupe_key,
        language=language,
        recipient=recipient,
        subject=subject,
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    inbox = InboxMessage(
        person_id=person.id,
        dedupe_key=dedupe_key,
        subject=inbox_subject,
        body=inbox_body,
        order_id=order_id,
        created_at=now,
    )
    try:
        # a savepoint, so that losing a race with a concurrent producer of the same key
        # costs only this notification, not the caller's unit of work
        with session.begin_nested():
            session.add_all([notification, inbox])
    except IntegrityError:
        if session.execute(exists).first() is not None:
            return None
        raise
    return notification


def _route(person: Person) -> tuple[str, str | None]:
    """Return (channel, recipient) for the resident's preference, or the inbox only."""
    if person.channel == "sms" and person.mobile and _MOBILE.match(person.mobile.strip()):
        return "sms", person.mobile.strip()
    if person.channel == "email" and person.email and _EMAIL.match(person.email.strip()):
        return "smtp", person.email.strip()
    return INBOX, None


def send_next(session: Session, config, *, claimant: str, now: datetime) -> str | None:
    """Claim, deliver and record one due notification; commit. None when nothing is due.

    Returns "sent" or "failed" (a permanent error, recorded on the row). A transient
    error is recorded on the row (back to pending, later ``next_attempt_at``), committed,
    and re-raised so the batch runner can back off.
    """
    claimed = _claim(session, claimant=claimant, now=now, lease=config["BatchLeaseSeconds"])
    if claimed is None:
        return None
    row_id, claimed_at = claimed.id, claimed.claimed_at
    name = _transport_for(claimed.channel, config["NotificationChannel"])
    message = OutgoingMessage(
        dedupe_key=claimed.dedupe_key,
        recipient=claimed.recipient,
        language=claimed.language,
        subject=claimed.subject,
        body=claimed.body,
    )
    try:
        reference = None if name == INBOX else transport(name).send(message, config)
    except PermanentDeliveryError as exc:
        _record(
            session,
            row_id,
            claimed_at,
            status="failed",
            channel=name,
            attempts=_columns.attempts + 1,
            last_error=_error_text(exc),
        )
        log.warning("notification %s failed for good on %s: %s", row_id, name, exc)
        return "failed"
    except Exception as exc:
        # transient, or a fault of ours: the message may not have gone, so try it later
        _record(
            session,
            row_id,
            claimed_at,
            status="pending",
            attempts=_columns.attempts + 1,
            last_error=_error_text(exc),
            next_attempt_at=now + backoff(claimed.attempts + 1),
            claimed_by_run_id=None,
            claimed_at=None,
        )
        raise
    _record(
        session,
        row_id,
        claimed_at,
        status="sent",
        channel=name,
        attempts=_columns.attempts + 1,
        sent_at=now,
        provider_ref=reference[:200] if reference else None,
        last_error=None,
    )
    return "sent"


def backoff(attempts: int) -> timedelta:
    """Return the wait before try ``attempts + 1``: 30 s, doubling, at most 30 minutes."""
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def _transport_for(channel: str, enabled: tuple[str, ...]) -> str:
    if "file" in enabled:
        return "file"
    return channel if channel in enabled else INBOX


def _claim(session: Session, *, claimant: str, now: datetime, lease: int):
    """Claim one due row (pending and due, or a dead sender's); commit; return it or None."""
    run_id = _run_id(claimant)
    due = and_(_columns.status == "pending", _columns.next_attempt_at <= now)
    abandoned = and_(
        _columns.status == "sending",
        or_(
            _columns.claimed_at < now - timedelta(seconds=lease),
            _columns.claimed_by_run_id.in_(
                select(BatchRun.id).where(BatchRun.status != "running").scalar_subquery()
            ),
        ),
    )
    for condition, order in ((due, _columns.next_attempt_at), (abandoned, _columns.claimed_at)):
        _begin_fast(session)
        # one statement: the subquery picks a row (skipping rows other senders have locked,
        # on PostgreSQL), the update claims it only if it is still in that state; on SQLite
        # the update takes the write lock first, so two senders cannot pick the same row
        candidate = (
            select(_columns.id)
            .where(condition)
            .order_by(order, _columns.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(_table)
            .where(_columns.id == candidate, condition)
            .values(status="sending", claimed_by_run_id=run_id, claimed_at=now)
            .returning(
                _columns.id,
                _columns.channel,
                _columns.dedupe_key,
                _columns.recipient,
                _columns.language,
                _columns.subject,
                _columns.body,
                _columns.attempts,
                _columns.claimed_at,
            )
        )
        claimed = session.execute(claim).first()
        session.commit()
        if claimed is not None:
            return claimed
    return None


def _record(session: Session, row_id: int, claim_time: datetime, **values) -> None:
    """Write the outcome of our claim and commit, before anything else is sent."""
    _begin_fast(session)
    result = session.execute(
        update(_table)
        .where(
            _columns.id == row_id,
            _columns.status == "sending",
            _columns.claimed_at == claim_time,
        )
        .values(**values)
    )
    session.commit()
    if result.rowcount != 1:
        # we were slower than the lease and another sender took the row over; it will
        # record its own outcome (and the provider drops the repeat by its idempotency key)
        log.warning("notification %s was taken over while being sent", row_id)


def _begin_fast(session: Session) -> None:
    # On PostgreSQL a commit need not wait for the disk: a killed sender loses nothing,
    # only a database-server crash could forget the last fraction of a second, and then
    # the provider drops the repeated message by its idempotency key (DESIGN.md §14).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def _run_id(claimant: str) -> int | None:
    """Return the batch run id of a claimant "<run id>@<host>:<pid>", if it has one."""
    head = claimant.split("@", 1)[0]
    return int(head) if head.isdigit() else None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


def pending_count(session: Session, *, now: datetime) -> int:
    """Return how many notifications are due and not yet sent."""
    query = select(func.count()).where(
        _columns.status.in_(("pending", "sending")), _columns.next_attempt_at <= now
    )
    return session.execute(query).scalar_one()


def failing_count(session: Session) -> int:
    """Return how many notifications failed for good (the health check shows them)."""
    query = select(func.count()).where(_columns.status == "failed")
    return session.execute(query).scalar_one()


def exhausted_count(session: Session, *, max_attempts: int) -> int:
    """Return how many unsent notifications have failed ``max_attempts`` times or more."""
    query = select(func.count()).where(
        _columns.status.in_(("pending", "sending")), _columns.attempts >= max_attempts
    )
    return session.execute(query).scalar_one()
