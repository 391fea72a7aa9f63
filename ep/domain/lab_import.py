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

The database is committed before the files move (import_file: one file; the batch: a
small chunk of files, see ep.batches.import_results): a crash before the commit leaves
the files in the inbox unrecorded, and a crash after it leaves them recorded; the next
run records those again as duplicates of themselves. Nothing is lost and nothing is
imported twice.
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
from ep.domain.bulk import insert_rows
from ep.domain.results import OrderRef, ResultsFor, record_results, store_results
from ep.files import write_atomically
from ep.labformats import (
    Header,
    LabReport,
    ParseError,
    build_ack,
    parse_lab_message,
)
from ep.labformats.hl7v2 import ACK_ACCEPT, ACK_ERROR, ACK_REJECT
from ep.models import LabMessage, Order, Person, Result, User

log = logging.getLogger(__name__)

PROCESSED = "processed"
ERROR = "error"
REASON_SUFFIX = ".reason.txt"
# names a lab (or its file transfer) uses while a file is still being written
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")
UNREADABLE_ORDER_STATUSES = ("cancelled", "expired")
SOURCE_UNKNOWN = "unknown"
# a lab message is kilobytes; a file far larger is a mistake, not a message
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


@dataclass
class Received:
    """A recorded file, and what is still to be done with it once the record is committed."""

    path: Path
    message_id: int
    status: str
    error: str | None
    control_id: str | None
    sha256: str
    ack: str | None = None  # the HL7 ACK to write; None for FHIR or an unreadable header
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
    [received] = receive_files(session, [path], now=now)
    session.commit()
    file_away(received, config, now=now)
    return session.get(LabMessage, received.message_id)


def receive_file(session: Session, path: Path, *, now: datetime) -> Received:
    """Record one file (see receive_files); flush only."""
    return receive_files(session, [path], now=now)[0]


@dataclass
class ReadFile:
    """An inbox file read and parsed, not yet recorded: what ``read_files`` returns.

    Nothing in it refers to the database, so it can be read in another process (the
    batch reads the next chunk while it records this one) and sent back whole.
    """

    path: Path
    data: bytes
    sha256: str
    report: LabReport | None = None
    error: ParseError | None = None
    row: dict | None = None
    ack: tuple[str, str] | None = None  # (code, text)


def receive_files(session: Session, paths: list[Path], *, now: datetime) -> list[Received]:
    """Read and record files (see record_files); flush only."""
    return record_files(session, [_read(path) for path in paths], now=now)


def read_files(paths: list[Path]) -> list[ReadFile | None]:
    """Read and parse each file; None for a file that is gone. Touches no database."""
    files = []
    for path in paths:
        try:
            files.append(_read(path))
        except FileNotFoundError:
            files.append(None)
    return files


def record_files(
    session: Session, files: list[ReadFile | None], *, now: datetime
) -> list[Received]:
    """Record files as LabMessages, with their results when they match; flush only.

    Files that were gone when read (None) are left out. The files are decided in order,
    so the second of two files with one control id is the duplicate even within one call.
    The database work is a few statements for all files.
    """
    files = [file for file in files if file is not None]
    readable = [f for f in files if f.report is not None]
    earlier = _earlier_messages(session, readable)
    orders = _orders(session, readable)

    to_store: list[tuple[ReadFile, OrderRef]] = []
    for file in files:
        if file.report is None:
            file.row, file.ack = _rejected_row(file, now)
            continue
        report = file.report
        row = {
            "source": (report.sending_facility or SOURCE_UNKNOWN)[:100],
            "format": report.format,
            "control_id": (report.control_id or f"sha256:{file.sha256}")[:200],
            "filename": file.path.name[:500],
            "payload": file.data,
            "sha256": file.sha256,
            "received_at": now,
            "order_number": report.order_number[:40] if report.order_number else None,
            "personnummer": report.personnummer,
            "error": None,
            "order_id": None,
        }
        file.row = row
        key = (row["source"], row["control_id"])
        if key in earlier:
            row["status"] = "duplicate"
            row["error"] = (
                f"control id {row['control_id']} from {row['source']} was received before "
                f"({earlier[key]}); not imported again"
            )
            file.ack = (ACK_ACCEPT, "duplicate: received before")
            continue
        earlier[key] = f"file {file.path.name}"
        order, problem = _match(report, orders)
        if order is None:
            row["status"], row["error"] = "unmatched", problem
            file.ack = (ACK_ERROR, f"kept for manual matching: {problem}")
            continue
        row["status"], row["order_id"] = "imported", order.id
        file.ack = (ACK_ACCEPT, "imported")
        to_store.append((file, order))

    ids = insert_rows(session, LabMessage, [file.row for file in files])
    by_file = {id(file): message_id for file, message_id in zip(files, ids, strict=True)}
    store_results(
        session,
        [
            ResultsFor(order, file.report.observations, by_file[id(file)])
            for file, order in to_store
        ],
        now=now,
    )
    session.flush()
    return [_received(file, by_file[id(file)], now) for file in files]


def _read(path: Path) -> ReadFile:
    with path.open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size > MAX_MESSAGE_BYTES:
            # no lab message is this big: keep the file (in error/), not a copy in the database
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
            reason = (
                f"file of {size:,} bytes is too large for a lab message (at most "
                f"{MAX_MESSAGE_BYTES:,}); the file is kept, the database holds none of it"
            )
            return ReadFile(path, b"", digest, error=ParseError(reason))
        data = stream.read()
    return read_message(data, path=path)


