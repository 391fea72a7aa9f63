"""Lab result files from the inbox: record, match, file away, acknowledge.

Every file becomes a LabMessage that keeps the payload whole, whatever became of it:

- imported   matched to an order by EP order number, personnummer cross-checked
- duplicate  the same control id from the same lab came before; not imported again
- unmatched  readable, but the order is unknown, cancelled or expired, or the
             personnummer is missing or does not match the order's: kept for staff,
             never attached to anyone by a guess
- rejected   the file cannot be read (empty, binary, malformed): the reason is kept

Then the file is moved, never deleted: to ``processed/`` beside the inbox files, or to
``error/`` with ``<name>.reason.txt`` beside it. For HL7 an ACK (AA, AE or AR) named by
the control id is written to LabAckDirectory for the sending system.

The database is committed before the file moves: a crash in between leaves the file
in the inbox, and the next run records it again as a duplicate of itself, so nothing is
lost and nothing is imported twice.
"""

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.config import Config
from ep.domain import DomainError
from ep.domain.audit import Actor, record
from ep.domain.results import record_results
from ep.labformats import (
    FORMAT_HL7V2,
    Header,
    LabReport,
    ParseError,
    build_ack,
    parse_lab_message,
)
from ep.labformats.hl7v2 import ACK_ACCEPT, ACK_ERROR, ACK_REJECT
from ep.models import LabMessage, Order, Result, User

log = logging.getLogger(__name__)

PROCESSED = "processed"
ERROR = "error"
REASON_SUFFIX = ".reason.txt"
# names a lab (or its file transfer) uses while a file is still being written
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")
UNREADABLE_ORDER_STATUSES = ("cancelled", "expired")
SOURCE_UNKNOWN = "unknown"


@dataclass
class Received:
    """A recorded file, and what is still to be done with it once the record is committed."""

    message: LabMessage
    path: Path
    ack: str | None  # the HL7 ACK to write, None for FHIR or an unreadable header
    ack_encoding: str = "utf-8"


def inbox_files(config: Config, *, now: datetime) -> list[Path]:
    """Return the inbox files ready to import, oldest first.

    Skipped: folders, hidden files, names that mark a file still being written, and files
    changed within LabInboxSettleSeconds (a half-written file must not be imported half).
    """
    inbox = config.path_of("LabInboxDirectory")
    if inbox is None or not inbox.is_dir():
        return []
    settled_before = now.timestamp() - config["LabInboxSettleSeconds"]
    ready = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES):
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            modified = entry.stat(follow_symlinks=False).st_mtime
            if modified > settled_before:
                continue
            ready.append((modified, name, Path(entry.path)))
    ready.sort()
    return [path for _, _, path in ready]


def import_file(session: Session, path: Path, config: Config, *, now: datetime) -> LabMessage:
    """Import one inbox file: record it, COMMIT, then move it and write the ACK.

    Unlike other services this one commits: the file may only leave the inbox once its
    LabMessage is safely stored.
    """
    received = receive_file(session, path, now=now)
    session.commit()
    file_away(received, config, now=now)
    return received.message


