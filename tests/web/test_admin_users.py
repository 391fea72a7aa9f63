"""EP.Admin users: list, add, change roles, deactivate — audited, CSRF-protected, admins only."""

import re

import pytest
from sqlalchemy import select

from ep.domain.audit import description
from ep.models import AuditEvent, Installation, User
from ep.timeutil import utcnow

HTTPS = "https://localhost"  # the session cookie is Secure


@pytest.fixture
def admin(cert_client, cert_header, admin_user):
    """The test client acting as the admin (certificate header from a trusted proxy)."""
    headers = cert_header(admin_user)

    class Admin:
        def get(self, path, **kw):
            return cert_client.get(path, headers=headers, base_url=HTTPS, **kw)

        def post(self, path, data, headers=headers, **kw):
            return cert_client.post(path, data=data, headers=headers, base_url=HTTPS, **kw)

        def post_form(self, page, action, data):
            """Submit a form as a browser would: with the CSRF token from ``page``."""
            form = self.get(page)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
            # a browser sends the page as Referer (Referrer-Policy: same-origin); Flask-WTF
            # refuses an HTTPS form post without it
            assert form.headers["Referrer-Policy"] == "same-origin"
            return self.post(
                action,
                {**data, "csrf_token": token},
                follow_redirects=True,
                headers={**headers, "Referer": HTTPS + page},
            )

    return Admin()


def audit_actions(db_session):
    db_session.rollback()
    return [
        (e.action, e.object_id, description(e.details), e.actor_id)
        for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]


def test_the_admin_sees_every_user_with_roles_and_status(admin, operator_user, staff_user):
    page = admin.get("/EP.Admin/")
    assert page.status_code == 200
    assert "SE2321000016-O001" in page.text and "Operatör" in page.text
    assert "SE2321000016-S001" in page.text and "Vårdpersonal" in page.text


def test_the_user_list_comes_a_page_at_a_time_and_finds_users_by_hsa_id_or_name(
    admin, admin_user, db_session, now
):
    for number in range(60):
        db_session.add(User(hsa_id=f"SE2321000016-P{number:03d}", name=f"Person {number:03d}"))
    db_session.add(User(hsa_id="SE2321000016-X001", name="Åsa 100%_Öberg"))
    db_session.commit()

    first = admin.get("/EP.Admin/").text
    assert first.count('href="/EP.Admin/users/SE2321000016-') == 50
    assert "SE2321000016-P048" in first and "SE2321000016-P049" not in first
    following = re.search(r'href="([^"]*after=[^"]+)"', first)[1].replace("&amp;", "&")
    second = admin.get(following).text
    assert "SE2321000016-P049" in second and "SE2321000016-X001" in second
    assert "/users/SE2321000016-P048" not in second and "Nästa sida" not in second

    by_name = admin.get("/EP.Admin/?q=%C3%85sa 100%25_%C3%96").text
    assert "SE2321000016-X001" in by_name
    assert by_name.count('href="/EP.Admin/users/SE2321000016-') == 1
    by_hsa_id = admin.get("/EP.Admin/?q=p05").text
    assert by_hsa_id.count('href="/EP.Admin/users/SE2321000016-') == 10
    assert "Ingen användare matchar sökningen." in admin.get("/EP.Admin/?q=nobody").text


def test_an_operator_is_added_as_the_manual_says_and_the_change_is_audited(
    admin, admin_user, db_session
):
    page = admin.post_form(
        "/EP.Admin/users/new",
        "/EP.Admin/users/new",
        {"hsa_id": "se2321000016-nag1", "name": "Nagios Övervakning", "roles": ["operator"]},
    )
    assert page.status_code == 200
    assert "Användaren SE2321000016-NAG1 är tillagd." in page.text
    db_session.rollback()
    user = db_session.scalar(select(User).where(User.hsa_id == "SE2321000016-NAG1"))
    assert user.roles == {"operator"} and user.active
    roles = {"text": "roles", "roles": ["operator"]}
    assert ("user:add", "SE2321000016-NAG1", roles, admin_user.hsa_id) in audit_actions(db_session)


