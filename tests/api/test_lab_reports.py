"""Labs: POST /api/v1/lab-reports takes the lab inbox's road, and GET says what became of it."""

import json

import pytest
from sqlalchemy import func, select

from ep.models import LabMessage, Order
from tests.api.conftest import FHIR, HL7, audit_events
from tests.conftest import _user
from tests.lab_import.conftest import SAMPLES
from tests.support import run_ep
from tests.web.citizen.conftest import Browser

HL7_SAMPLE = "oru_r01_two_groups_utf8.hl7"
FHIR_SAMPLE = "fhir_bundle_diabetes.json"


def _post(api, sample=None, *, body=None, content_type=HL7, **headers):
    data = body if body is not None else _sample(sample)
    return api.post(
        "/api/v1/lab-reports", data=data, headers={"Content-Type": content_type, **headers}
    )


def _sample(name: str) -> bytes:
    data = (SAMPLES / name).read_bytes()
    # the FHIR sample's glucose is preliminary: final, so the order is complete and released
    return data.replace(b'"status": "preliminary"', b'"status": "final"')


def _messages(session):
    session.rollback()
    return list(session.scalars(select(LabMessage).order_by(LabMessage.id)))


@pytest.mark.parametrize(
    ("sample", "content_type"), [(HL7_SAMPLE, HL7), (FHIR_SAMPLE, FHIR)], ids=["hl7", "fhir"]
)
def test_a_report_becomes_a_result_the_resident_reads(
    api, make_app, sampled_orders, db_session, config_path, integration_user, sample, content_type
):
    tolvan_order, _ = sampled_orders

    response = _post(api, sample, content_type=content_type)

    assert response.status_code == 201
    if content_type == HL7:
        assert response.content_type.startswith("application/hl7-v2")
        assert "MSA|AA|KK20261126-000123|imported" in response.get_data(as_text=True)
    else:
        outcome = response.get_json(force=True)
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["severity"] == "information"
    status = api.get(response.headers["Location"]).get_json()
    assert status["status"] == "imported"
    assert status["orderNumber"] == "EP-7K3M-9QX1"
    [message] = _messages(db_session)
    assert message.filename == f"api:{integration_user.hsa_id}"
    [event] = audit_events(db_session, "create:lab-report")
    assert (event.actor_type, event.actor_id) == ("system", integration_user.hsa_id)
    assert event.patient_personnummer == "191212121212"

    released = run_ep("batch", "notify-results", config=config_path)
    assert released.returncode == 0, released.stderr
    db_session.rollback()
    assert db_session.get(Order, tolvan_order.id).status == "released"
    resident = Browser(make_app(CitizenLogin="dev").test_client())
    resident.login("19121212-1212")
    results = resident.page("/results")
    assert "EP-7K3M-9QX1" in results
    assert "48" in results and "mmol/mol" in results


def test_an_sti_positive_is_held_for_staff_as_from_the_inbox(
    api, sampled_orders, db_session, config_path
):
    _, greta_order = sampled_orders

    response = _post(api, "oru_r01_chlamydia_cwe.hl7")
    assert response.status_code == 201
    released = run_ep("batch", "notify-results", config=config_path)
    assert released.returncode == 0, released.stderr

    db_session.rollback()
    order = db_session.get(Order, greta_order.id)
    assert order.held_for_contact is True
    assert order.status != "released"


def test_the_same_control_id_again_is_a_duplicate_not_imported_twice(
    api, sampled_orders, db_session
):
    assert _post(api, HL7_SAMPLE).status_code == 201
    again = _post(api, HL7_SAMPLE)

    assert again.status_code == 201
    assert "MSA|AA|KK20261126-000123|duplicate" in again.get_data(as_text=True)
    assert [m.status for m in _messages(db_session)] == ["imported", "duplicate"]


def test_an_unknown_order_is_kept_for_staff_with_ae(api, catalogue, db_session):
    response = _post(api, HL7_SAMPLE)

    assert response.status_code == 201
    assert "MSA|AE|KK20261126-000123|kept for manual matching" in response.get_data(as_text=True)
    assert [m.status for m in _messages(db_session)] == ["unmatched"]


def test_an_unreadable_message_is_kept_as_rejected_and_answered_ar_or_an_outcome(
    api, catalogue, db_session
):
    hl7 = _post(api, body=b"MSH|^~\\&|LIMS|LAB|EP|REGION|20261126||ORU^R01|X-1|P|2.5.1\rPID|")
    assert hl7.status_code == 422
    assert "MSA|AR|X-1|" in hl7.get_data(as_text=True)

    fhir = _post(api, body=b'{"resourceType": "Patient"}', content_type=FHIR)
    assert fhir.status_code == 422
    assert fhir.get_json(force=True)["issue"][0]["severity"] == "error"

    garbage = _post(api, body=b"\x00\x01 not a message")
    assert garbage.status_code == 422
    assert "MSA|AR|" in garbage.get_data(as_text=True)
    assert [m.status for m in _messages(db_session)] == ["rejected"] * 3
    assert api.get(fhir.headers["Location"]).get_json()["status"] == "rejected"


def test_a_body_that_is_not_what_its_content_type_says_is_400_and_not_kept(
    api, catalogue, db_session
):
    response = _post(api, FHIR_SAMPLE, content_type=HL7)

    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert _messages(db_session) == []


def test_another_content_type_is_415(api, catalogue):
    response = _post(api, HL7_SAMPLE, content_type="text/plain")
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"


def test_a_body_over_the_size_limit_is_413(api, api_app, catalogue, db_session):
    limit = api_app.config["EP"]["LabMaxFileBytes"]  # the inbox's limit, for every road in
    response = _post(api, body=b"MSH|" + b"x" * limit)
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert _messages(db_session) == []


def test_an_idempotency_key_gives_the_same_ack_and_stores_once(api, sampled_orders, db_session):
    key = {"Idempotency-Key": "lab-run-77/msg-1"}
    first = _post(api, HL7_SAMPLE, **key)
    repeat = _post(api, HL7_SAMPLE, **key)

    assert (first.status_code, repeat.status_code) == (201, 201)
    assert repeat.get_data() == first.get_data()
    assert repeat.headers["Location"] == first.headers["Location"]
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert db_session.scalar(select(func.count()).select_from(LabMessage)) == 1


def test_a_report_is_readable_only_by_the_system_that_sent_it(
    api, api_app, pki, sampled_orders, db_session, now
):
    location = _post(api, HL7_SAMPLE).headers["Location"]
    other = _user(db_session, "SE2321000016-I002", "Annat labb", ["integration"], now)

    response = api_app.test_client().get(location, headers=pki.header(other))

    assert response.status_code == 404
    assert api.get(location).status_code == 200
    assert api.get("/api/v1/lab-reports/999999").status_code == 404


def test_reading_a_status_is_logged(api, sampled_orders, db_session, integration_user):
    location = _post(api, HL7_SAMPLE).headers["Location"]
    api.get(location)

    [event] = audit_events(db_session, "read:lab-report")
    assert (event.actor_id, event.patient_personnummer) == (
        integration_user.hsa_id,
        "191212121212",
    )
    assert json.loads(api.get(location).get_data())["detail"] is None


def test_an_id_past_the_columns_range_is_404_not_a_server_error(api, catalogue):
    # Schemathesis found it on PostgreSQL: the integer column refuses the query
    response = api.get("/api/v1/lab-reports/4868907817092")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
