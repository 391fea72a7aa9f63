"""The notification outbox: queue a message for a resident, send the next one due.

``queue_notification`` writes the in-app inbox message (always) and one ``Notification``
row for the resident's preferred channel, both keyed by the dedupe key, so a rerun never
creates a message twice (``queue_notifications`` does the same for many at once, for
batches). ``send_next`` is the sender's unit of work: it claims one due
row atomically, delivers it, records the outcome and commits, so a killed sender repeats
at most the one message in flight — and the provider, given the dedupe key as the
idempotency key, can drop even that. ``send_due`` (the batches' sender) claims a few rows
in one statement and then does the same for each in turn: each SMS or e-mail is recorded
before the next goes; rows whose repeat reaches nobody twice (the inbox only, a file
replaced by its key) are recorded together.

``Notification.channel`` holds the resident's preference when queued (sms, smtp, or inbox
when there is no usable one) and the transport that carried it once sent. Which
transport that is gets decided when the row is sent, from NotificationChannel:

- ``file`` sends every row to a file (demo and offline installations), whatever the
  resident prefers;
- otherwise a row goes by the resident's preference (``Person.channel``: sms -> the
  mobile number by SMS, email -> the address by e-mail) when that transport is enabled;
- a resident with no preference, no usable number or address, or a preference whose
  transport is not enabled gets the inbox message only: ``send_next`` marks the row sent
  on channel ``inbox`` without contacting anyone. The row is kept (rather than not
  created) so that every notification has one outcome to look up.

Row states: pending -> sending (claimed) -> sent | failed, or back to pending after a
transient error with ``next_attempt_at`` pushed out (exponential backoff, capped). The
backoff holds for the run that met the error (kept in ``claimed_by_run_id``): once that
run has ended, the next run — the operator's manual rerun included — tries the row at
once. A claim older than BatchLeaseSeconds, or one held by a batch run that has ended, belongs to
a sender that died mid-send and is taken over. After BatchMaxAttempts transient failures
a row stays pending and keeps being retried at the capped backoff — the fault is the
provider's, not the message's — and ``exhausted_count`` reports it; only a permanent error
(the provider refuses this message) ends a row as failed.
"""

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert, ReturningUpdate, Update

from ep.config import Config
from ep.database import Reader
from ep.domain.bulk import Row as Values
from ep.domain.bulk import insert_new_rows
from ep.models import BatchRun, InboxMessage, Notification, Person
from ep.notify import OutgoingMessage, PermanentDeliveryError
from ep.notify.texts import inbox_text, language_of, outgoing_text, with_login_link
from ep.notify.transports import transport

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


@dataclass(frozen=True)
class NotificationRequest:
    """One notification for queue_notifications."""

    person: Person
    kind: str
    dedupe_key: str
    order_id: int | None = None


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
    notification_row, inbox_row = _rows(
        NotificationRequest(person, kind, dedupe_key, order_id), now
    )
    insert = _insert_notification(session.get_bind().dialect.name)
    notification = session.scalars(insert, [notification_row]).first()
    if notification is None:
        return None
    insert_new_rows(session, InboxMessage.__table__, [inbox_row], key="dedupe_key")
    return notification


def queue_notifications(
    session: Session, requests: Sequence[NotificationRequest], *, now: datetime
) -> int:
    """Queue many notifications as queue_notification does, in two statements; flush only.

    Return how many were new (a request whose dedupe key exists is skipped). For batches
    that queue thousands: one INSERT each for the rows and the inbox messages
    (ep.domain.bulk).
    """
    if not requests:
        return 0
    rows = [_rows(request, now) for request in requests]
    queued = set(insert_new_rows(session, _table, [row for row, _ in rows], key="dedupe_key"))
    inbox = [inbox for row, inbox in rows if row["dedupe_key"] in queued]
    insert_new_rows(session, InboxMessage.__table__, inbox, key="dedupe_key")
    return len(queued)


