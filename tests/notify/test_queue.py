"""queue_notification: the inbox message, one notification per key, the resident's channel."""

from sqlalchemy import func, select

from ep.domain.notifications import (
    NotificationRequest,
    pending_count,
    queue_notification,
    queue_notifications,
)
from ep.models import InboxMessage, Notification


def test_a_notification_writes_the_inbox_message_and_one_pending_row(db_session, resident, now):
    notification = queue_notification(
        db_session, person=resident, kind="result", dedupe_key="result:1", now=now
    )
    db_session.commit()

    assert notification.status == "pending"
    assert notification.channel == "sms"
    assert notification.recipient == "+46701234567"
    inbox = db_session.execute(select(InboxMessage)).scalar_one()
    assert inbox.person_id == resident.id
    assert inbox.subject == "Dina provsvar är klara"
    assert pending_count(db_session, now=now) == 1


def test_queueing_the_same_key_again_creates_nothing(db_session, resident, now):
    first = queue_notification(
        db_session, person=resident, kind="result", dedupe_key="result:7", now=now
    )
    db_session.commit()
    again = queue_notification(
        db_session, person=resident, kind="result", dedupe_key="result:7", now=now
    )
    db_session.commit()

    assert first is not None
    assert again is None
    assert db_session.execute(select(func.count()).select_from(Notification)).scalar() == 1
    assert db_session.execute(select(func.count()).select_from(InboxMessage)).scalar() == 1


def test_a_duplicate_key_does_not_spoil_the_callers_other_work(db_session, resident, now):
    queue_notification(db_session, person=resident, kind="result", dedupe_key="k:1", now=now)
    db_session.commit()
    queue_notification(db_session, person=resident, kind="result", dedupe_key="k:2", now=now)
    queue_notification(db_session, person=resident, kind="result", dedupe_key="k:1", now=now)
    db_session.commit()

    keys = db_session.execute(select(Notification.dedupe_key)).scalars().all()
    assert sorted(keys) == ["k:1", "k:2"]


def test_an_email_resident_is_reached_by_email_in_english(db_session, other_resident, now):
    notification = queue_notification(
        db_session,
        person=other_resident,
        kind="reminder:order-expiring",
        dedupe_key="reminder:order-expiring:3",
        now=now,
    )

    assert notification.channel == "smtp"
    assert notification.recipient == "greta@example.invalid"
    assert notification.body == ("You have a reminder in Egen provhantering. Log in to read it.")


def test_a_resident_without_a_usable_contact_gets_the_inbox_only(db_session, make_person, now):
    no_preference = make_person(mobile="+46701111111")
    bad_number = make_person(channel="sms", mobile="call me")
    email_without_address = make_person(channel="email")

    channels = [
        queue_notification(
            db_session, person=person, kind="result", dedupe_key=f"result:{i}", now=now
        ).channel
        for i, person in enumerate([no_preference, bad_number, email_without_address])
    ]

    assert channels == ["inbox", "inbox", "inbox"]
    assert db_session.execute(select(func.count()).select_from(InboxMessage)).scalar() == 3


def test_many_notifications_queue_at_once_skipping_known_keys(
    db_session, resident, other_resident, now
):
    queue_notification(db_session, person=resident, kind="result", dedupe_key="r:1", now=now)
    requests = [
        NotificationRequest(resident, "result", "r:1"),
        NotificationRequest(resident, "reminder:order-expiring", "r:2"),
        NotificationRequest(other_resident, "reminder:offer-due-again", "r:3"),
        NotificationRequest(other_resident, "reminder:offer-due-again", "r:3"),
    ]

    assert queue_notifications(db_session, requests, now=now) == 2
    db_session.commit()

    rows = db_session.execute(
        select(Notification.dedupe_key, Notification.channel, Notification.body).order_by(
            Notification.dedupe_key
        )
    ).all()
    assert [(key, channel) for key, channel, _ in rows] == [
        ("r:1", "sms"),
        ("r:2", "sms"),
        ("r:3", "smtp"),
    ]
    assert rows[2].body == "You have a reminder in Egen provhantering. Log in to read it."
    inbox = db_session.execute(select(InboxMessage.dedupe_key, InboxMessage.subject)).all()
    assert sorted(inbox) == [
        ("r:1", "Dina provsvar är klara"),
        ("r:2", "Din beställning går snart ut"),
        ("r:3", "Time to order again"),
    ]
