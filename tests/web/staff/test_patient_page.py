"""Staff find a patient by personnummer, read their page and assign an offer."""

from datetime import datetime, timedelta

from sqlalchemy import select

from ep.domain.audit import description
from ep.models import Offer, Person, Result
from ep.timeutil import STOCKHOLM
from tests.web.staff.support import audit_count, audit_events, make_order


def find(staff, personnummer):
    token = staff.token("/staff/")
    return staff.post("/staff/patients", {"personnummer": personnummer}, token=token)


def test_staff_find_a_patient_by_personnummer_in_any_accepted_form(staff, resident):
    for typed in ("19121212-1212", "191212121212", "121212+1212"):
        response = find(staff, typed)
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/staff/patients/{resident.id}")


def test_the_patient_page_shows_orders_and_results_and_logs_exactly_one_read(
    staff, staff_user, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="resulted")
    hba1c = next(a for a in catalogue["DIABETES"].analyses if a.code == "NPU27300")
    db_session.add(
        Result(
            order_id=order.id,
            analysis_code="NPU27300",
            analysis_id=hba1c.id,
            value_text="48",
            value_numeric=48,
            unit="mmol/mol",
            ref_range="27–42",
            flag="H",
            status="F",
            comment="Förhöjt <b>värde</b>",
            received_at=now,
        )
    )
    db_session.commit()

    response = staff.get(f"/staff/patients/{resident.id}")

    assert response.status_code == 200
    page = response.text
    assert "Tolvan Tolvansson, 19121212-1212" in page
    assert order.number in page
    assert '<th scope="row">B-HbA1c</th>' in page  # the analysis by name, not by code
    assert "Över referensintervallet" in page  # the flag in words, not by colour
    assert "Förhöjt &lt;b&gt;värde&lt;/b&gt;" in page  # the lab's comment, escaped
    assert "Diabeteskontroll" in page  # the demo's offer
    events = audit_events(
        db_session, actor_id=staff.hsa_id, patient_personnummer=resident.personnummer
    )
    assert [(e.action, e.actor_id, e.care_unit_name) for e in events] == [
        ("read:patient", staff_user.hsa_id, "Vårdcentralen Tolvåsen")
    ]
    assert events[0].client_addr == "127.0.0.1"


def test_each_read_of_the_patient_page_is_logged_again(staff, resident, db_session):
    staff.get(f"/staff/patients/{resident.id}")
    staff.get(f"/staff/patients/{resident.id}")
    assert (
        audit_count(db_session, actor_id=staff.hsa_id, patient_personnummer=resident.personnummer)
        == 2
    )


def test_a_mistyped_personnummer_is_explained_next_to_the_field_and_nothing_is_logged(
    staff, resident, db_session
):
    response = find(staff, "19121212-1213")
    assert response.status_code == 400
    page = response.text
    assert "Personnumret är inte giltigt" in page
    assert 'id="personnummer-error"' in page
    assert 'aria-describedby="personnummer-hint personnummer-error"' in page
    assert 'aria-invalid="true"' in page
    assert audit_count(db_session) == audit_count(db_session, action="user:add")


def test_a_personnummer_nobody_has_says_so_and_the_lookup_is_logged(staff, db_session):
    response = find(staff, "19811228-9874")
    assert response.status_code == 404
    assert "Det finns ingen invånare med det personnumret i EP." in response.text
    events = audit_events(db_session, actor_id=staff.hsa_id, patient_personnummer="198112289874")
    assert [(e.action, description(e.details)) for e in events] == [
        ("search:patient", {"text": "not-found"})
    ]


def test_names_with_markup_are_shown_escaped(staff, db_session, now):
    person = Person(
        personnummer="198112289874",
        given_name='<script>alert("x")</script>',
        family_name="<b>Granskare</b>",
        created_at=now,
    )
    db_session.add(person)
    db_session.commit()
    page = staff.get(f"/staff/patients/{person.id}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Granskare&lt;/b&gt;" in page


def test_staff_assign_an_offer_valid_until_the_end_of_the_chosen_day(
    staff, staff_user, resident, catalogue, db_session
):
    token = staff.token(f"/staff/patients/{resident.id}")
    response = staff.post(
        f"/staff/patients/{resident.id}/offers",
        {"package": catalogue["THYROID"].id, "valid_until": "2099-05-31", "recurrence_months": "3"},
        token=token,
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Erbjudandet om Sköldkörtel är tilldelat." in response.text
    db_session.commit()  # see what the app committed
    offer = db_session.scalar(select(Offer).where(Offer.package_id == catalogue["THYROID"].id))
    assert offer.person_id == resident.id
    assert offer.recurrence_months == 3
    assert offer.assigned_by_id == staff_user.id
    assert offer.valid_until.astimezone(STOCKHOLM).date().isoformat() == "2099-05-31"
    assert offer.valid_until.astimezone(STOCKHOLM).hour == 23
    changes = audit_events(db_session, action="create:offer")
    assert [(e.patient_personnummer, e.actor_id) for e in changes] == [
        (resident.personnummer, staff_user.hsa_id)
    ]
    assert description(changes[0].details) == {
        "text": "offer",
        "package": "THYROID",
        "until": "2099-05-31",
        "months": 3,
    }


def test_an_offer_without_package_in_the_past_or_with_odd_recurrence_is_refused(
    staff, resident, catalogue, db_session, now
):
    yesterday = (datetime.now(STOCKHOLM) - timedelta(days=1)).date().isoformat()
    token = staff.token(f"/staff/patients/{resident.id}")
    response = staff.post(
        f"/staff/patients/{resident.id}/offers",
        {"package": "", "valid_until": yesterday, "recurrence_months": "tre"},
        token=token,
    )
    assert response.status_code == 400
    page = response.text
    assert "Välj ett provpaket." in page
    assert "Skriv ett heltal." in page
    assert 'id="recurrence_months-error"' in page
    response = staff.post(
        f"/staff/patients/{resident.id}/offers",
        {"package": catalogue["THYROID"].id, "valid_until": yesterday},
        token=token,
    )
    assert "Datumet måste ligga i framtiden." in response.text
    assert audit_count(db_session, action="create:offer") == 0
    # each re-shown page is a read of the patient, logged once
    assert audit_count(db_session, action="read:patient") == 3