def _rows(request: NotificationRequest, now: datetime) -> tuple[Values, Values]:
    """Return the notification row and the inbox message row for ``request``."""
    person, kind = request.person, request.kind
    language = language_of(person.language)
    channel, recipient = _route(person)
    subject, body = outgoing_text(kind, language)
    inbox_subject, inbox_body = inbox_text(kind, language)
    notification = {
        "person_id": person.id,
        "kind": kind,
        "channel": channel,
        "dedupe_key": request.dedupe_key,
        "language": language,
        "recipient": recipient,
        "subject": subject,
        "body": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    inbox = {
        "person_id": person.id,
        "dedupe_key": request.dedupe_key,
        "subject": inbox_subject,
        "body": inbox_body,
        "order_id": request.order_id,
        "created_at": now,
    }
    return notification, inbox


@cache
def _insert_notification(dialect: str) -> ReturningInsert[Notification]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the new Notification (as insert_new_rows
    does for many rows, but returning the ORM object). Built once: statements with their
    values inline cost more to build than to run."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(Notification)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification)
    )


def _route(person: Person) -> tuple[str, str | None]:
    """Return (channel, recipient) for the resident's preference, or the inbox only."""
    if person.channel == "sms" and person.mobile and _MOBILE.match(person.mobile.strip()):
        return "sms", person.mobile.strip()
    if person.channel == "email" and person.email and _EMAIL.match(person.email.strip()):
        return "smtp", person.email.strip()
    return INBOX, None


def send_next(session: Session, config: Config, *, claimant: str, now: datetime) -> str | None:
    """Claim, deliver and record one due notification; commit. None when nothing is due.

    Returns "sent" or "failed" (a permanent error, recorded on the row). A transient
    error is recorded on the row (back to pending, later ``next_attempt_at``), committed,
    and re-raised so the batch runner can back off. ``send_due`` does the same for many.
    """
    outcome = send_due(session, config, claimant=claimant, now=now, limit=1)
    if outcome is None:
        return None
    return "sent" if outcome.sent else "failed"


@dataclass
class SendOutcome:
    """What one ``send_due`` call did."""

    sent: int = 0
    failed: int = 0


def send_due(
    session: Session,
    config: Config,
    *,
    claimant: str,
    now: datetime,
    limit: int,
    stopping: Callable[[], bool] | None = None,
) -> SendOutcome | None:
    """Claim up to ``limit`` due notifications at once, then send and record each in turn.

    The claim is one atomic statement (pending -> sending, by this claimant). A message
    that reaches a person (SMS, e-mail) has its outcome committed before the next message
    goes, so a killed sender repeats at most the one message in flight; the rows it had
    claimed but not sent are taken over by the next run (its claims belong to a run that
    is no longer running). Messages that a repeat cannot deliver twice — the inbox only,
    or a file that a repeat replaces (``REPEATS_REPLACE``) — are recorded together, at
    the next person-reaching message or at the end of the claim: a kill makes the rerun
    rewrite at most one claim's files. A transient error is recorded on its row, the rest
    of the claim is handed back, and the error re-raised. ``stopping`` is asked between
    rows: once it says yes, the rest is handed back. Returns None when nothing is due.

    The claim and the outcomes are written on a connection of their own, in short
    transactions of plain statements built once, so their commits stay cheap however many
    objects the caller's session holds (an ORM commit expires every one of them). So only
    what the caller has committed is sent: like every service this one never commits the
    caller's session (the batch step commits its work before it sends).
    """
    with session.get_bind().engine.connect() as connection, _fast_commits(connection) as fast:
        lease = timedelta(seconds=config["BatchLeaseSeconds"])
        claimed = _claim(
            fast, run_id=_run_id(claimant), now=now, stale_before=now - lease, size=limit
        )
        if not claimed:
            return None
        outcome = SendOutcome()
        waiting = list(claimed)
        delivered: list[Values] = []  # sent, their outcome not yet written
        try:
            while waiting and not (stopping is not None and stopping()):
                row = waiting.pop(0)
                name = _transport_for(row.channel, config["NotificationChannel"])
                sent = _send_one(fast, config, row, name, now=now)
                if sent is None:
                    outcome.failed += 1
                    continue
                outcome.sent += 1
                delivered.append(sent)
                if not _repeat_replaces(name):
                    _record(fast, _SENT, delivered)
                    delivered = []
        finally:
            try:
                _record(fast, _SENT, delivered)
            finally:
                _hand_back(fast, waiting)
        return outcome


