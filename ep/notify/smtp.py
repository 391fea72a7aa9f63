"""The e-mail channel: one message per notification through the region's SMTP server.

STARTTLS (SmtpStartTls) verifies the server's certificate against the system's CA store
(or SSL_CERT_FILE); login happens only when SmtpUser is set. The Message-ID is derived
from the dedupe key, so a message repeated after a crash carries the same id and mail
systems that deduplicate by it show it once.

A refusal of this recipient or this message (5xx) is permanent; everything else —
connection problems, timeouts, 4xx "try later", a refused login or sender (our
configuration, not the message) — is transient.
"""

import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from ep.notify import OutgoingMessage, PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)


def message_id(dedupe_key: str, sender: str) -> str:
    """Return the stable Message-ID for ``dedupe_key``, in the sender's domain."""
    domain = sender.rpartition("@")[2] or "ep.invalid"
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def compose(message: OutgoingMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(message.dedupe_key, sender)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    email.set_content(message.body)
    email["Content-Language"] = message.language  # after set_content, which resets Content-*
    return email


def send(message: OutgoingMessage, config) -> str:
    """Send ``message`` by e-mail; return its Message-ID."""
    if not message.recipient or "@" not in message.recipient:
        raise PermanentDeliveryError("no e-mail address to send to")
    try:
        email = compose(message, config["SmtpFrom"])
    except ValueError as exc:  # a header the email package refuses (say a line break)
        raise PermanentDeliveryError(f"cannot address the message: {exc}") from exc
    server = None
    try:
        server = smtplib.SMTP(
            config["SmtpHost"], config["SmtpPort"], timeout=config["ProviderTimeoutSeconds"]
        )
        if config["SmtpStartTls"]:
            server.starttls(context=ssl.create_default_context())
        if config["SmtpUser"]:
            server.login(config["SmtpUser"], config["SmtpPassword"])
        server.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:
        _close(server)
        codes = [code for code, _ in exc.recipients.values()]
        problem = f"SMTP server refused the recipient: {_replies(exc.recipients.values())}"
        if codes and all(code >= 500 for code in codes):
            raise PermanentDeliveryError(problem) from exc
        raise TransientDeliveryError(problem) from exc
    except smtplib.SMTPDataError as exc:
        _close(server)
        problem = f"SMTP server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            raise PermanentDeliveryError(problem) from exc
        raise TransientDeliveryError(problem) from exc
    except (smtplib.SMTPException, OSError) as exc:
        _close(server)
        # refused or lost connections, timeouts, TLS failures, login or sender refused
        raise TransientDeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from exc
    # The server has accepted the message: it is sent. Leaving with `with SMTP(...)` made
    # an odd answer to QUIT (not 221) or a timeout on it an error, so the row was retried
    # and the resident got the same e-mail twice (found in issue 16). QUIT is a courtesy.
    try:
        server.quit()
    except (smtplib.SMTPException, OSError) as exc:
        log.info("SMTP QUIT after the message was accepted: %s: %s", type(exc).__name__, exc)
    _close(server)
    return email["Message-ID"]


def _close(server: smtplib.SMTP | None) -> None:
    if server is not None:
        server.close()


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _replies(replies) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in replies)
