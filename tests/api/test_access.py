"""Who may call /api/v1: a function certificate of an active user with role integration."""

from ep.domain.audit import Actor
from ep.domain.users import set_active

PATH = "/api/v1/orders?personnummer=191212121212"


def test_without_a_certificate_the_answer_is_401_problem_json(api_app, catalogue):
    response = api_app.test_client().get(PATH)

    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    assert "function certificate" in body["detail"]


def test_a_certificate_header_from_an_untrusted_address_counts_as_none(
    api_app, pki, integration_user, catalogue
):
    client = api_app.test_client()
    response = client.get(
        PATH, headers=pki.header(integration_user), environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert response.status_code == 401


def test_a_staff_certificate_gets_403_and_no_reason(api_app, pki, staff_user, catalogue):
    response = api_app.test_client().get(PATH, headers=pki.header(staff_user))

    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert "detail" not in response.get_json()  # the reason is logged, never shown


def test_the_integration_system_gets_in(api, catalogue):
    assert api.get(PATH).status_code == 200


def test_a_deactivated_system_is_refused_from_the_next_call(
    api, db_session, integration_user, catalogue, now
):
    assert api.get(PATH).status_code == 200
    set_active(db_session, integration_user, False, actor=Actor.system("test"), now=now)
    db_session.commit()
    assert api.get(PATH).status_code == 403


def test_a_revoked_function_certificate_is_refused(
    api_app, pki, integration_user, catalogue, caplog
):
    cert = pki.issue_client_cert(integration_user.hsa_id, integration_user.name)
    client = api_app.test_client()
    headers = pki.header(integration_user, cert)
    assert client.get(PATH, headers=headers).status_code == 200
    pki.revoke(cert)
    assert client.get(PATH, headers=headers).status_code == 403
    assert "revoked" in caplog.text


def test_the_openapi_document_is_3_1_and_describes_every_endpoint(api_app):
    spec = api_app.test_client().get("/api/v1/openapi.json").get_json()

    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) == {
        "/api/v1/orders",
        "/api/v1/orders/{order_number}",
        "/api/v1/orders/{order_number}/sampled",
        "/api/v1/lab-reports",
        "/api/v1/lab-reports/{message_id}",
    }
    post = spec["paths"]["/api/v1/lab-reports"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/hl7-v2", "application/fhir+json"}
    assert spec["components"]["securitySchemes"]["functionCertificate"]["type"] == "mutualTLS"


def test_the_docs_page_loads_swagger_ui_from_ep_itself(api_app):
    client = api_app.test_client()
    page = client.get("/api/v1/docs/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert "https://" not in html  # no CDN
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    for script in ("/api/v1/docs/swagger-ui/swagger-ui-bundle.js", "/api/v1/docs/ep/api-docs.js"):
        assert script in html
        served = client.get(script)
        assert served.status_code == 200
        served.close()
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]


def test_an_unknown_path_under_the_api_is_a_problem_and_ep_pages_keep_their_404(api_app):
    client = api_app.test_client()
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert client.get("/nothing-here").content_type.startswith("text/html")
