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
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.config import Config
from ep.domain import DomainError
from ep.domain.audit import Actor, record
from ep.domain.bulk import insert_rows
from ep.domain.results import OrderRef, ResultsFor, record_results, store_results
from ep.files import write_atomically
from ep.labformats import (
    FORMAT_UNKNOWN,
    Header,
    LabReport,
    ParseError,
    build_ack,
    parse_lab_message,
)
from ep.labformats.hl7v2 import ACK_ACCEPT, ACK_ERROR, ACK_REJECT
from ep.models import Kit, LabMessage, Order, Person, Result, User

log = logging.getLogger(__name__)

PROCESSED = "processed"
ERROR = "error"
# EP's own folders in the inbox: an entry of that name that is no folder is renamed aside
RESERVED_NAMES = (PROCESSED, ERROR)
RESERVED_RENAMED = "~reserved-name"
REASON_SUFFIX = ".reason.txt"
# names a lab (or its file transfer) uses while a file is still being written: the lab
# writes under such a name and renames the file when it is whole (see README, "Lab inbox")
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")
# a name EP files away must leave room for "~NNNN" and ".reason.txt" within the 255 bytes
# a file system allows
MAX_NAME_BYTES = 200
UNREADABLE_ORDER_STATUSES = ("cancelled", "expired")
SOURCE_UNKNOWN = "unknown"
SOURCE_INBOX = "inbox"
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class InboxFile:
    """A regular file in the inbox ready to import, as it was when the inbox was listed."""

    path: Path
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class Untouchable:
    """An inbox entry EP will not read or move: a symlink, FIFO, folder or dot-named file."""

    name: str
    kind: str
    inode: int


@dataclass
class Inbox:
    ready: list[InboxFile]
    untouchable: list[Untouchable]


def inbox_files(config: Config, *, now: datetime) -> list[Path]:
    """Return the inbox files ready to import, oldest first (see scan_inbox)."""
    return [file.path for file in scan_inbox(config, now=now).ready]


def scan_inbox(config: Config, *, now: datetime, dry_run: bool = False) -> Inbox:
    """List the inbox: the files ready to import (oldest first) and what EP will not touch.

    Left alone without a word: names that mark a file still being written, and entries
    changed within LabInboxSettleSeconds (a half-written file must not be imported half).
    A file named like one of EP's own folders is first renamed aside (not in a dry run),
    so the folder can be made and the file imported like any other.
    """
    inbox = config.path_of("LabInboxDirectory")
    if inbox is None or not inbox.is_dir():
        return Inbox([], [])
    if not dry_run:
        _rename_reserved(os.fspath(inbox))
    settled_before = now.timestamp() - config["LabInboxSettleSeconds"]
    ready, untouchable = [], []
    with os.scandir(inbox) as entries:
        for entry in entries:
            name = entry.name
            if name in RESERVED_NAMES or name.lower().endswith(IN_PROGRESS_SUFFIXES):
                continue  # EP's own folders (a symlink to one elsewhere is as good)
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since it was listed
            if status.st_mtime > settled_before:
                continue
            kind = _kind(name, status.st_mode)
            if kind is None:
                ready.append(
                    (
                        status.st_mtime,
                        name,
                        InboxFile(
                            Path(entry.path), status.st_size, status.st_mtime_ns, status.st_ino
                        ),
                    )
                )
            else:
                untouchable.append(Untouchable(name, kind, status.st_ino))
    ready.sort(key=lambda item: (item[0], os.fsencode(item[1])))
    return Inbox([file for _, _, file in ready], untouchable)


def _kind(name: str, mode: int) -> str | None:
    """What kind of entry EP will not touch this is; None for a file to import."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if not stat.S_ISREG(mode):
        return "FIFO" if stat.S_ISFIFO(mode) else "special file"
    if name.startswith("."):
        return "dot-named file"
    return None


def _rename_reserved(inbox: str) -> None:
    """Rename an entry named like EP's own folders that is not a folder out of the way."""
    for name in RESERVED_NAMES:
        path = os.path.join(inbox, name)
        if os.path.lexists(path) and not os.path.isdir(path):
            aside = _free_name(inbox, name + RESERVED_RENAMED)
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                pass  # gone meanwhile