def test_an_invalid_hsa_id_is_explained_and_nothing_is_added(admin, db_session):
    page = admin.post_form(
        "/EP.Admin/users/new", "/EP.Admin/users/new", {"hsa_id": "olle", "name": "Olle"}
    )
    assert page.status_code == 400
    assert "Ange ett HSA-id" in page.text
    assert 'aria-invalid="true"' in page.text
    db_session.rollback()
    assert db_session.scalar(select(User).where(User.name == "Olle")) is None


def test_a_taken_hsa_id_is_refused(admin, operator_user):
    page = admin.post_form(
        "/EP.Admin/users/new",
        "/EP.Admin/users/new",
        {"hsa_id": operator_user.hsa_id, "name": "Someone"},
    )
    assert page.status_code == 400
    assert "Det finns redan en användare med HSA-id SE2321000016-O001" in page.text


def test_roles_are_changed_and_each_change_audited(admin, staff_user, admin_user, db_session):
    path = f"/EP.Admin/users/{staff_user.hsa_id}"
    page = admin.post_form(path, f"{path}/roles", {"roles": ["operator"]})
    assert "Rollerna för SE2321000016-S001 är ändrade." in page.text
    db_session.rollback()
    assert db_session.get(User, staff_user.id).roles == {"operator"}
    actions = audit_actions(db_session)
    granted, revoked = {"text": "role", "role": "operator"}, {"text": "role", "role": "staff"}
    assert ("user:grant", staff_user.hsa_id, granted, admin_user.hsa_id) in actions
    assert ("user:revoke", staff_user.hsa_id, revoked, admin_user.hsa_id) in actions


def test_a_deactivated_user_is_refused_from_then_on(
    admin, operator_user, cert_client, cert_header, db_session, admin_user
):
    status = "/OmniqOperator/Operator/HealthCheckStatus"
    # an installed EP, so the operator's answer is OK (without one it is ERROR)
    db_session.add(Installation(created_at=utcnow()))
    db_session.commit()
    assert cert_client.get(status, headers=cert_header(operator_user)).status_code == 200
    path = f"/EP.Admin/users/{operator_user.hsa_id}"
    page = admin.post_form(path, f"{path}/active", {"active": "0"})
    assert "SE2321000016-O001 är inaktiverad." in page.text
    assert cert_client.get(status, headers=cert_header(operator_user)).status_code == 403
    assert ("user:deactivate", operator_user.hsa_id, None, admin_user.hsa_id) in audit_actions(
        db_session
    )
    page = admin.post_form(path, f"{path}/active", {"active": "1"})
    assert "SE2321000016-O001 är aktiverad." in page.text
    assert cert_client.get(status, headers=cert_header(operator_user)).status_code == 200


def test_an_admin_cannot_lock_themself_out(admin, admin_user, db_session):
    path = f"/EP.Admin/users/{admin_user.hsa_id}"
    page = admin.post_form(path, f"{path}/active", {"active": "0"})
    assert "Du kan inte inaktivera dig själv." in page.text
    page = admin.post_form(path, f"{path}/roles", {"roles": ["staff"]})
    assert "Du kan inte ta bort din egen administratörsroll." in page.text
    db_session.rollback()
    assert db_session.get(User, admin_user.id).has_role("admin")


def test_a_form_without_the_csrf_token_is_refused(admin, staff_user, db_session):
    response = admin.post(f"/EP.Admin/users/{staff_user.hsa_id}/active", {"active": "0"})
    assert response.status_code == 400
    db_session.rollback()
    assert db_session.get(User, staff_user.id).active


def test_only_admins_get_in(cert_client, cert_header, operator_user, staff_user):
    for user in (operator_user, staff_user):
        assert cert_client.get("/EP.Admin/", headers=cert_header(user)).status_code == 403
    assert cert_client.get("/EP.Admin/").status_code == 403


def test_the_users_pages_are_in_english_on_request(admin, cert_client):
    with cert_client.session_transaction(base_url=HTTPS) as session:
        session["lang"] = "en"
    page = admin.get("/EP.Admin/users/new")
    assert "Add user" in page.text
    assert "From the SITHS card" in page.text
