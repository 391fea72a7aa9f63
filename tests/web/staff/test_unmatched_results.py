"""Lab results IMPORTRESULTS could not match: staff read what the lab sent and attach them."""

import pytest
from sqlalchemy import select

from ep.models import LabMessage, Order, Result
from ep.timeutil import utcnow
from tests.web.staff.support import add_unmatched_message, audit_count, audit_events, make_order


def hl7(order_number, personnummer="19121212-1212", comment="Förhöjt värde."):
    segments = [
        "MSH|^~\\&|LIMS|KLINKEM_SUS|EP|REGION|20261126143005+0100||ORU^R01^ORU_R01|"
        "KK-1|P|2.5.1|||AL|NE||UNICODE UTF-8",
        f"PID|1||{personnummer}^^^SE-PNR^PN||Tolvansson^Tolvan",
        f"OBR|1|{order_number}|LAB-1|DIAB^Diabeteskontroll^L|||20261126081500+0100",
        "OBX|1|NM|NPU27300^B-HbA1c^NPU||48|mmol/mol|27-42|H|||F|||20261126081500+0100",
        f"NTE|1|L|{comment}",
        "OBX|2|NM|NPU02192^P-Glukos^NPU||5,4|mmol/L|4,0-6,0|N|||F|||20261126081500+0100",
    ]
    return "\r".join(segments).encode()


@pytest.fixture
def unmatched(db_session, catalogue):
    payload = hl7("EP-0000-0000", comment="<script>alert(1)</script>")
    return add_unmatched_message(db_session, payload, personnummer="191212121212", now=utcnow())


def test_the_list_shows_each_unmatched_message_and_logs_the_patient_it_names(
    staff, staff_user, unmatched, db_session
):
    page = staff.get("/staff/unmatched").text
    assert "19121212-1212" in page
    assert "EP-0000-0000" in page
    assert "Beställning EP-0000-0000 finns inte i EP" in page  # the reason, in Swedish
    events = audit_events(db_session, action="read:unmatched-results")
    assert [(e.patient_personnummer, e.object_id) for e in events] == [
        ("191212121212", str(unmatched.id))
    ]


def test_a_message_shows_its_values_and_its_text_escaped_and_the_read_is_logged_once(
    staff, unmatched, db_session
):
    page = staff.get(f"/staff/unmatched/{unmatched.id}").text
    assert "NPU27300 B-HbA1c" in page
    assert "Över referensintervallet" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "OBX|2|NM|NPU02192" in page  # the raw message, one segment a line
    assert audit_count(db_session, actor_id=staff.hsa_id, patient_personnummer="191212121212") == 1


def test_staff_attach_the_message_to_the_right_order(
    staff, staff_user, resident, unmatched, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    path = f"/staff/unmatched/{unmatched.id}"
    token = staff.token(path)

    response = staff.post(
        path, {"order_number": order.number.lower()}, token=token, follow_redirects=True
    )

    assert response.status_code == 200
    assert f"Provsvaret är kopplat till beställning {order.number}." in response.text
    assert "Det finns inga omatchade provsvar." in response.text
    db_session.commit()
    message = db_session.get(LabMessage, unmatched.id)
    assert (message.status, message.order_id, message.resolved_by_id) == (
        "imported",
        order.id,
        staff_user.id,
    )
    values = db_session.scalars(select(Result.value_text).where(Result.order_id == order.id))
    assert sorted(values) == ["48", "5,4"]
    assert db_session.get(Order, order.id).status == "resulted"
    assert audit_count(db_session, action="lab_message.attach") == 1


def test_a_wrong_order_number_is_explained_and_nothing_is_attached(staff, unmatched, db_session):
    path = f"/staff/unmatched/{unmatched.id}"
    token = staff.token(path)
    for typed, message in (
        ("EP-123", "Skriv ordernumret som EP-XXXX-XXXX."),
        ("EP-0000-0000", "Det finns ingen beställning med det numret."),
    ):
        response = staff.post(path, {"order_number": typed}, token=token)
        assert response.status_code == 400
        assert message in response.text
        assert 'id="order_number-error"' in response.text
    db_session.commit()
    assert db_session.get(LabMessage, unmatched.id).status == "unmatched"


def test_another_patients_order_needs_a_confirmation(
    staff, other_resident, unmatched, catalogue, db_session, now
):
    order = make_order(db_session, other_resident, catalogue["DIABETES"], now=now, status="sampled")
    path = f"/staff/unmatched/{unmatched.id}"
    token = staff.token(path)
    response = staff.post(path, {"order_number": order.number}, token=token)
    assert response.status_code == 400
    assert "Beställningen gäller en annan person än provsvaret." in response.text
    response = staff.post(path, {"order_number": order.number, "confirm_patient": "1"}, token=token)
    assert response.status_code == 302
    db_session.commit()
    assert db_session.get(LabMessage, unmatched.id).order_id == order.id
