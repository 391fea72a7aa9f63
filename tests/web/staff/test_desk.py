"""At the desk: find a resident by personnummer, order number or kit code; add a new one."""

from sqlalchemy import select

from ep.domain.audit import description
from ep.models import Kit, Person
from tests.web.staff.support import audit_events, make_order


def find(staff, key):
    token = staff.token("/staff/")
    return staff.post("/staff/patients", {"personnummer": key}, token=token)


def test_the_desk_finds_the_patient_by_order_number_and_by_kit_code_and_logs_each_search(
    staff, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["STI-HOME"], now=now)
    kit = Kit(code="KIT-5150-DESK", package_id=order.package_id, person_id=resident.id)
    db_session.add(kit)
    db_session.flush()
    order.kit_id = kit.id
    db_session.commit()

    for key in (order.number.lower(), "kit-5150-desk", "19121212-1212"):
        response = find(staff, key)
        assert response.status_code == 302, key
        assert f"/staff/patients/{resident.id}" in response.headers["Location"]
    assert response.headers["Location"].endswith(f"/staff/patients/{resident.id}")
    page = staff.get(f"/staff/patients/{resident.id}").text
    assert "KIT-5150-DESK" in page  # the kit code shown on the order
    searches = audit_events(db_session, action="search:patient")
    assert [(e.patient_personnummer, description(e.details)) for e in searches] == [
        (resident.personnummer, {"text": "order-number", "key": order.number}),
        (resident.personnummer, {"text": "kit-code", "key": "KIT-5150-DESK"}),
    ]


def test_an_order_number_or_kit_code_nobody_has_says_so(staff, catalogue, db_session):
    response = find(staff, "KIT-0000-NONE")
    assert response.status_code == 404
    assert "Ingen beställning har det ordernumret eller den koden." in response.text
    response = find(staff, "<b>?")
    assert response.status_code == 400
    assert "ett ordernummer (EP-XXXX-XXXX)" in response.text


def test_staff_add_a_resident_who_has_not_logged_in_and_assign_an_offer(
    staff, catalogue, db_session
):
    response = find(staff, "19811228-9874")
    assert response.status_code == 404
    assert "Lägg till invånaren i EP" in response.text

    token = staff.token("/staff/")
    response = staff.post(
        "/staff/residents",
        {"personnummer": "198112289874", "given_name": " ", "family_name": "Granskare"},
        token=token,
    )
    assert response.status_code == 400
    assert "Skriv invånarens namn." in response.text
    assert db_session.scalar(select(Person).where(Person.personnummer == "198112289874")) is None

    response = staff.post(
        "/staff/residents",
        {"personnummer": "198112289874", "given_name": "Greta", "family_name": "Granskare"},
        token=token,
    )
    assert response.status_code == 302
    db_session.rollback()
    greta = db_session.scalar(select(Person).where(Person.personnummer == "198112289874"))
    assert greta.name == "Greta Granskare"
    page = staff.get(response.headers["Location"]).text
    assert "Greta Granskare, 19811228-9874" in page
    assert "Tilldela ett erbjudande" in page
    [created] = audit_events(db_session, action="create:person")
    assert (created.patient_personnummer, created.actor_id) == ("198112289874", staff.hsa_id)
