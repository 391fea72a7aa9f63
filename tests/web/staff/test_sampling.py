"""At the sampling site: staff find a resident's open orders and mark them sampled."""

from datetime import timedelta

from ep.domain.audit import description
from ep.models import Order
from tests.web.staff.support import audit_count, audit_events, make_order


def open_orders(staff, personnummer):
    token = staff.token("/staff/sampling")
    return staff.post("/staff/sampling", {"personnummer": personnummer}, token=token)


def test_staff_see_the_open_orders_of_a_personnummer_and_the_read_is_logged_once(
    staff, staff_user, resident, catalogue, location, db_session, now
):
    waiting = make_order(db_session, resident, catalogue["DIABETES"], now=now, location=location)
    done = make_order(db_session, resident, catalogue["THYROID"], now=now, status="sampled")
    expired = make_order(
        db_session, resident, catalogue["PSA"], now=now, expires_at=now - timedelta(hours=1)
    )

    response = open_orders(staff, "19121212-1212")

    assert response.status_code == 200
    page = response.text
    assert waiting.number in page
    assert "Provtagningen City" in page
    assert done.number not in page
    assert expired.number not in page
    events = audit_events(
        db_session, actor_id=staff.hsa_id, patient_personnummer=resident.personnummer
    )
    assert [(e.action, e.actor_id, e.details) for e in events] == [
        ("read:open-orders", staff_user.hsa_id, waiting.number)
    ]


def test_staff_mark_an_order_sampled(staff, staff_user, resident, catalogue, db_session, now):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now)
    token = staff.token("/staff/sampling")

    response = staff.post(
        f"/staff/orders/{order.id}/sampled", {}, token=token, follow_redirects=True
    )

    assert response.status_code == 200
    assert f"Beställning {order.number} är markerad som provtagen." in response.text
    db_session.commit()
    order = db_session.get(Order, order.id)
    assert order.status == "sampled"
    assert order.sampled_by_id == staff_user.id
    assert order.sampled_at is not None
    changes = audit_events(db_session, action="update:order")
    assert [(e.patient_personnummer, e.object_id, description(e.details)) for e in changes] == [
        (resident.personnummer, order.number, {"text": "sampled"})
    ]


def test_an_order_already_sampled_cannot_be_marked_again(
    staff, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    token = staff.token("/staff/sampling")
    response = staff.post(
        f"/staff/orders/{order.id}/sampled", {}, token=token, follow_redirects=True
    )
    assert "väntar inte på provtagning" in response.text
    assert audit_count(db_session, action="update:order") == 0


def test_a_personnummer_without_open_orders_says_so_and_is_logged(staff, db_session):
    response = open_orders(staff, "198112289874")
    assert response.status_code == 200
    assert "Det finns inga öppna beställningar för det personnumret." in response.text
    assert audit_count(db_session, actor_id=staff.hsa_id, patient_personnummer="198112289874") == 1


def test_a_mistyped_personnummer_at_the_sampling_desk_is_explained(staff, db_session):
    response = open_orders(staff, "12345")
    assert response.status_code == 400
    assert 'id="personnummer-error"' in response.text
    assert audit_count(db_session, action="read:open-orders") == 0
