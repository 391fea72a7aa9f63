"""The e-mail channel against a real SMTP server (aiosmtpd) on loopback."""

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.notifications import failing_count, queue_notification, send_next
from ep.models import Notification
from ep.notify import OutgoingMessage, TransientDeliveryError
from ep.notify import smtp as smtp_channel
from tests.notify.conftest import LoopbackController, Mailbox, smtp_settings


def _queue(session, person, key, now, kind="result"):
    queue_notification(session, person=person, kind=kind, dedupe_key=key, now=now)
    session.commit()


def _row(session):
    session.expire_all()
    return session.execute(select(Notification)).scalar_one()


def test_an_english_resident_gets_a_content_free_english_email(
    db_session, other_resident, mailbox, smtp_config, now
):
    _queue(db_session, other_resident, "result:order:5", now)

    assert send_next(db_session, smtp_config, claimant="1@h:1", now=now) == "sent"

    [email] = mailbox.messages
    assert mailbox.envelopes == [("no-reply@ep.region.example", ["greta@example.invalid"])]
    assert email["To"] == "greta@example.invalid"
    assert email["Subject"] == "New message in Egen provhantering"
    assert email["Content-Language"] == "en"
    assert email.get_content().strip() == (
        "You have a new message in Egen provhantering. Log in to read it."
    )
    row = _row(db_session)
    assert (row.status, row.channel) == ("sent", "smtp")
    assert row.provider_ref == email["Message-ID"]


def test_a_swedish_resident_gets_the_reminder_in_swedish(
    db_session, make_person, mailbox, smtp_config, now
):
    person = make_person(channel="email", email="sven@example.invalid")
    _queue(db_session, person, "reminder:kit-not-registered:8", now, "reminder:kit-not-registered")

    send_next(db_session, smtp_config, claimant="1@h:1", now=now)

    [email] = mailbox.messages
    assert email["Subject"] == "Påminnelse från Egen provhantering"
    assert email.get_content().strip() == (
        "Du har en påminnelse i Egen provhantering. Logga in för att läsa den."
    )


def test_a_repeated_message_keeps_its_message_id(mailbox, smtp_config):
    message = OutgoingMessage("result:order:5", "greta@example.invalid", "en", "S", "B")

    first = smtp_channel.send(message, smtp_config)
    smtp_channel.send(message, smtp_config)
    other = smtp_channel.send(
        OutgoingMessage("result:order:6", "greta@example.invalid", "en", "S", "B"), smtp_config
    )

    assert [m["Message-ID"] for m in mailbox.messages] == [first, first, other]
    assert first != other
    assert first.endswith("@ep.region.example>")


def test_a_refused_address_fails_the_message_for_good(
    db_session, other_resident, mailbox, smtp_config, now
):
    mailbox.refused.add("greta@example.invalid")
    _queue(db_session, other_resident, "result:order:5", now)

    assert send_next(db_session, smtp_config, claimant="1@h:1", now=now) == "failed"

    row = _row(db_session)
    assert row.status == "failed"
    assert "550" in row.last_error
    assert failing_count(db_session) == 1
    assert mailbox.messages == []


def test_an_smtp_server_that_is_down_is_a_transient_error(
    db_session, other_resident, notify_config, now
):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    config = notify_config(NotificationChannel="smtp", SmtpHost="127.0.0.1", SmtpPort=str(port))
    _queue(db_session, other_resident, "result:order:5", now)

    with pytest.raises(TransientDeliveryError, match="SMTP"):
        send_next(db_session, config, claimant="1@h:1", now=now)

    row = _row(db_session)
    assert (row.status, row.attempts) == ("pending", 1)


@pytest.fixture
def tls_config(notify_config, tls_mailbox):
    def make(**overrides):
        values = {
            "NotificationChannel": "smtp",
            "SmtpHost": "127.0.0.1",
            "SmtpPort": str(tls_mailbox.port),
            "SmtpStartTls": "true",
            "SmtpUser": "ep-notify",
            "SmtpPassword": "s3cret",
            "ProviderTimeoutSeconds": "5",
        }
        return notify_config(**{**values, **overrides})

    return make


def test_starttls_and_login_deliver_to_a_server_that_demands_them(
    db_session, other_resident, tls_mailbox, tls_config, tls_files, monkeypatch, now
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"]))
    _queue(db_session, other_resident, "result:order:5", now)

    assert send_next(db_session, tls_config(), claimant="1@h:1", now=now) == "sent"

    assert [m["To"] for m in tls_mailbox.messages] == ["greta@example.invalid"]


def test_a_wrong_password_leaves_the_message_pending(
    db_session, other_resident, tls_mailbox, tls_config, tls_files, monkeypatch, now
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"]))
    _queue(db_session, other_resident, "result:order:5", now)

    with pytest.raises(TransientDeliveryError, match="Authentication"):
        send_next(db_session, tls_config(SmtpPassword="wrong"), claimant="1@h:1", now=now)

    assert _row(db_session).status == "pending"
    assert tls_mailbox.messages == []


def test_a_server_certificate_from_an_unknown_ca_is_refused(
    db_session, other_resident, tls_mailbox, tls_config, tmp_path, monkeypatch, now
):
    empty = tmp_path / "no-cas.pem"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    _queue(db_session, other_resident, "result:order:5", now)

    with pytest.raises(TransientDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        send_next(db_session, tls_config(), claimant="1@h:1", now=now)

    assert tls_mailbox.messages == []


class _OddQuit(Mailbox):
    """A server that accepts the message, then answers QUIT with an error (seen in the
    field: a relay answering 421 while shutting down)."""

    async def handle_QUIT(self, server, session, envelope):
        return "421 4.3.2 Service shutting down"


def test_an_email_the_server_accepted_is_sent_once_even_when_quit_goes_wrong(
    db_session, other_resident, notify_config, now
):
    box = _OddQuit()
    controller = LoopbackController(box)
    controller.start()
    try:
        config = notify_config(**smtp_settings(controller.port))
        _queue(db_session, other_resident, "result:order:77", now)

        outcomes = [
            send_next(db_session, config, claimant="1@h:1", now=now + timedelta(minutes=m))
            for m in (0, 1, 60)
        ]
    finally:
        controller.stop()

    assert outcomes[0] == "sent"
    assert len(box.messages) == 1  # one event, one e-mail: no retry of a delivered message
    assert _row(db_session).status == "sent"


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("sv", "Logga in: https://prov.region.example/"),
        ("en", "Log in: https://prov.region.example/"),
    ],
)
def test_the_email_names_the_service_and_links_to_the_login_and_nothing_more(
    db_session, other_resident, mailbox, notify_config, now, language, line
):
    other_resident.language = language
    config = notify_config(**smtp_settings(mailbox.port), PublicUrl="https://prov.region.example/")
    _queue(db_session, other_resident, "result:order:6", now)

    send_next(db_session, config, claimant="1@h:1", now=now)

    [email] = mailbox.messages
    body = email.get_content().strip()
    assert "Egen provhantering" in email["Subject"] and "Egen provhantering" in body
    assert body.endswith(line)
    assert body.split()[-1] == "https://prov.region.example/"  # the start page, nothing deeper