@contextmanager
def _fast_commits(connection: Connection) -> Iterator[Connection]:
    """Yield ``connection`` set up for many one-statement transactions.

    On PostgreSQL each statement commits on its own (autocommit: one round trip instead of
    BEGIN, statement, COMMIT) and a commit need not wait for the disk: a killed sender
    loses nothing, only a database-server crash could forget the last fraction of a
    second, and then the provider drops the repeated message by its idempotency key
    (DESIGN.md §14). SQLite runs in WAL with synchronous=NORMAL already.
    """
    if connection.dialect.name != "postgresql":
        yield connection
        return
    fast = connection.execution_options(isolation_level="AUTOCOMMIT")
    with fast.begin():
        fast.exec_driver_sql("SET synchronous_commit = off")
    try:
        yield fast
    finally:
        try:
            with fast.begin():
                fast.exec_driver_sql("RESET synchronous_commit")
        except Exception:  # a broken connection: do not hide what broke it
            fast.invalidate()


def _send_one(
    connection: Connection, config: Config, claimed: Row[Any], name: str, *, now: datetime
) -> Values | None:
    """Deliver one claimed row by transport ``name``; return the outcome to record as
    sent, or None after recording a permanent failure. A transient error is recorded and
    re-raised."""
    message = OutgoingMessage(
        dedupe_key=claimed.dedupe_key,
        recipient=claimed.recipient,
        language=claimed.language,
        subject=claimed.subject,
        # added when sent, so a changed PublicUrl reaches messages already queued
        body=with_login_link(claimed.body, config["PublicUrl"], claimed.language),
    )
    claim = {"row_id": claimed.id, "claim_time": claimed.claimed_at}
    try:
        reference = None if name == INBOX else transport(name).send(message, config)
    except PermanentDeliveryError as exc:
        _record(connection, _FAILED, [{**claim, "channel": name, "last_error": _error_text(exc)}])
        log.warning("notification %s failed for good on %s: %s", claimed.id, name, exc)
        return None
    except Exception as exc:
        # transient, or a fault of ours: the message may not have gone, so try it later
        # (later in this run; a new run tries it at once, see _RETRY_NOW)
        retry_at = now + backoff(claimed.attempts + 1)
        _record(
            connection,
            _RETRY,
            [{**claim, "last_error": _error_text(exc), "retry_at": retry_at}],
        )
        raise
    reference = reference[:200] if reference else None
    return {**claim, "channel": name, "sent_at": now, "reference": reference}


def _repeat_replaces(name: str) -> bool:
    """True when sending by ``name`` again cannot reach anyone twice (see send_due)."""
    return name == INBOX or getattr(transport(name), "REPEATS_REPLACE", False)


def backoff(attempts: int) -> timedelta:
    """Return the wait before try ``attempts + 1``: 30 s, doubling, at most 30 minutes."""
    factor: int = 2 ** max(attempts - 1, 0)
    return min(BACKOFF_FIRST * factor, BACKOFF_MAX)


def _transport_for(channel: str, enabled: tuple[str, ...]) -> str:
    if "file" in enabled:
        return "file"
    return channel if channel in enabled else INBOX


# The statements are built once: the sender runs them for every message.
_DUE = and_(_columns.status == "pending", _columns.next_attempt_at <= bindparam("now"))
_ENDED_RUNS = select(BatchRun.id).where(BatchRun.status != "running").scalar_subquery()
# a sender that died mid-send: its claim is older than the lease, or its batch run ended
_ABANDONED = and_(
    _columns.status == "sending",
    or_(
        _columns.claimed_at < bindparam("stale_before"),
        _columns.claimed_by_run_id.in_(_ENDED_RUNS),
    ),
)


def _claim_statement(
    condition: ColumnElement[bool], order: ColumnElement[Any]
) -> ReturningUpdate[Any]:
    # One statement: the subquery picks up to :size rows (skipping rows other senders hold
    # locked, on PostgreSQL), the update claims exactly those. No other sender can change
    # them in between: on PostgreSQL FOR UPDATE locks them (and re-checks the condition on
    # a row's newest version as it locks it); on SQLite the one statement runs under the
    # write lock. (Repeating the condition on the update would make SQLite walk the whole
    # (status, next_attempt_at) index per claim: ever slower as the outbox grows.)
    candidates = (
        select(_columns.id)
        .where(condition)
        # by time alone: the index (status, next_attempt_at) then yields the first rows at
        # once, where a tiebreak on id would make PostgreSQL sort every due row per claim
        .order_by(order)
        .limit(bindparam("size"))
        .with_for_update(skip_locked=True)
        # evaluated once: as a plain subquery PostgreSQL may run it again per row it
        # updates, and with equal times each run may pick (and claim) another row
        .cte("candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(_table)
        .where(_columns.id.in_(select(candidates.c.id)))
        .values(
            status="sending", claimed_by_run_id=bindparam("run_id"), claimed_at=bindparam("now")
        )
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
            _columns.next_attempt_at,
        )
    )


