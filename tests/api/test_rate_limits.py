"""/api/v1 is rate limited per function certificate, after the certificate is checked."""

import logging

from sqlalchemy import func, select

from ep.models import LabMessage
from tests.api.conftest import HL7, Caller
from tests.api.test_lab_reports import HL7_SAMPLE, _post
from tests.conftest import _user

PATH = "/api/v1/orders?personnummer=191212121212"


def calls(api, count) -> list[int]:
    return [api.get(PATH).status_code for _ in range(count)]


def test_past_the_limit_a_system_gets_429_problem_json_with_retry_after(
    make_app, pki, integration_user, catalogue, caplog
):
    app = make_app(**pki.settings(ApiRateLimit="3/hour"))
    api = Caller(app.test_client(), pki.header(integration_user))
    caplog.set_level(logging.WARNING, logger="ep.ratelimit")
    assert calls(api, 3) == [200, 200, 200]

    response = api.get(PATH)
    assert response.status_code == 429
    assert response.content_type == "application/problem+json"
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    body = response.get_json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests"
    assert "3 per 1 hour" in body["detail"]
    assert body["instance"] == "/api/v1/orders"
    # the operator's log line names the limit, the call and the certificate
    assert "rate limit 3 per 1 hour exceeded: GET /api/v1/orders" in caplog.text
    assert f"certificate:{integration_user.hsa_id}:" in caplog.text
    # one count over every endpoint
    assert api.get("/api/v1/orders/EP-0000-0000").status_code == 429


def test_another_certificate_is_not_affected(
    make_app, pki, db_session, integration_user, catalogue, now
):
    app = make_app(**pki.settings(ApiRateLimit="2/hour"))
    client = app.test_client()
    api = Caller(client, pki.header(integration_user))
    assert calls(api, 3) == [200, 200, 429]

    lab = _user(db_session, "SE2321000016-I002", "Labbsystem Syd", ["integration"], now)
    assert calls(Caller(client, pki.header(lab)), 2) == [200, 200]
    # the same system's renewed certificate is another certificate: a count of its own
    renewed = pki.issue_client_cert(integration_user.hsa_id, integration_user.name)
    assert calls(Caller(client, pki.header(integration_user, renewed)), 1) == [200]
    assert calls(api, 1) == [429]


def test_refused_callers_never_spend_a_systems_quota(
    make_app, pki, integration_user, staff_user, catalogue
):
    app = make_app(**pki.settings(ApiRateLimit="2/hour"))
    client = app.test_client()
    assert [client.get(PATH).status_code for _ in range(3)] == [401] * 3
    staff = Caller(client, pki.header(staff_user))
    assert calls(staff, 3) == [403] * 3
    assert calls(Caller(client, pki.header(integration_user)), 3) == [200, 200, 429]


def test_lab_reports_have_a_lower_limit_of_their_own(
    make_app, pki, integration_user, sampled_orders, db_session
):
    app = make_app(**pki.settings(ApiLabReportRateLimit="1/hour"))
    api = Caller(app.test_client(), pki.header(integration_user))
    assert _post(api, HL7_SAMPLE).status_code == 201

    refused = _post(api, HL7_SAMPLE, **{"Idempotency-Key": "second"})
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"  # no HL7 ACK: nothing read
    assert int(refused.headers["Retry-After"]) > 0
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(LabMessage)) == 1
    # the sampling side of the API is still open to the same certificate
    assert calls(api, 1) == [200]
    assert refused.request.headers["Content-Type"] == HL7


def test_the_count_is_shared_by_every_worker(make_app, pki, integration_user, catalogue):
    settings = pki.settings(ApiRateLimit="2/hour")
    headers = pki.header(integration_user)
    worker = Caller(make_app(**settings).test_client(), headers)
    other_worker = Caller(make_app(**settings).test_client(), headers)
    assert calls(worker, 2) == [200, 200]
    assert calls(other_worker, 1) == [429]


def test_the_openapi_document_tells_of_429_and_retry_after(api_app):
    spec = api_app.test_client().get("/api/v1/openapi.json").get_json()

    operations = [
        operation
        for path in spec["paths"].values()
        for method, operation in path.items()
        if method in ("get", "post")
    ]
    assert len(operations) == 5
    for operation in operations:
        answer = operation["responses"]["429"]
        assert "application/problem+json" in answer["content"]
        assert "Retry-After" in answer["headers"]
