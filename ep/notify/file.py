"""The file channel: each message as one file in NotificationDirectory (demo, offline).

The file is named by the dedupe key, so sending the same notification again replaces its
file instead of adding one (``REPEATS_REPLACE``: the sender may record these messages in
groups, see ep.domain.notifications.send_due), and it is written to a temporary file and
renamed into place, so a killed batch never leaves half a message. (No fsync: a killed
process loses nothing that was renamed; only a power cut could, and then the rerun
rewrites the same file.)
"""

import hashlib
import os
from urllib.parse import quote

from ep.notify import OutgoingMessage, TransientDeliveryError

REPEATS_REPLACE = True
SUFFIX = ".txt"
MAX_STEM = 200  # well under the 255 bytes most filesystems allow in a name


def file_name(dedupe_key: str) -> str:
    """Return the filesystem-safe, one-to-one file name for ``dedupe_key``."""
    # %-escaping keeps distinct keys distinct (a:b and a_b), and leaves no character that
    # Windows or a shell treats specially (quote keeps letters, digits and _.-~)
    stem = quote(dedupe_key, safe="")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]  # a leading dot would hide the file (and .tmp files are ours)
    if len(stem) > MAX_STEM:
        digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:16]
        stem = f"{stem[: MAX_STEM - 17]}-{digest}"
    return stem + SUFFIX


def render(message: OutgoingMessage) -> str:
    return (
        f"Key: {message.dedupe_key}\n"
        f"To: {message.recipient or ''}\n"
        f"Language: {message.language}\n"
        f"Subject: {message.subject}\n"
        f"\n{message.body}\n"
    )


def send(message: OutgoingMessage, config) -> str:
    """Write ``message`` to its file; return the file's path."""
    folder = str(config.path_of("NotificationDirectory"))
    name = file_name(message.dedupe_key)
    target = os.path.join(folder, name)
    # ours alone: a dot hides it, the pid keeps two senders of one key apart, and a file
    # left by a killed process of the same pid is simply overwritten
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    data = render(message).encode("utf-8")
    try:
        try:
            _write(temporary, data)
        except FileNotFoundError:  # the first message, or the folder was removed
            os.makedirs(folder, exist_ok=True)
            _write(temporary, data)
        try:
            os.replace(temporary, target)
        except BaseException:
            _unlink(temporary)
            raise
    except OSError as exc:
        # a full disk or a missing mount may pass; the message itself is never the problem
        raise TransientDeliveryError(f"cannot write {target}: {exc}") from exc
    return target


def _write(path: str, data: bytes) -> None:
    # private to the process, as tempfile.mkstemp makes them: the text names the recipient
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:  # a short write (a full disk) must not pass for a whole one
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
    except BaseException:
        _unlink(path)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