def stored_name(name: str) -> tuple[str, list[str]]:
    """The name EP files ``name`` under and records, and why it differs from the original.

    A file system name is bytes: one that is not UTF-8, holds control characters or is
    too long is stored under a safe name; the reasons quote the original bytes.
    """
    original = os.fsencode(name)
    reasons = []
    if re.fullmatch(rf"({'|'.join(RESERVED_NAMES)}){re.escape(RESERVED_RENAMED)}(~\d+)?", name):
        reasons.append(
            f"the file was named {name.partition('~')[0]!r}, the name of a folder EP keeps "
            "in the inbox; it was renamed so the folder could be made"
        )
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:
        text = original.decode("utf-8", "replace").replace("\ufffd", "_")
        reasons.append(f"the name is not UTF-8; its bytes: {original!r}")
    safe = _UNSAFE_CHARACTERS.sub("_", text)
    if safe != text and not reasons:
        reasons.append(f"the name holds control characters; its bytes: {original!r}")
    if len(safe.encode()) > MAX_NAME_BYTES:
        reasons.append(
            f"the name is {len(original)} bytes long, longer than EP keeps "
            f"({MAX_NAME_BYTES}); its bytes: {original!r}"
        )
        stem, dot, suffix = safe.rpartition(".")
        if not dot or len(suffix) > 10:
            stem, suffix = safe, ""
        tail = f"~{hashlib.sha256(original).hexdigest()[:12]}" + (f".{suffix}" if suffix else "")
        safe = _clip_bytes(stem, MAX_NAME_BYTES - len(tail.encode())) + tail
    return safe, reasons


def _clip_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", "ignore")


@dataclass
class Received:
    """A recorded file, and what is still to be done with it once the record is committed."""

    path: Path
    name: str  # the name it is filed under (see stored_name)
    name_reasons: list[str]
    message_id: int
    status: str
    error: str | None
    control_id: str | None
    sha256: str
    ack: str | None = None  # the HL7 ACK to write; None for FHIR or an unreadable header
    ack_encoding: str = "utf-8"


def import_file(
    session: Session, path: Path, config: Config, *, now: datetime
) -> LabMessage | None:
    """Import one inbox file: record it, COMMIT, then move it and write the ACK.

    Unlike other services this one commits: the file may only leave the inbox once its
    LabMessage is safely stored. A file that changed while it was read stays in the
    inbox, unrecorded (None).
    """
    received = receive_files(session, [path], max_bytes=config["LabMaxFileBytes"], now=now)
    if not received:
        return None
    session.commit()
    file_away(received[0], config, now=now)
    return session.get(LabMessage, received[0].message_id)


@dataclass
class ReadFile:
    """An inbox file read and parsed, not yet recorded: what ``read_files`` returns.

    Nothing in it refers to the database, so it can be read in another process (the
    batch reads the next chunk while it records this one) and sent back whole.
    """

    path: Path
    data: bytes
    sha256: str
    name: str = ""  # the name it is recorded and filed under (see stored_name)
    name_reasons: list[str] = field(default_factory=list)
    # the file as it was read: recorded only if it is still so (see still_as_read)
    # inode, size, mtime in ns of the inbox file; None for a message that came by the API
    # or MLLP, which is whole when it arrives
    identity: tuple[int, int, int] | None = None
    report: LabReport | None = None
    error: ParseError | None = None
    row: dict[str, Any] | None = None
    ack: tuple[str, str] | None = None  # (code, text)


def receive_files(
    session: Session, paths: list[Path], *, max_bytes: int, now: datetime
) -> list[Received]:
    """Read and record files (see record_files); flush only."""
    return record_files(session, read_files(paths, max_bytes=max_bytes), now=now)


def read_files(paths: list[Path], *, max_bytes: int) -> list[ReadFile | None]:
    """Read and parse each file; None for a file that is gone or changed while it was read.

    Touches no database.
    """
    files = []
    for path in paths:
        try:
            files.append(_read(path, max_bytes))
        except FileNotFoundError:
            files.append(None)
        except OSError as exc:  # unreadable (permissions): this file is rejected, not the run
            files.append(_unreadable(path, exc))
    return files


