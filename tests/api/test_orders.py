"""Sampling systems: a resident's orders, one order, and the report that it was sampled."""

from datetime import timedelta

from ep.domain.audit import description
from ep.models import Order
from tests.api.conftest import TOLVAN_ORDER, audit_events, make_order


def test_the_residents_orders_waiting_for_sampling_are_listed_and_the_lookup_logged(
    api, db_session, tolvan_order, other_resident, integration_user, now
):
    make_order(db_session, other_resident, "STI-HOME", "EP-4HB2-R8NB", now)

    response = api.get("/api/v1/orders?personnummer=19121212-1212")

    assert response.status_code == 200
    body = response.get_json()
    assert body["personnummer"] == "191212121212"
    [order] = body["orders"]
    assert order["orderNumber"] == TOLVAN_ORDER
    assert order["status"] == "ordered"
    assert order["package"]["code"] == "DIABETES"
    assert {"code": "NPU27300", "name": "B-HbA1c"} in order["analyses"]
    [event] = audit_events(db_session, "read:open-orders")
    assert (event.actor_type, event.actor_id) == ("system", integration_user.hsa_id)
    assert event.actor_name == "Provtagningssystem Syd"
    assert event.patient_personnummer == "191212121212"
    assert event.client_addr == "127.0.0.1"


def test_a_bad_personnummer_is_400_and_a_missing_one_422(api, catalogue):
    bad = api.get("/api/v1/orders?personnummer=19121212-1213")
    assert bad.status_code == 400
    assert bad.content_type == "application/problem+json"
    assert "19121212-1213" in bad.get_json()["detail"]

    missing = api.get("/api/v1/orders")
    assert missing.status_code == 422
    assert "personnummer" in missing.get_json()["errors"]["query"]


def test_one_order_shows_package_analyses_status_and_kit_code(
    api, db_session, resident, catalogue, integration_user, now
):
    make_order(db_session, resident, "STI-HOME", "EP-4HB2-R8NB", now, kit="KIT-0042")

    response = api.get("/api/v1/orders/ep-4hb2-r8nb")  # typed in any accepted form

    assert response.status_code == 200
    order = response.get_json()
    assert (order["orderNumber"], order["kitCode"], order["homeKit"]) == (
        "EP-4HB2-R8NB",
        "KIT-0042",
        True,
    )
    assert order["package"]["code"] == "STI-HOME"
    [event] = audit_events(db_session, "read:order")
    assert (event.actor_id, event.object_id) == (integration_user.hsa_id, "EP-4HB2-R8NB")


def test_an_unknown_order_is_404_and_a_malformed_number_400(api, catalogue):
    assert api.get("/api/v1/orders/EP-7K3M-9QX1").status_code == 404
    assert api.get("/api/v1/orders/not-a-number").status_code == 400


def _sampled(api, when, location="VC-TOLVASEN", **headers):
    return api.post(
        f"/api/v1/orders/{TOLVAN_ORDER}/sampled",
        json={"sampledAt": when.isoformat(), "samplingLocationCode": location},
        headers=headers,
    )


def test_marking_sampled_records_time_and_place_and_logs_the_change(
    api, db_session, tolvan_order, integration_user, now
):
    when = (now - timedelta(minutes=10)).replace(microsecond=0)

    response = _sampled(api, when)

    assert response.status_code == 200
    assert response.get_json()["status"] == "sampled"
    assert response.get_json()["sampledAtLocationCode"] == "VC-TOLVASEN"
    db_session.rollback()
    order = db_session.get(Order, tolvan_order.id)
    assert order.status == "sampled"
    assert order.sampled_at == when
    assert order.sampled_location.code == "VC-TOLVASEN"
    [event] = audit_events(db_session, "update:order")
    assert (event.actor_type, event.actor_id, description(event.details)) == (
        "system",
        integration_user.hsa_id,
        {"text": "sampled"},
    )


def test_the_same_sampling_again_changes_nothing_and_another_is_409(
    api, db_session, tolvan_order, now
):
    when = (now - timedelta(minutes=10)).replace(microsecond=0)
    assert _sampled(api, when).status_code == 200

    again = _sampled(api, when)
    assert again.status_code == 200
    assert again.get_json()["sampledAt"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))
    assert len(audit_events(db_session, "update:order")) == 1

    other = _sampled(api, when - timedelta(hours=1))
    assert other.status_code == 409
    assert other.content_type == "application/problem+json"


def test_an_unknown_location_a_future_time_or_a_naive_time_is_refused(
    api, db_session, tolvan_order, now
):
    assert _sampled(api, now, location="NOWHERE").status_code == 422
    assert _sampled(api, now + timedelta(hours=2)).status_code == 422
    naive = api.post(
        f"/api/v1/orders/{TOLVAN_ORDER}/sampled",
        json={"sampledAt": "2026-11-30T08:00:00", "samplingLocationCode": "VC-TOLVASEN"},
    )
    assert naive.status_code == 422
    assert "sampledAt" in naive.get_json()["errors"]["json"]
    db_session.rollback()
    assert db_session.get(Order, tolvan_order.id).status == "ordered"


def test_an_idempotency_key_replays_the_first_answer(api, db_session, tolvan_order, now):
    when = (now - timedelta(minutes=10)).replace(microsecond=0)
    first = _sampled(api, when, **{"Idempotency-Key": "8c1f0e4e-sampled-1"})
    repeat = _sampled(api, when, **{"Idempotency-Key": "8c1f0e4e-sampled-1"})

    assert (first.status_code, repeat.status_code) == (200, 200)
    assert repeat.get_data() == first.get_data()
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert len(audit_events(db_session, "update:order")) == 1

    reused = _sampled(api, when - timedelta(hours=1), **{"Idempotency-Key": "8c1f0e4e-sampled-1"})
    assert reused.status_code == 422
    assert "another request" in reused.get_json()["detail"]