def receive_file(session: Session, path: Path, *, now: datetime) -> Received:
    """Record one file as a LabMessage (and its results when it matches); flush only."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        report = parse_lab_message(data)
    except ParseError as exc:
        return _rejected(session, path, data, digest, exc, now=now)
    except Exception as exc:  # a parser bug must quarantine one file, not stop the batch
        log.exception("unexpected error reading %s", path)
        error = ParseError(f"cannot be read: {type(exc).__name__}: {exc}")
        return _rejected(session, path, data, digest, error, now=now)

    message = LabMessage(
        source=(report.sending_facility or SOURCE_UNKNOWN)[:100],
        format=report.format,
        control_id=(report.control_id or f"sha256:{digest}")[:200],
        filename=path.name[:500],
        payload=data,
        sha256=digest,
        received_at=now,
        order_number=report.order_number[:40] if report.order_number else None,
        personnummer=report.personnummer,
    )
    earlier = _earlier_message(session, message.source, message.control_id)
    if earlier is not None:
        message.status = "duplicate"
        message.error = (
            f"control id {message.control_id} from {message.source} was received before "
            f"(lab message {earlier.id}, {earlier.status}); not imported again"
        )
        session.add(message)
        session.flush()
        return _received(message, path, report, ACK_ACCEPT, "duplicate: received before")

    order, problem = _match(session, report)
    session.add(message)
    if order is None:
        message.status = "unmatched"
        message.error = problem
        session.flush()
        return _received(message, path, report, ACK_ERROR, f"kept for manual matching: {problem}")

    message.status = "imported"
    message.order = order
    session.flush()
    record_results(
        session, order=order, observations=report.observations, now=now, lab_message=message
    )
    return _received(message, path, report, ACK_ACCEPT, "imported")


def _earlier_message(session: Session, source: str, control_id: str) -> LabMessage | None:
    """The first import of this control id from this source, if any.

    A rejected message does not count: the lab may resend it repaired with the same id.
    """
    return session.scalars(
        select(LabMessage)
        .where(
            LabMessage.control_id == control_id,
            LabMessage.source == source,
            LabMessage.status.in_(("imported", "unmatched")),
        )
        .order_by(LabMessage.id)
        .limit(1)
    ).first()


def _match(session: Session, report: LabReport) -> tuple[Order | None, str | None]:
    """Find the order; refuse every guess. Return (order, None) or (None, why not)."""
    if report.problems:
        return None, "; ".join(report.problems)
    order = session.scalars(select(Order).where(Order.number == report.order_number)).first()
    if order is None:
        return None, f"no order {report.order_number} in EP"
    if order.person.personnummer != report.personnummer:
        return None, f"the personnummer does not match the one on order {order.number}"
    if order.status in UNREADABLE_ORDER_STATUSES:
        return None, f"order {order.number} is {order.status}"
    return order, None


def _received(message, path, report: LabReport, code: str, text: str) -> Received:
    header = report.header if report.format == FORMAT_HL7V2 else None
    return _with_ack(message, path, header, code, text)


def _with_ack(message, path, header: Header | None, code: str, text: str) -> Received:
    if header is None or not header.control_id:
        return Received(message, path, None)
    ack = build_ack(header, code, text, now=message.received_at)
    charset = header.charset.upper()
    encoding = "iso-8859-1" if charset == "8859/1" else "utf-8"
    return Received(message, path, ack, encoding)


def _rejected(session, path, data, digest, error: ParseError, *, now) -> Received:
    header = error.header
    message = LabMessage(
        source=((header.sending_facility if header else None) or SOURCE_UNKNOWN)[:100],
        format=error.format,
        control_id=header.control_id[:200] if header and header.control_id else None,
        filename=path.name[:500],
        payload=data,
        sha256=digest,
        status="rejected",
        error=error.reason,
        received_at=now,
    )
    session.add(message)
    session.flush()
    return _with_ack(message, path, header, ACK_REJECT, error.reason)


def file_away(received: Received, config: Config, *, now: datetime) -> Path:
    """Move the file out of the inbox (never delete it) and write its ACK; return where."""
    message = received.message
    inbox = received.path.parent
    folder = inbox / (ERROR if message.status == "rejected" else PROCESSED)
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, received.path.name)
    os.replace(received.path, target)
    if message.status == "rejected":
        reason = (
            f"{message.error}\n\n"
            f"file: {received.path.name}\n"
            f"received: {now.isoformat()}\n"
            f"sha256: {message.sha256}\n"
            f"lab message: {message.id}\n"
        )
        _write_atomically(target.with_name(target.name + REASON_SUFFIX), reason.encode())
    if received.ack is not None:
        ack_folder = config.path_of("LabAckDirectory")
        ack_folder.mkdir(parents=True, exist_ok=True)
        name = _free_name(ack_folder, f"{_safe_name(message.control_id)}.ack.hl7")
        _write_atomically(name, received.ack.encode(received.ack_encoding, "replace"))
    return target


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem~2.suffix`` … when a file of that name is there already."""
    target = folder / name
    number = 1
    while target.exists():
        number += 1
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}~{number}{dot}{suffix}"
    return target


def _safe_name(control_id: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", control_id or "unknown")[:150] or "unknown"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write under a hidden name and rename, so a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)


def attach_lab_message(
    session: Session, *, message: LabMessage, order: Order, actor: Actor, now: datetime
) -> list[Result]:
    """Staff attach an unmatched lab message to the right order (audited); flush only."""
    if message.status != "unmatched":
        raise DomainError(f"lab message {message.id} is {message.status}, not unmatched")
    try:
        report = parse_lab_message(message.payload)
    except ParseError as exc:
        raise DomainError(f"lab message {message.id} cannot be read: {exc.reason}") from None
    results = record_results(
        session, order=order, observations=report.observations, now=now, lab_message=message
    )
    previous_problem = message.error
    message.status = "imported"
    message.order = order
    message.resolved_at = now
    if actor.type == "user":
        user = session.scalars(select(User).where(User.hsa_id == actor.id)).first()
        message.resolved_by_id = user.id if user is not None else None
    record(
        session,
        actor,
        "lab_message.attach",
        now=now,
        patient=order.person.personnummer,
        object_type="lab_message",
        object_id=message.id,
        details=f"attached to order {order.number} ({len(results)} results); "
        f"was unmatched: {previous_problem}",
    )
    session.flush()
    return results
