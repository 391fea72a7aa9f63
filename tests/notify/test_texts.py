"""What reaches a resident's phone, mailbox or file says nothing about their health."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.notifications import queue_notification, send_next
from ep.models import Analysis, InboxMessage, Order, Package

KINDS = [
    "result",
    "reminder:offer-not-ordered",
    "reminder:order-expiring",
    "reminder:kit-not-registered",
    "reminder:offer-due-again",
]


@pytest.fixture
def order(db_session, resident, now):
    analysis = Analysis(code="CT-PCR", name_sv="Klamydia, PCR", name_en="Chlamydia, PCR")
    package = Package(
        code="STI-1",
        name_sv="Klamydia och gonorré",
        name_en="Chlamydia and gonorrhoea",
        analyses=[analysis],
    )
    order = Order(
        number="EP-7K3M-Q9XA",
        person=resident,
        package=package,
        ordered_at=now,
        expires_at=now + timedelta(days=30),
    )
    db_session.add(order)
    db_session.commit()
    return order


def _forbidden(order):
    person, package = order.person, order.package
    words = [package.code, package.name_sv, package.name_en, order.number]
    words += [a.name_sv for a in package.analyses] + [a.name_en for a in package.analyses]
    words += ["klamydia", "chlamydia", "gonorr", "pcr"]
    return words + [person.personnummer, person.given_name, person.family_name]


def _queue_all(session, person, order, suffix, now):
    for kind in KINDS:
        queue_notification(
            session,
            person=person,
            kind=kind,
            dedupe_key=f"{kind}:{order.id}:{suffix}",
            now=now,
            order_id=order.id,
        )
    session.commit()


def _send_all(session, config, now):
    return [send_next(session, config, claimant="1@h:1", now=now) for _ in KINDS]


@pytest.mark.parametrize("language", ["sv", "en"])
def test_no_message_names_the_package_the_analyses_or_the_resident(
    db_session,
    order,
    sms_gateway,
    sms_config,
    mailbox,
    smtp_config,
    notify_config,
    outbox,
    now,
    language,
):
    resident = order.person
    resident.language = language
    db_session.commit()
    # rows go out oldest first: the first set to files, the second by SMS, the third by mail
    _queue_all(db_session, resident, order, "file", now - timedelta(seconds=3))
    _queue_all(db_session, resident, order, "sms", now - timedelta(seconds=2))
    resident.channel = "email"
    _queue_all(db_session, resident, order, "email", now - timedelta(seconds=1))

    assert _send_all(db_session, notify_config(NotificationChannel="file"), now) == ["sent"] * 5
    assert _send_all(db_session, sms_config, now) == ["sent"] * 5
    assert _send_all(db_session, smtp_config, now) == ["sent"] * 5

    texts = [path.read_text(encoding="utf-8") for path in outbox.iterdir()]
    texts += [request.body["text"] for request in sms_gateway.requests]
    texts += [f"{m['Subject']}\n{m.get_content()}" for m in mailbox.messages]
    inbox = db_session.execute(select(InboxMessage)).scalars().all()
    texts += [f"{message.subject}\n{message.body}" for message in inbox]
    assert len(texts) == 6 * len(KINDS)
    for text in texts:
        for word in _forbidden(order):
            assert word.lower() not in text.lower(), (word, text)
    greeting = "Du har" if language == "sv" else "You have"
    assert all(request.body["text"].startswith(greeting) for request in sms_gateway.requests)
