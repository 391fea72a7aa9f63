"""What sampling and lab systems do through /api/v1 and `ep mllp serve`.

Lab messages take the inbox's own road (ep.domain.lab_import.record_files): the same
matching, corrections, STI hold, quarantine and duplicates by control id. Only the
transport differs, and it is named in ``LabMessage.filename`` (``api:<HSA-ID>``,
``mllp:<peer>``), so staff see where a message came from and a system reads back only
what it sent itself.

A calling system acts as itself in the PDL log: actor type ``system``, its HSA-ID (the
function certificate's) and its name.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ep.domain import DomainError, NotFound
from ep.domain.audit import Actor, described, record
from ep.domain.lab_import import Received, read_message, record_files
from ep.domain.patient_access import read_order
from ep.domain.sampling import mark_sampled
from ep.identity import parse_order_number
from ep.labformats import Header, build_ack
from ep.labformats.hl7v2 import ACK_REJECT
from ep.models import ApiIdempotency, LabMessage, MllpListener, Order, SamplingLocation, User
from ep.models.orders import OPEN_ORDER_STATUSES

API_ORIGIN = "api"
MLLP_ORIGIN = "mllp"
# a sampling system's clock may run a little ahead of ours; further is a mistake
SAMPLED_AT_LEEWAY = timedelta(minutes=5)
# for an ACK to a message whose MSH could not be read: HL7's default separators
DEFAULT_HEADER = Header("|", "^~\\&", ("MSH", "|", "^~\\&"))
MAX_ROW_ID = 2**31 - 1  # the id columns are INTEGER


class AlreadySampled(DomainError):
    """The order was sampled before, at another time or place than this request says."""


def system_actor(user: User, *, client_addr: str | None) -> Actor:
    """The PDL actor for a system calling with its function certificate."""
    return Actor(
        "system",
        user.hsa_id,
        user.name,
        user.care_unit_hsa_id,
        user.care_unit_name,
        client_addr,
    )


# -- lab reports --


def receive_lab_message(session: Session, data: bytes, *, origin: str, now: datetime) -> Received:
    """Record one lab message as the inbox import would; flush only.

    ``origin`` (``api:<HSA-ID>``, ``mllp:<peer>``) is kept as the message's filename.
    """
    file = read_message(data, path=Path(origin))
    if file.report is not None and file.report.control_id:
        _one_at_a_time(session, file.report.control_id)
    [received] = record_files(session, [file], now=now)
    return received


def _one_at_a_time(session: Session, control_id: str) -> None:
    """Let one transaction at a time record a control id, so a repeat is seen as one.

    Two deliveries of one message at once (a lab that resends while the first is still
    being stored) would otherwise both find no earlier message and both be imported. On
    PostgreSQL a transaction lock on the control id orders them; SQLite has one writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"ep.lab_message.control_id:{control_id}"},
        )


def hl7_ack(received: Received, *, now: datetime) -> tuple[str, str]:
    """The HL7 ACK for a received message, and its encoding.

    The inbox writes none for a message whose MSH cannot be read; a system waiting on a
    connection needs one all the same, so that one gets an AR with HL7's separators.
    """
    if received.ack is not None:
        return received.ack, received.ack_encoding
    reason = received.error or "the message cannot be read"
    return build_ack(DEFAULT_HEADER, ACK_REJECT, reason, now=now), "utf-8"


def api_origin(client_hsa_id: str) -> str:
    return f"{API_ORIGIN}:{client_hsa_id}"


def record_lab_report_received(
    session: Session, received: Received, *, actor: Actor, now: datetime
) -> None:
    """Log a lab report a system delivered: it changes (or tries to) a patient's results."""
    message = session.get(LabMessage, received.message_id)
    assert message is not None  # recorded by this request
    record(
        session,
        actor,
        "create:lab-report",
        now=now,
        patient=message.personnummer,
        object_type="lab_message",
        object_id=message.id,
        details=described("lab-report", status=message.status, order=message.order_number),
    )


def read_lab_report(
    session: Session, *, message_id: int, actor: Actor, now: datetime
) -> LabMessage:
    """The lab message ``message_id`` if this system sent it; log the read.

    Raises NotFound for any other, so a system cannot probe what others sent.
    """
    # an id past the column's range is no message (PostgreSQL would refuse the query)
    message = session.get(LabMessage, message_id) if 0 < message_id <= MAX_ROW_ID else None
    if message is None or message.filename != api_origin(actor.id):
        raise NotFound(f"no lab report {message_id} from {actor.id}")
    record(
        session,
        actor,
        "read:lab-report",
        now=now,
        patient=message.personnummer,
        object_type="lab_message",
        object_id=message.id,
        details=described("lab-report", status=message.status),
    )
    return message