def read_message(data: bytes, *, path: Path) -> ReadFile:
    """Parse one message as if it were an inbox file; touches no database.

    What the API and the MLLP receiver hand to record_files, so their messages take the
    inbox's road: ``path`` names where it came from (its name is kept as the filename).
    """
    file = ReadFile(path, data, hashlib.sha256(data).hexdigest())
    try:
        file.report = parse_lab_message(data)
    except ParseError as exc:
        file.error = exc
    except Exception as exc:  # a parser bug must quarantine one message, not stop the rest
        log.exception("unexpected error reading %s", path)
        file.error = ParseError(f"cannot be read: {type(exc).__name__}: {exc}")
    return file


def _earlier_messages(session: Session, files: list[ReadFile]) -> dict[tuple[str, str], str]:
    """Control ids already imported or kept: (source, control id) → which message.

    A rejected message does not count: the lab may resend it repaired with the same id.
    """
    control_ids = {f.report.control_id for f in files if f.report.control_id}
    if not control_ids:
        return {}
    found: dict[tuple[str, str], str] = {}
    for message_id, source, control_id, status in session.execute(
        select(LabMessage.id, LabMessage.source, LabMessage.control_id, LabMessage.status)
        .where(
            LabMessage.control_id.in_(control_ids),
            LabMessage.status.in_(("imported", "unmatched")),
        )
        .order_by(LabMessage.id)
    ):
        found.setdefault((source, control_id), f"lab message {message_id}, {status}")
    return found


@dataclass(frozen=True)
class _Order:
    ref: OrderRef
    personnummer: str


def _orders(session: Session, files: list[ReadFile]) -> dict[str, _Order]:
    numbers = {f.report.order_number for f in files if f.report.order_number}
    if not numbers:
        return {}
    rows = session.execute(
        select(Order.id, Order.number, Order.status, Order.package_id, Person.personnummer)
        .join(Person, Person.id == Order.person_id)
        .where(Order.number.in_(numbers))
    )
    return {
        number: _Order(OrderRef(order_id, number, status, package_id), personnummer)
        for order_id, number, status, package_id, personnummer in rows
    }


def _match(report: LabReport, orders: dict[str, _Order]) -> tuple[OrderRef | None, str | None]:
    """Find the order; refuse every guess. Return (order, None) or (None, why not)."""
    if report.problems:
        return None, "; ".join(report.problems)
    found = orders.get(report.order_number)
    if found is None:
        return None, f"no order {report.order_number} in EP"
    if found.personnummer != report.personnummer:
        return None, f"the personnummer does not match the one on order {report.order_number}"
    if found.ref.status in UNREADABLE_ORDER_STATUSES:
        return None, f"order {report.order_number} is {found.ref.status}"
    return found.ref, None


def _rejected_row(file: ReadFile, now: datetime) -> tuple[dict, tuple[str, str]]:
    header = file.error.header
    row = {
        "source": ((header.sending_facility if header else None) or SOURCE_UNKNOWN)[:100],
        "format": file.error.format,
        "control_id": header.control_id[:200] if header and header.control_id else None,
        "filename": file.path.name[:500],
        "payload": file.data,
        "sha256": file.sha256,
        "status": "rejected",
        "error": file.error.reason,
        "received_at": now,
        "order_number": None,
        "personnummer": None,
        "order_id": None,
    }
    return row, (ACK_REJECT, file.error.reason)


def _received(file: ReadFile, message_id: int, now: datetime) -> Received:
    row = file.row
    received = Received(
        file.path, message_id, row["status"], row["error"], row["control_id"], file.sha256
    )
    header = file.error.header if file.error is not None else file.report.header
    if isinstance(header, Header) and header.control_id:
        code, text = file.ack
        received.ack = build_ack(header, code, text, now=now)
        if header.charset.upper() == "8859/1":
            received.ack_encoding = "iso-8859-1"
    return received


def file_away(received: Received, config: Config, *, now: datetime) -> Path:
    """Move the file out of the inbox (never delete it) and write its ACK; return where.

    The folders are made when first needed (a rename into a missing folder fails): this
    runs for every file, and on a busy inbox every system call counts (and so does
    pathlib: plain strings here).
    """
    source = os.fspath(received.path)
    inbox, name = os.path.split(source)
    folder = os.path.join(inbox, ERROR if received.status == "rejected" else PROCESSED)
    target = _free_name(folder, name)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        if not os.path.exists(source):
            raise
        os.makedirs(folder, exist_ok=True)
        os.replace(source, target)
    if received.status == "rejected":
        reason = (
            f"{received.error}\n\n"
            f"file: {name}\n"
            f"received: {now.isoformat()}\n"
            f"sha256: {received.sha256}\n"
            f"lab message: {received.message_id}\n"
        )
        write_atomically(target + REASON_SUFFIX, reason.encode())
    if received.ack is not None:
        ack_folder = os.fspath(config.path_of("LabAckDirectory"))
        ack_name = _free_name(ack_folder, f"{_safe_name(received.control_id)}.ack.hl7")
        write_atomically(ack_name, received.ack.encode(received.ack_encoding, "replace"))
    return Path(target)


def _free_name(folder: str, name: str) -> str:
    """``folder/name``, or ``stem~2.suffix`` … when a file of that name is there already."""
    target = os.path.join(folder, name)
    number = 1
    while os.path.lexists(target):
        number += 1
        stem, dot, suffix = name.partition(".")
        target = os.path.join(folder, f"{stem}~{number}{dot}{suffix}")
    return target


def _safe_name(control_id: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", control_id or "unknown")[:150] or "unknown"


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
