"""Only staff with a verified certificate reach /staff; every POST needs its CSRF token."""

import pytest

from ep.models import Offer
from tests.web.staff.support import SignedIn, audit_count, csrf_token_for

STAFF_PAGES = ("/staff/", "/staff/sampling", "/staff/worklist", "/staff/unmatched")


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_without_a_certificate_every_staff_page_is_forbidden(cert_client, path):
    response = cert_client.get(path)
    assert response.status_code == 403
    assert "<h1>Du har inte behörighet till sidan</h1>" in response.text  # the site's page
    assert '<html lang="sv">' in response.text


def test_a_refusal_is_explained_in_the_chosen_language(cert_client, cert_header, outsider):
    with cert_client.session_transaction() as session:
        session["lang"] = "en"
    for headers in ({}, cert_header(outsider)):
        response = cert_client.get("/staff/", headers=headers)
        assert response.status_code == 403
        assert "<h1>You are not allowed to see this page</h1>" in response.text
        assert '<html lang="en">' in response.text
        assert "SE2321000016" not in response.text  # nothing said of who or why


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_a_user_without_the_staff_role_is_forbidden(
    cert_client, cert_header, admin_user, outsider, path
):
    for user in (admin_user, outsider):
        assert cert_client.get(path, headers=cert_header(user)).status_code == 403


def test_a_user_without_the_role_cannot_look_up_a_patient_and_nothing_is_logged(
    cert_app, cert_client, cert_header, outsider, resident, db_session
):
    token = csrf_token_for(cert_client, cert_app)
    response = cert_client.post(
        "/staff/patients",
        data={"personnummer": resident.personnummer, "csrf_token": token},
        headers=cert_header(outsider),
    )
    assert response.status_code == 403
    assert audit_count(db_session, patient_personnummer=resident.personnummer) == 0


def test_staff_see_their_start_page_with_their_name(staff):
    response = staff.get("/staff/")
    assert response.status_code == 200
    assert "Hitta patient" in response.text
    assert "Sara Sjöberg, Vårdcentralen Tolvåsen" in response.text


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    staff, resident, catalogue, db_session
):
    response = staff.client.post(
        f"/staff/patients/{resident.id}/offers",
        data={"package": catalogue["THYROID"].id, "valid_until": "2099-12-31"},
        headers=staff.headers,
    )
    assert response.status_code == 400
    assert "CSRF" in response.text
    db_session.commit()  # see what the app committed
    assert db_session.query(Offer).filter_by(package_id=catalogue["THYROID"].id).count() == 0


def test_a_csrf_token_from_another_session_is_refused(
    cert_app, cert_header, staff_user, resident, catalogue
):
    first = SignedIn(cert_app.test_client(), cert_header(staff_user))
    token = first.token("/staff/")
    second = SignedIn(cert_app.test_client(), cert_header(staff_user))
    response = second.post("/staff/patients", {"personnummer": resident.personnummer}, token=token)
    assert response.status_code == 400
