"""A resident's pages that write (a message opened is marked read, the settings form)
answer while another connection writes all the time (tests/web/staff/test_beside_a_writer.py
says why that failed on SQLite)."""

from tests.support import Writer
from tests.web.citizen.conftest import inbox_message

PAGES = 25


def test_a_resident_opens_messages_and_saves_settings_beside_a_writer(
    as_resident, resident, database_url, db_session, now
):
    messages = [
        inbox_message(db_session, resident, subject=f"Meddelande {n}", body="Hej", now=now)
        for n in range(PAGES)
    ]
    db_session.commit()
    ids, person_id = [message.id for message in messages], resident.id
    with Writer(database_url, person_id):
        opened = [as_resident.get(f"/inbox/{message_id}").status_code for message_id in ids]
        saved = as_resident.submit(
            "/settings",
            data={"channel": "email", "mobile": "", "email": "t@example.se", "language": "sv"},
            follow=False,
        )
    assert opened == [200] * PAGES
    assert saved.status_code == 302, saved.get_data(as_text=True)
    db_session.rollback()
    assert all(message.read_at is not None for message in messages)
