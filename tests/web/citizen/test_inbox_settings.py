from datetime import timedelta

from ep.domain.audit import Actor, record
from ep.models import Person
from ep.timeutil import local
from tests.web.citizen.conftest import inbox_message


def test_opening_a_message_marks_it_read(as_resident, resident, db_session, now):
    message = inbox_message(
        db_session,
        resident,
        subject="Nytt meddelande",
        body="Du har ett nytt meddelande i Egen provhantering.",
        now=now,
    )
    db_session.commit()
    page = as_resident.page("/inbox")
    assert "Nytt meddelande" in page and "Oläst" in page
    assert "Meddelanden (1 oläst)" in page
    page = as_resident.page(f"/inbox/{message.id}")
    assert "Du har ett nytt meddelande" in page and "oläst" not in page
    db_session.rollback()  # end the test's read, to see what the page committed
    read_at = message.read_at
    assert read_at is not None
    page = as_resident.page("/inbox")
    assert "Läst" in page and "Oläst" not in page and "(1 oläst)" not in page
    as_resident.page(f"/inbox/{message.id}")  # opening it again changes nothing
    db_session.rollback()
    assert message.read_at == read_at


def test_settings_refuse_a_bad_mobile_number_next_to_the_field(as_resident, db_session):
    response = as_resident.submit(
        "/settings",
        data={"channel": "sms", "mobile": "12345", "email": "", "language": "sv"},
    )
    page = response.get_data(as_text=True)
    assert "Skriv ett mobilnummer, till exempel 070-123 45 67." in page
    assert 'aria-describedby="mobile-hint mobile-error"' in page


def test_e_mail_as_channel_needs_an_address(as_resident):
    response = as_resident.submit(
        "/settings", data={"channel": "email", "mobile": "", "email": "", "language": "sv"}
    )
    assert "Skriv din e-postadress för att få e-post." in response.get_data(as_text=True)


def test_settings_are_saved_with_the_number_in_international_form(
    as_resident, resident, db_session
):
    response = as_resident.submit(
        "/settings",
        data={
            "channel": "email",
            "mobile": "070-765 43 21",
            "email": " tolvan@example.se ",
            "language": "en",
        },
    )
    page = response.get_data(as_text=True)
    assert "Your settings have been saved." in page
    assert '<html lang="en">' in page
    db_session.rollback()
    person = db_session.get(Person, resident.id)
    assert (person.channel, person.mobile, person.email, person.language) == (
        "email",
        "+46707654321",
        "tolvan@example.se",
        "en",
    )


def test_only_the_inbox_is_a_choice_too(as_resident, resident, db_session):
    as_resident.submit(
        "/settings", data={"channel": "", "mobile": "", "email": "", "language": "sv"}
    )
    db_session.rollback()
    assert db_session.get(Person, resident.id).channel is None


def test_the_access_log_shows_which_care_unit_read_my_data_and_when(
    as_resident, resident, other_resident, staff_user, db_session, now
):
    staff = Actor.for_user(staff_user)
    read_at = now - timedelta(days=2)
    record(db_session, staff, "read:orders", now=read_at, patient=resident.personnummer)
    record(db_session, staff, "read:orders", now=now, patient=other_resident.personnummer)
    record(
        db_session,
        Actor("resident", resident.personnummer),
        "order:place",
        now=now,
        patient=resident.personnummer,
    )
    db_session.commit()
    page = as_resident.page("/access-log")
    assert page.count("Vårdcentralen Tolvåsen") == 1
    assert "Läste" in page
    assert "Ändrade" not in page  # the resident's own order is not in the extract


def test_no_one_has_looked_yet(as_resident):
    assert "Ingen vårdpersonal har tittat på dina uppgifter." in as_resident.page("/access-log")


def test_each_language_choice_is_marked_in_its_own_language(as_resident):
    page = as_resident.page("/settings")
    assert 'lang="en">English</label>' in page
    assert 'lang="sv">Svenska</label>' in page


def test_the_access_log_says_who_what_and_when_by_day_with_repeats_folded(
    as_resident, resident, staff_user, db_session, now
):
    staff = Actor.for_user(staff_user)
    # a morning's work on one order: 17 reads of the same page are one line
    morning = local(now).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for minute in range(17):
        record(
            db_session,
            staff,
            "read:patient",
            now=morning + timedelta(minutes=minute),
            patient=resident.personnummer,
            object_type="person",
            object_id=resident.id,
        )
    record(
        db_session,
        staff,
        "update:order",
        now=morning + timedelta(hours=1),
        patient=resident.personnummer,
        object_type="order",
        object_id="EP-7K3M-9QX1",
        details="contacted by phone at … : private note",
    )
    db_session.commit()

    page = as_resident.page("/access-log")

    assert page.count("<h2>") == 1  # one day
    assert f"{staff_user.name} (vårdpersonal)" in page
    assert "Läste dina erbjudanden, beställningar och provsvar (17 gånger)" in page
    assert "09:00–09:16" in page
    assert "Ändrade beställning EP-7K3M-9QX1" in page
    assert "private note" not in page  # what staff wrote is theirs, not a log line
    assert 'class="site-nav"' in page
    printable = as_resident.page("/access-log?print=1")
    assert "Utskrivet" in printable and 'class="site-nav"' not in printable
