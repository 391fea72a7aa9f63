"""The SMS channel against a real HTTP gateway on loopback."""

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.notifications import failing_count, pending_count, queue_notification, send_next
from ep.models import Notification
from ep.notify import TransientDeliveryError


@pytest.fixture
def queued(db_session, resident, now):
    notification = queue_notification(
        db_session, person=resident, kind="result", dedupe_key="result:order:17", now=now
    )
    db_session.commit()
    return notification


def _row(session):
    session.rollback()  # a fresh snapshot: the sender writes on a connection of its own
    return session.execute(select(Notification)).scalar_one()


def test_the_gateway_gets_token_sender_number_text_and_idempotency_key(
    db_session, queued, sms_gateway, sms_config, now
):
    assert send_next(db_session, sms_config, claimant="3@host:1", now=now) == "sent"

    [request] = sms_gateway.requests
    assert request.path == "/v1/sms"
    assert request.headers["authorization"] == "Bearer gateway-secret-token"
    assert request.headers["idempotency-key"] == "result:order:17"
    assert request.body == {
        "from": "RegionTest",
        "to": "+46701234567",
        "text": "Du har ett nytt meddelande i Egen provhantering. Logga in för att läsa det.",
        "idempotency_key": "result:order:17",
    }
    row = _row(db_session)
    assert (row.status, row.channel, row.provider_ref, row.sent_at) == ("sent", "sms", "sms-1", now)
    assert row.claimed_by_run_id == 3


def test_a_gateway_error_leaves_the_message_pending_for_a_later_try(
    db_session, queued, sms_gateway, sms_config, now
):
    sms_gateway.answers = [(500, {"error": "upstream operator down"})] * 2

    with pytest.raises(TransientDeliveryError, match="500"):
        send_next(db_session, sms_config, claimant="1@h:1", now=now)

    row = _row(db_session)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "upstream operator down" in row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=30)
    # not due again until the backoff has passed
    assert send_next(db_session, sms_config, claimant="1@h:1", now=now) is None

    later = now + timedelta(seconds=30)
    with pytest.raises(TransientDeliveryError):
        send_next(db_session, sms_config, claimant="1@h:1", now=later)
    row = _row(db_session)
    assert row.attempts == 2
    assert row.next_attempt_at == later + timedelta(seconds=60)

    # the gateway has recovered
    assert send_next(
        db_session, sms_config, claimant="1@h:1", now=later + timedelta(minutes=1)
    ) == ("sent")
    assert [r.headers["idempotency-key"] for r in sms_gateway.requests] == ["result:order:17"] * 3
    assert _row(db_session).status == "sent"
    assert failing_count(db_session) == 0


def test_an_invalid_number_fails_the_message_for_good(
    db_session, queued, sms_gateway, sms_config, now
):
    sms_gateway.answers = [(400, {"error": "invalid recipient number"})]

    assert send_next(db_session, sms_config, claimant="1@h:1", now=now) == "failed"

    row = _row(db_session)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "400" in row.last_error and "invalid recipient number" in row.last_error
    assert failing_count(db_session) == 1
    assert pending_count(db_session, now=now + timedelta(days=1)) == 0
    assert send_next(db_session, sms_config, claimant="1@h:1", now=now + timedelta(days=1)) is None


@pytest.mark.parametrize("status", [401, 429, 503])
def test_a_refused_token_or_throttling_is_not_the_messages_fault(
    db_session, queued, sms_gateway, sms_config, now, status
):
    sms_gateway.answers = [(status, {"error": "no"})]

    with pytest.raises(TransientDeliveryError, match=str(status)):
        send_next(db_session, sms_config, claimant="1@h:1", now=now)

    assert _row(db_session).status == "pending"


def test_a_gateway_slower_than_the_timeout_is_a_transient_error(
    db_session, queued, sms_gateway, sms_config, now
):
    sms_gateway.delay = 5  # ProviderTimeoutSeconds is 1

    with pytest.raises(TransientDeliveryError, match="unreachable"):
        send_next(db_session, sms_config, claimant="1@h:1", now=now)

    row = _row(db_session)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "timed out" in row.last_error


def test_a_gateway_that_refuses_connections_is_a_transient_error(
    db_session, queued, notify_config, now
):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    config = notify_config(NotificationChannel="sms", SmsGatewayUrl=f"http://127.0.0.1:{port}/")

    with pytest.raises(TransientDeliveryError, match="unreachable"):
        send_next(db_session, config, claimant="1@h:1", now=now)

    assert _row(db_session).status == "pending"


def test_an_email_resident_is_not_texted_when_only_sms_is_enabled(
    db_session, other_resident, sms_gateway, notify_config, now
):
    config = notify_config(NotificationChannel="sms", SmsGatewayUrl=sms_gateway.url)
    queue_notification(db_session, person=other_resident, kind="result", dedupe_key="r:1", now=now)
    db_session.commit()

    assert send_next(db_session, config, claimant="1@h:1", now=now) == "sent"

    assert sms_gateway.requests == []
    row = _row(db_session)
    assert (row.status, row.channel) == ("sent", "inbox")
