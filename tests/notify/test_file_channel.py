"""The file channel: one file per notification, written whole, never duplicated."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.notifications import pending_count, queue_notification, send_due, send_next
from ep.models import Notification
from ep.notify import OutgoingMessage, TransientDeliveryError
from ep.notify.file import file_name, send


def _queue(session, person, key, now, kind="result"):
    notification = queue_notification(session, person=person, kind=kind, dedupe_key=key, now=now)
    session.commit()
    return notification


def test_each_notification_becomes_exactly_one_file(
    db_session, resident, notify_config, outbox, now
):
    config = notify_config(NotificationChannel="file")
    for number in range(3):
        _queue(
            db_session,
            resident,
            f"reminder:order-expiring:{number}",
            now,
            "reminder:order-expiring",
        )

    outcomes = [send_next(db_session, config, claimant="1@host:1", now=now) for _ in range(4)]

    assert outcomes == ["sent", "sent", "sent", None]
    assert sorted(p.name for p in outbox.iterdir()) == [
        "reminder%3Aorder-expiring%3A0.txt",
        "reminder%3Aorder-expiring%3A1.txt",
        "reminder%3Aorder-expiring%3A2.txt",
    ]
    text = (outbox / "reminder%3Aorder-expiring%3A0.txt").read_text(encoding="utf-8")
    assert "Du har en påminnelse i Egen provhantering." in text
    assert "To: +46701234567" in text
    rows = db_session.execute(select(Notification)).scalars().all()
    assert {(row.status, row.channel, row.attempts) for row in rows} == {("sent", "file", 1)}
    assert pending_count(db_session, now=now) == 0


def test_the_file_channel_takes_residents_without_a_preference_too(
    db_session, make_person, notify_config, outbox, now
):
    _queue(db_session, make_person(), "result:9", now)

    assert send_next(db_session, notify_config(), claimant="1@h:1", now=now) == "sent"
    assert [p.name for p in outbox.iterdir()] == ["result%3A9.txt"]


def test_sending_the_same_key_again_replaces_its_file(notify_config, outbox):
    config = notify_config()
    message = OutgoingMessage("result:42", "+46701234567", "sv", "Ämne", "Första")

    send(message, config)
    send(OutgoingMessage("result:42", "+46701234567", "sv", "Ämne", "Andra"), config)

    files = list(outbox.iterdir())
    assert [p.name for p in files] == ["result%3A42.txt"]
    assert files[0].read_text(encoding="utf-8").endswith("Andra\n")


def test_distinct_keys_never_share_a_file_and_stay_inside_the_folder():
    keys = ["a:b", "a_b", "a/b", "../a", "a b", "a%3Ab", ".hidden", "x" * 200, "x" * 199 + "y"]

    names = [file_name(key) for key in keys]

    assert len(set(names)) == len(keys)
    assert all("/" not in name and not name.startswith(".") for name in names)
    assert all(len(name.encode()) < 255 for name in names)


def test_a_folder_that_cannot_be_written_is_a_transient_error(
    db_session, resident, notify_config, tmp_path, now
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    config = notify_config(NotificationDirectory=str(blocked))
    _queue(db_session, resident, "result:1", now)

    with pytest.raises(TransientDeliveryError):
        send_next(db_session, config, claimant="1@h:1", now=now)

    row = db_session.execute(select(Notification)).scalar_one()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "not-a-folder" in row.last_error
    assert row.next_attempt_at > now
    assert pending_count(db_session, now=now) == 0
    assert send_next(db_session, config, claimant="1@h:1", now=now) is None


def test_files_of_one_claim_are_recorded_together_and_a_failure_keeps_what_went(
    db_session, resident, notify_config, outbox, now
):
    config = notify_config(NotificationChannel="file")
    for number in range(5):
        _queue(db_session, resident, f"result:{number}", now)
    # the third message cannot be renamed into place: a folder holds its name
    (outbox / file_name("result:2")).mkdir(parents=True)

    with pytest.raises(TransientDeliveryError, match="result%3A2.txt"):
        send_due(db_session, config, claimant="1@h:1", now=now, limit=5)

    db_session.rollback()  # a fresh snapshot: see what send_due wrote
    rows = {row.dedupe_key: row for row in db_session.scalars(select(Notification))}
    assert {key: row.status for key, row in rows.items()} == {
        "result:0": "sent",  # written before the failure, recorded with it
        "result:1": "sent",
        "result:2": "pending",  # the failure, to be tried again
        "result:3": "pending",  # claimed, never tried: handed back
        "result:4": "pending",
    }
    assert rows["result:2"].attempts == 1 and "result%3A2.txt" in rows["result:2"].last_error
    assert (rows["result:3"].attempts, rows["result:3"].claimed_at) == (0, None)
    assert not [path for path in outbox.iterdir() if path.name.endswith(".tmp")]

    (outbox / file_name("result:2")).rmdir()
    later = now + timedelta(hours=1)
    outcome = send_due(db_session, config, claimant="2@h:1", now=later, limit=5)

    assert (outcome.sent, outcome.failed) == (3, 0)
    assert sorted(path.name for path in outbox.iterdir()) == [
        file_name(f"result:{number}") for number in range(5)
    ]