# -- orders, for sampling systems --


def order_by_number(session: Session, number: str) -> Order:
    """The order with this number (any accepted form); NotFound or InvalidIdentifier."""
    canonical = parse_order_number(number)
    order = session.scalar(select(Order).where(Order.number == canonical))
    if order is None:
        raise NotFound(f"no order {canonical}")
    return order


def read_order_by_number(session: Session, *, number: str, actor: Actor, now: datetime) -> Order:
    """The order for a sampling system; log the read."""
    order, _ = read_order(
        session,
        order_id=order_by_number(session, number).id,
        actor=actor,
        now=now,
        purpose="order",
    )
    return order


@dataclass(frozen=True)
class Sampled:
    order: Order
    changed: bool  # False: the same sampling was reported before


def report_sampled(
    session: Session,
    *,
    number: str,
    sampled_at: datetime,
    location_code: str,
    actor: Actor,
    now: datetime,
) -> Sampled:
    """Record that the sample for order ``number`` was taken at a sampling location.

    Idempotent: the same time and place again changes nothing. Another time or place
    for an order sampled before raises AlreadySampled; an unknown or closed location,
    a time in the future or an order not waiting for sampling, DomainError.
    """
    order = order_by_number(session, number)
    location = session.scalar(
        select(SamplingLocation).where(SamplingLocation.code == location_code.strip())
    )
    if location is None or not location.active:
        raise DomainError(f"no active sampling location with code {location_code!r}")
    if sampled_at > now + SAMPLED_AT_LEEWAY:
        raise DomainError(f"sampledAt {sampled_at.isoformat()} is in the future")
    if order.status not in OPEN_ORDER_STATUSES and order.sampled_at is not None:
        if order.sampled_at == sampled_at and order.sampled_location_id == location.id:
            return Sampled(order, changed=False)
        raise AlreadySampled(
            f"order {order.number} was sampled {order.sampled_at.isoformat()}"
            + (f" at {order.sampled_location.code}" if order.sampled_location else "")
        )
    mark_sampled(session, order=order, actor=actor, now=now, sampled_at=sampled_at)
    order.sampled_location_id = location.id
    session.flush()
    return Sampled(order, changed=True)


# -- Idempotency-Key: the answer, kept with the change it answered --


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """What a repeat of the same request has in common with the first."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def stored_answer(session: Session, *, client_hsa_id: str, key: str) -> ApiIdempotency | None:
    return session.scalar(
        select(ApiIdempotency).where(
            ApiIdempotency.client_hsa_id == client_hsa_id, ApiIdempotency.key == key
        )
    )


def keep_answer(
    session: Session,
    *,
    client_hsa_id: str,
    key: str,
    fingerprint: str,
    status_code: int,
    content_type: str,
    location: str | None,
    body: bytes,
    now: datetime,
) -> None:
    """Keep an answer for its key, in the transaction of the change it answers; flush only."""
    session.add(
        ApiIdempotency(
            client_hsa_id=client_hsa_id,
            key=key,
            request_sha256=fingerprint,
            status_code=status_code,
            content_type=content_type[:100],
            location=location,
            body=body,
            created_at=now,
        )
    )
    session.flush()


# -- the MLLP listeners' state, for the health check --


def listener_started(
    session: Session, *, hostname: str, address: str, pid: int, now: datetime
) -> int:
    """Record that a listener listens from now on; return its row id. Flush only."""
    listener = session.scalar(
        select(MllpListener).where(
            MllpListener.hostname == hostname, MllpListener.address == address
        )
    )
    if listener is None:
        listener = MllpListener(hostname=hostname, address=address, pid=pid, messages=0)
        session.add(listener)
    listener.pid = pid
    listener.listening_since = now
    listener.stopped_at = None
    listener.messages = 0
    session.flush()
    return listener.id


def listener_received(session: Session, *, listener_id: int, now: datetime) -> None:
    """Count one stored message; flush only (one UPDATE, no read)."""
    session.execute(
        update(MllpListener)
        .where(MllpListener.id == listener_id)
        .values(messages=MllpListener.messages + 1, last_message_at=now)
    )


def listener_stopped(session: Session, *, listener_id: int, now: datetime) -> None:
    """Record a clean stop; flush only."""
    session.execute(
        update(MllpListener)
        .where(MllpListener.id == listener_id)
        .values(listening_since=None, stopped_at=now)
    )