_CLAIMS = (
    (_claim_statement(_DUE, _columns.next_attempt_at), lambda row: (row.next_attempt_at, row.id)),
    (_claim_statement(_ABANDONED, _columns.claimed_at), lambda row: row.id),
)
# the outcome is written only while the claim is still ours
_OURS = update(_table).where(
    _columns.id == bindparam("row_id"),
    _columns.status == "sending",
    _columns.claimed_at == bindparam("claim_time"),
)
_SENT = _OURS.values(
    status="sent",
    channel=bindparam("channel"),
    attempts=_columns.attempts + 1,
    sent_at=bindparam("sent_at"),
    provider_ref=bindparam("reference"),
    last_error=None,
)
_FAILED = _OURS.values(
    status="failed",
    channel=bindparam("channel"),
    attempts=_columns.attempts + 1,
    last_error=bindparam("last_error"),
)
# the run that saw the error stays on the row (claimed_by_run_id): the wait holds for it
_RETRY = _OURS.values(
    status="pending",
    attempts=_columns.attempts + 1,
    last_error=bindparam("last_error"),
    next_attempt_at=bindparam("retry_at"),
    claimed_at=None,
)
# ... and only for it: once that run has ended, a new run (the operator's manual rerun,
# or the next scheduled one) tries those rows at once (operations manual, "run again
# manually to retry")
_RETRY_NOW = (
    update(_table)
    .where(
        _columns.status == "pending",
        _columns.next_attempt_at > bindparam("now"),
        _columns.claimed_by_run_id.in_(_ENDED_RUNS),
    )
    .values(next_attempt_at=bindparam("now"), claimed_by_run_id=None)
)
# claimed rows this sender will not send after all (an error, a stop): pending again
_HAND_BACK = (
    update(_table)
    .where(
        _columns.id.in_(bindparam("row_ids", expanding=True)),
        _columns.status == "sending",
        _columns.claimed_at == bindparam("claim_time"),
    )
    .values(status="pending", claimed_by_run_id=None, claimed_at=None)
)


def _claim(connection: Connection, **params: Any) -> list[Row[Any]]:
    """Claim up to ``size`` rows (due ones, else a dead sender's); commit each claim.

    Return them in the order they are to go, or an empty list when nothing is due.
    """
    with connection.begin():
        connection.execute(_RETRY_NOW, {"now": params["now"]})
    for statement, order in _CLAIMS:
        with connection.begin():
            claimed = connection.execute(statement, params).all()
        if claimed:
            return sorted(claimed, key=order)
    return []


def _record(connection: Connection, statement: Update, outcomes: list[Values]) -> None:
    """Write the outcomes of our claims and commit, before anything else is sent."""
    if not outcomes:
        return
    with connection.begin():
        result = connection.execute(statement, outcomes)
    if result.rowcount != len(outcomes):
        # we were slower than the lease and another sender took a row over; it records
        # its own outcome (and the provider drops the repeat by its idempotency key)
        log.warning(
            "%d of notifications %s were taken over while being sent",
            len(outcomes) - result.rowcount,
            ", ".join(str(outcome["row_id"]) for outcome in outcomes),
        )


def _hand_back(connection: Connection, rows: list[Row[Any]]) -> None:
    """Put claimed rows we will not send back to pending (best effort: if the database is
    gone, the next run takes them over once this run has ended)."""
    if not rows:
        return
    try:
        with connection.begin():
            connection.execute(
                _HAND_BACK,
                {"row_ids": [row.id for row in rows], "claim_time": rows[0].claimed_at},
            )
    except Exception:
        log.warning("could not hand back %d claimed notifications", len(rows), exc_info=True)


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


def failing_count(session: Reader) -> int:
    """Return how many notifications failed for good (the health check shows them)."""
    query = select(func.count()).where(_columns.status == "failed")
    return session.execute(query).scalar_one()


def exhausted_count(session: Session, *, max_attempts: int) -> int:
    """Return how many unsent notifications have failed ``max_attempts`` times or more."""
    query = select(func.count()).where(
        _columns.status.in_(("pending", "sending")), _columns.attempts >= max_attempts
    )
    return session.execute(query).scalar_one()