def _unreadable(path: Path, exc: OSError) -> ReadFile | None:
    try:
        status = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    reason = ParseError(f"the file cannot be read: {exc.strerror or type(exc).__name__}")
    identity = (status.st_ino, status.st_size, status.st_mtime_ns)
    empty = hashlib.sha256(b"").hexdigest()
    return _named(ReadFile(path, b"", empty, identity=identity, error=reason))


def still_as_read(file: ReadFile) -> bool:
    """Whether the file in the inbox is still the one read: same inode, size and time.

    A lab that stalled past LabInboxSettleSeconds and then wrote on has changed it: what
    was read is half a message, and the whole one is imported by a later run. A message
    from the API or MLLP has no file to change: it is always as read.
    """
    if file.identity is None:
        return True
    try:
        now = os.stat(file.path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_ino, now.st_size, now.st_mtime_ns) == file.identity


def record_files(
    session: Session, files: list[ReadFile | None], *, now: datetime
) -> list[Received]:
    """Record files as LabMessages, with their results when they match; flush only.

    Files that were gone when read (None), or changed since, are left out: they stay in
    the inbox for a later run. The files are decided in order, so the second of two files
    with one control id is the duplicate even within one call. The database work is a
    few statements for all files.
    """
    kept = [file for file in files if file is not None and still_as_read(file)]
    readable = [f.report for f in kept if f.report is not None]
    earlier = _earlier_messages(session, readable)
    orders = _orders(session, readable)

    to_store: list[tuple[ReadFile, LabReport, OrderRef]] = []
    for file in kept:
        if file.report is None:
            file.row, file.ack = _rejected_row(file, now)
            continue
        report = file.report
        row: dict[str, Any] = {
            "source": (report.sending_facility or SOURCE_UNKNOWN)[:100],
            "format": report.format,
            "control_id": (report.control_id or f"sha256:{file.sha256}")[:200],
            "filename": file.name,
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
        earlier[key] = f"file {row['filename']}"
        order, problem = _match(report, orders)
        if order is None:
            row["status"], row["error"] = "unmatched", problem
            file.ack = (ACK_ERROR, f"kept for manual matching: {problem}")
            continue
        row["status"], row["order_id"] = "imported", order.id
        file.ack = (ACK_ACCEPT, "imported")
        to_store.append((file, report, order))

    ids = insert_rows(session, LabMessage, [file.row for file in kept if file.row is not None])
    by_file = {id(file): message_id for file, message_id in zip(kept, ids, strict=True)}
    store_results(
        session,
        [
            ResultsFor(order, report.observations, by_file[id(file)])
            for file, report, order in to_store
        ],
        now=now,
    )
    session.flush()
    return [_received(file, by_file[id(file)], now) for file in kept]


def _read(path: Path, max_bytes: int) -> ReadFile | None:
    with path.open("rb") as stream:
        before = os.fstat(stream.fileno())
        identity = (before.st_ino, before.st_size, before.st_mtime_ns)
        if before.st_size > max_bytes:
            # no lab message is this big: keep the file (in error/), not a copy in the
            # database; the digest is read in blocks, so memory stays small
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
            reason = (
                f"file of {before.st_size:,} bytes is too large for a lab message (at most "
                f"{max_bytes:,}, LabMaxFileBytes); the file is kept, the database holds "
                "none of it"
            )
            return _named(ReadFile(path, b"", digest, identity=identity, error=ParseError(reason)))
        data = stream.read(max_bytes + 1)
        after = os.fstat(stream.fileno())
    if len(data) != before.st_size or (after.st_size, after.st_mtime_ns) != identity[1:]:
        return None  # written to while read: left for a later run
    return read_message(data, path=path, identity=identity)


def read_message(
    data: bytes, *, path: Path, identity: tuple[int, int, int] | None = None
) -> ReadFile:
    """Parse one message as if it were an inbox file; touches no database.

    What the API and the MLLP receiver hand to record_files, so their messages take the
    inbox's road: ``path`` names where it came from (its name is kept as the filename).
    """
    file = _named(ReadFile(path, data, hashlib.sha256(data).hexdigest(), identity=identity))
    try:
        file.report = parse_lab_message(data)
    except ParseError as exc:
        file.error = exc
    except Exception as exc:  # a parser bug must quarantine one message, not stop the rest
        log.exception("unexpected error reading %s", file.name)
        file.error = ParseError(f"cannot be read: {type(exc).__name__}: {exc}")
    return file


def _named(file: ReadFile) -> ReadFile:
    file.name, file.name_reasons = stored_name(file.path.name)
    return file


def _earlier_messages(
    session: Session, reports: list[LabReport]
) -> dict[tuple[str, str | None], str]:
    """Control ids already imported or kept: (source, control id) → which message.

    A rejected message does not count: the lab may resend it repaired with the same id.
    """
    control_ids = {r.control_id for r in reports if r.control_id}
    if not control_ids:
        return {}
    found: dict[tuple[str, str | None], str] = {}
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


def _orders(session: Session, reports: list[LabReport]) -> dict[str, _Order]:
    """The orders the reports name: by order number, and by kit code for home kits."""
    numbers = {r.order_number for r in reports if r.order_number}
    kit_codes = {r.kit_code for r in reports if r.kit_code}
    found: dict[str, _Order] = {}
    columns = (Order.id, Order.number, Order.status, Order.package_id, Person.personnummer)
    if numbers:
        rows = session.execute(
            select(*columns)
            .join(Person, Person.id == Order.person_id)
            .where(Order.number.in_(numbers))
        )
        for order_id, number, status, package_id, personnummer in rows:
            found[number] = _Order(OrderRef(order_id, number, status, package_id), personnummer)
    if kit_codes:
        kit_rows = session.execute(
            select(*columns, Kit.code)
            .join(Person, Person.id == Order.person_id)
            .join(Kit, Kit.id == Order.kit_id)
            .where(Kit.code.in_(kit_codes))
        )
        for order_id, number, status, package_id, personnummer, code in kit_rows:
            found[_kit_key(code)] = _Order(
                OrderRef(order_id, number, status, package_id), personnummer
            )
    return found


def _kit_key(code: str) -> str:
    # kit codes and order numbers share the dictionary; an order number never has a space
    return f"kit {code}"


def _match(report: LabReport, orders: dict[str, _Order]) -> tuple[OrderRef | None, str | None]:
    """Find the order; refuse every guess. Return (order, None) or (None, why not)."""
    if report.problems:
        return None, "; ".join(report.problems)
    if report.order_number is None and report.kit_code:
        named = f"the order of kit {report.kit_code}"
        found = orders.get(_kit_key(report.kit_code))
        if found is None:
            return None, f"no order in EP has kit {report.kit_code}"
    else:
        named = f"order {report.order_number}"
        found = orders.get(report.order_number) if report.order_number else None
        if found is None:
            return None, f"no order {report.order_number} in EP"
    if found.personnummer != report.personnummer:
        return None, f"the personnummer does not match the one on {named}"
    if found.ref.status in UNREADABLE_ORDER_STATUSES:
        return None, f"{named} is {found.ref.status}"
    return found.ref, None


def _rejected_row(file: ReadFile, now: datetime) -> tuple[dict[str, Any], tuple[str, str]]:
    error = file.error
    assert error is not None  # a file without a report has the error that stopped it
    header = error.header
    row = {
        "source": ((header.sending_facility if header else None) or SOURCE_UNKNOWN)[:100],
        "format": error.format,
        "control_id": header.control_id[:200] if header and header.control_id else None,
        "filename": file.name,
        "payload": file.data,
        "sha256": file.sha256,
        "status": "rejected",
        "error": error.reason,
        "received_at": now,
        "order_number": None,
        "personnummer": None,
        "order_id": None,
    }
    return row, (ACK_REJECT, error.reason)


def _received(file: ReadFile, message_id: int, now: datetime) -> Received:
    row = file.row
    assert row is not None  # record_files made every file's row
    received = Received(
        file.path,
        file.name,
        file.name_reasons,
        message_id,
        row["status"],
        row["error"],
        row["control_id"],
        file.sha256,
    )
    read = file.error if file.error is not None else file.report
    header = read.header if read is not None else None
    if isinstance(header, Header) and header.control_id:
        assert file.ack is not None  # made with the row
        code, text = file.ack
        received.ack = build_ack(header, code, text, now=now)
        if header.charset.upper() == "8859/1":
            received.ack_encoding = "iso-8859-1"
    return received


def file_away(received: Received, config: Config, *, now: datetime) -> Path:
    """Move the file out of the inbox (never delete it) and write its ACK; return where.

    A rejected file gets ``<name>.reason.txt`` beside it, and so does any file filed
    under a name other than its own (see stored_name; or a file of that name was there
    already), so the operator can tell which delivery it was.

    The folders are made when first needed (a rename into a missing folder fails): this
    runs for every file, and on a busy inbox every system call counts (and so does
    pathlib: plain strings here).
    """
    source = os.fspath(received.path)
    inbox = os.path.dirname(source)
    folder = os.path.join(inbox, ERROR if received.status == "rejected" else PROCESSED)
    target = _free_name(folder, received.name)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        if not os.path.exists(source):
            raise
        os.makedirs(folder, exist_ok=True)
        os.replace(source, target)
    reasons = list(received.name_reasons)
    if os.path.basename(target) != received.name:
        reasons.append(
            f"a file named {received.name} was in {os.path.basename(folder)}/ already; "
            f"this one is kept as {os.path.basename(target)}"
        )
    if received.status == "rejected" or reasons:
        lines = [received.error or ""] if received.status == "rejected" else []
        lines += reasons
        reason = (
            "\n".join(lines) + "\n\n"
            f"file: {received.name}\n"
            f"status: {received.status}\n"
            f"received: {now.isoformat()}\n"
            f"sha256: {received.sha256}\n"
            f"lab message: {received.message_id}\n"
        )
        write_atomically(target + REASON_SUFFIX, reason.encode())
    ack_folder = config.path_of("LabAckDirectory")  # None when unset: ACKs are not written
    if received.ack is not None and ack_folder is not None:
        ack_name = _free_name(os.fspath(ack_folder), f"{_safe_name(received.control_id)}.ack.hl7")
        write_atomically(ack_name, received.ack.encode(received.ack_encoding, "replace"))
    return Path(target)


def record_untouchable(session: Session, entries: list[Untouchable], *, now: datetime) -> int:
    """Record each entry EP will not touch once, as a rejected LabMessage; flush only.

    A symlink could point anywhere, a FIFO blocks its reader, a folder or a dot-named
    file is no delivery EP knows: they stay where they are, and the operator learns of
    them once, through the quarantined lab messages of the health check. Return how many
    were new.
    """
    keys = {_untouchable_key(entry): entry for entry in entries}
    if not keys:
        return 0
    known = set(
        session.scalars(
            select(LabMessage.control_id).where(
                LabMessage.source == SOURCE_INBOX, LabMessage.control_id.in_(keys)
            )
        )
    )
    rows = []
    for key, entry in keys.items():
        if key in known:
            continue
        name, reasons = stored_name(entry.name)
        rows.append(
            {
                "source": SOURCE_INBOX,
                "format": FORMAT_UNKNOWN,
                "control_id": key,
                "filename": name,
                "payload": b"",
                "sha256": hashlib.sha256(b"").hexdigest(),
                "status": "rejected",
                "error": " ".join(
                    [
                        f"a {entry.kind} in the lab inbox: EP imports regular files only and "
                        "leaves this where it is; move it away or deliver it as a file",
                        *reasons,
                    ]
                ),
                "received_at": now,
                "order_number": None,
                "personnummer": None,
                "order_id": None,
            }
        )
    if rows:
        insert_rows(session, LabMessage, rows)
        session.flush()
    return len(rows)


def _untouchable_key(entry: Untouchable) -> str:
    name = hashlib.sha256(os.fsencode(entry.name)).hexdigest()[:32]
    return f"inbox-entry:{entry.inode}:{name}"


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
