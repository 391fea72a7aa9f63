"""The STI-positive worklist: a held positive is released once staff have called."""

from datetime import UTC, timedelta

from sqlalchemy import select

from ep.domain.audit import description
from ep.models import InboxMessage, Notification, Order, Person, Result
from ep.timeutil import local
from tests.web.staff.support import audit_count, audit_events, held_positive, make_order


def test_the_worklist_shows_each_held_positive_and_logs_one_read_per_patient(
    staff, staff_user, resident, other_resident, catalogue, db_session, now
):
    sti = catalogue["STI-HOME"]
    first = held_positive(db_session, resident, sti, now)
    second = held_positive(db_session, other_resident, sti, now)
    released = make_order(db_session, resident, sti, now=now, status="released")

    page = staff.get("/staff/worklist").text

    assert first.number in page and second.number in page
    assert released.number not in page
    assert "Tolvan Tolvansson, 19121212-1212" in page
    assert "+46701234567" in page  # the number to call
    assert "Positivt" in page
    events = audit_events(db_session, action="read:worklist")
    assert sorted((e.patient_personnummer, e.object_id) for e in events) == sorted(
        [(resident.personnummer, first.number), (other_resident.personnummer, second.number)]
    )
    assert {e.actor_id for e in events} == {staff_user.hsa_id}


def test_an_empty_worklist_says_so_and_logs_nothing(staff, db_session):
    page = staff.get("/staff/worklist").text
    assert "Inga svar väntar på kontakt." in page
    assert audit_count(db_session, action="read:worklist") == 0


def test_marking_the_resident_contacted_releases_the_result_and_notifies_them(
    staff, staff_user, resident, catalogue, db_session, now
):
    order = held_positive(db_session, resident, catalogue["STI-HOME"], now)
    token = staff.token(f"/staff/worklist/{order.id}/contacted")

    called = local(now - timedelta(hours=1))  # as the staff member types it, Stockholm time
    confirm = staff.get(f"/staff/worklist/{order.id}/contacted").text
    assert "När du bekräftar visas svaret" in confirm  # the release asks first
    response = staff.post(
        f"/staff/worklist/{order.id}/contacted", {}, token=token, follow_redirects=True
    )
    assert response.status_code == 400  # no release without the contact note
    assert "Välj hur du kontaktade invånaren." in response.text
    response = staff.post(
        f"/staff/worklist/{order.id}/contacted",
        {"how": "phone", "when": called.strftime("%Y-%m-%dT%H:%M"), "note": "Behandling bokad"},
        token=token,
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert f"svaret för {order.number} visas nu" in response.text
    assert "Inga svar väntar på kontakt." in response.text
    db_session.commit()
    order = db_session.get(Order, order.id)
    assert order.status == "released"
    assert order.contacted_by_id == staff_user.id
    assert order.contacted_at is not None
    results = db_session.scalars(select(Result).where(Result.order_id == order.id)).all()
    assert all(r.released_at is not None for r in results)
    notification = db_session.scalar(select(Notification).where(Notification.kind == "result"))
    assert notification.person_id == resident.id
    assert "Positiv" not in notification.body  # no health information in the message
    inbox = db_session.scalar(select(InboxMessage).where(InboxMessage.person_id == resident.id))
    assert inbox is not None
    changes = audit_events(db_session, action="update:order")
    assert [(e.patient_personnummer, description(e.details)) for e in changes] == [
        (
            resident.personnummer,
            {
                "text": "contacted",
                "how": "phone",
                "at": called.replace(second=0, microsecond=0).astimezone(UTC).isoformat(),
                "note": "Behandling bokad",
            },
        )
    ]


def test_a_worklist_entry_marked_twice_is_released_once(
    staff, resident, catalogue, db_session, now
):
    order = held_positive(db_session, resident, catalogue["STI-HOME"], now)
    token = staff.token(f"/staff/worklist/{order.id}/contacted")
    note = {"how": "visit", "when": local(now).strftime("%Y-%m-%dT%H:%M")}
    staff.post(f"/staff/worklist/{order.id}/contacted", note, token=token)
    again = staff.post(
        f"/staff/worklist/{order.id}/contacted", note, token=token, follow_redirects=True
    )
    assert "finns inte längre på arbetslistan" in again.text
    assert audit_count(db_session, action="update:order") == 1
    db_session.commit()
    assert db_session.query(Notification).filter_by(kind="result").count() == 1


def test_a_name_with_markup_on_the_worklist_is_escaped(staff, catalogue, db_session, now):
    person = Person(personnummer="198112289874", given_name="<img src=x onerror=alert(1)>")
    db_session.add(person)
    db_session.commit()
    held_positive(db_session, person, catalogue["STI-HOME"], now)
    page = staff.get("/staff/worklist").text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
