"""Staff type in results for labs not connected to EP, checked field by field."""

from sqlalchemy import select

from ep.models import Order, Result
from tests.web.staff.support import audit_count, audit_events, make_order


def results_of(db_session, order):
    db_session.commit()  # see what the app committed
    rows = db_session.scalars(
        select(Result).where(Result.order_id == order.id).order_by(Result.analysis_code)
    )
    return [(r.analysis_code, r.value_text, r.value_numeric, r.unit, r.flag) for r in rows]


def test_the_form_offers_each_analysis_with_its_unit_and_range_and_logs_the_read(
    staff, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    page = staff.get(f"/staff/orders/{order.id}/results").text
    assert 'id="value-NPU27300"' in page and 'value="mmol/mol"' in page
    assert 'value="27–42"' in page and 'value="4–6"' in page
    events = audit_events(
        db_session, actor_id=staff.hsa_id, patient_personnummer=resident.personnummer
    )
    assert [(e.action, e.object_id) for e in events] == [("read:order", order.number)]


def test_staff_enter_values_with_a_decimal_comma_and_they_are_flagged(
    staff, staff_user, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    path = f"/staff/orders/{order.id}/results"
    token = staff.token(path)
    form = {
        "value-NPU27300": "48",
        "unit-NPU27300": "mmol/mol",
        "range-NPU27300": "27–42",
        "value-NPU02192": "5,4",
        "unit-NPU02192": "mmol/L",
        "range-NPU02192": "4,0-6,0",
    }
    response = staff.post(path, form, token=token, follow_redirects=True)

    assert response.status_code == 200
    assert f"Provsvaren för {order.number} är sparade." in response.text
    assert "Över referensintervallet" in response.text
    assert results_of(db_session, order) == [
        ("NPU02192", "5,4", 5.4, "mmol/L", "N"),
        ("NPU27300", "48", 48.0, "mmol/mol", "H"),
    ]
    stored = db_session.scalars(select(Result).where(Result.order_id == order.id)).all()
    assert {r.entered_by_id for r in stored} == {staff_user.id}
    assert db_session.get(Order, order.id).status == "resulted"
    changes = audit_events(db_session, action="update:results")
    assert [(e.patient_personnummer, e.object_id) for e in changes] == [
        (resident.personnummer, order.number)
    ]


def test_a_qualitative_result_is_typed_as_positiv_or_negativ(
    staff, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["STI-HOME"], now=now, status="sampled")
    path = f"/staff/orders/{order.id}/results"
    token = staff.token(path)
    form = {"value-21613-5": "positiv", "value-24111-7": "Negativ"}
    assert staff.post(path, form, token=token).status_code == 302
    assert results_of(db_session, order) == [
        ("21613-5", "Positiv", None, None, "POS"),
        ("24111-7", "Negativ", None, None, "NEG"),
    ]


def test_each_mistake_is_shown_by_its_field_and_nothing_is_stored(
    staff, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    path = f"/staff/orders/{order.id}/results"
    token = staff.token(path)
    form = {
        "value-NPU27300": "fyrtioåtta",
        "unit-NPU27300": "%",
        "range-NPU27300": "42–27",
        "value-NPU02192": "5,4",
        "unit-NPU02192": "",
        "range-NPU02192": "4,0–6,0",
    }
    response = staff.post(path, form, token=token)

    assert response.status_code == 400
    page = response.text
    assert "Skriv ett tal, till exempel 5,4." in page
    assert "Analysen anges i mmol/mol; räkna om värdet till den enheten." in page
    assert "lägsta värdet först" in page
    assert "Ange enheten." in page
    for field in ("value-NPU27300", "unit-NPU27300", "range-NPU27300", "unit-NPU02192"):
        assert f'id="{field}-error"' in page
        assert f'href="#{field}"' in page  # the summary links to the field
    assert 'value="fyrtioåtta"' in page  # what was typed is kept
    assert results_of(db_session, order) == []
    assert audit_count(db_session, action="update:results") == 0


def test_an_empty_form_asks_for_at_least_one_result(staff, resident, catalogue, db_session, now):
    order = make_order(db_session, resident, catalogue["THYROID"], now=now, status="sampled")
    path = f"/staff/orders/{order.id}/results"
    token = staff.token(path)
    response = staff.post(path, {"value-NPU03577": " "}, token=token)
    assert response.status_code == 400
    assert "Skriv in minst ett provsvar." in response.text


def test_results_cannot_be_entered_before_the_sample_is_taken(
    staff, resident, catalogue, db_session, now
):
    order = make_order(db_session, resident, catalogue["THYROID"], now=now)
    path = f"/staff/orders/{order.id}/results"
    token = staff.token(path)
    response = staff.post(path, {"value-NPU03577": "2,1", "unit-NPU03577": "mIE/L"}, token=token)
    assert response.status_code == 409
    assert "Beställningen är inte provtagen" in response.text
    assert results_of(db_session, order) == []
