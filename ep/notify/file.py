"""The file channel: each message as one file in NotificationDirectory (demo, offline).

The file is named by the dedupe key, so sending the same notification again replaces its
file instead of adding one (``REPEATS_REPLACE``: the sender may record these messages in
groups, see ep.domain.notifications.send_due), and it is written to a temporary file and
renamed into place (ep.files), so a killed batch never leaves half a message.
"""

import hashlib
import os
from urllib.parse import quote

from ep.files import write_atomically
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
    target = os.path.join(config.path_of("NotificationDirectory"), file_name(message.dedupe_key))
    try:
        # private to the process, as the resident's number or address is in it
        write_atomically(target, render(message).encode("utf-8"), mode=0o600)
    except OSError as exc:
        # a full disk or a missing mount may pass; the message itself is never the problem
        raise TransientDeliveryError(f"cannot write {target}: {exc}") from exc
    return target
