"""require_role: a verified certificate of an active user with the role, or 403."""

import logging
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, g

from ep.domain.audit import Actor
from ep.domain.users import set_active
from ep.identity.certificates import issue_client_certificate, make_ca, make_crl
from ep.timeutil import utcnow
from ep.web.access import require_role
from tests.pki import HEADER

# the shared PKI fixtures (a conftest.py would import them instead)


def _guarded_client(app, role="operator"):
    bp = Blueprint(f"guarded_{role}", __name__)
    bp.before_request(lambda: require_role(role))

    @bp.get(f"/guarded/{role}")
    def view():
        return f"{g.user.hsa_id} {g.actor.client_addr}"

    app.register_blueprint(bp)
    return app.test_client()


@pytest.fixture
def guarded(cert_app):
    return _guarded_client(cert_app)


def get(client, headers=None, remote="127.0.0.1"):
    return client.get(
        "/guarded/operator", headers=headers or {}, environ_base={"REMOTE_ADDR": remote}
    )


def test_an_operator_with_a_trusted_certificate_gets_in(guarded, cert_header, operator_user):
    response = get(guarded, cert_header(operator_user))
    assert response.status_code == 200
    assert response.text == "SE2321000016-O001 127.0.0.1"


def test_every_refusal_is_a_generic_403_with_the_reason_only_in_the_log(
    guarded, pki, operator_user, outsider, caplog
):
    caplog.set_level(logging.WARNING, logger="ep.access")
    cases = {
        "no certificate": {},
        "another CA": _header(make_ca("Other CA", now=utcnow()), operator_user.hsa_id),
        "expired": pki.header(None, pki.issue_expired_client_cert(operator_user.hsa_id)),
        "unknown HSA-ID": pki.header("SE2321000016-NOBODY"),
        "missing role": pki.header(outsider),
        "garbage": {HEADER: "not a certificate"},
    }
    answers = set()
    for case, headers in cases.items():
        caplog.clear()
        response = get(guarded, headers)
        assert response.status_code == 403, case
        assert "access refused" in caplog.text, case
        assert "SE2321000016" not in response.text
        # the page says nothing of why: the same page, but for its form's CSRF token
        answers.add(re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", response.text))
    assert len(answers) == 1


def test_a_revoked_certificate_is_refused(guarded, pki, operator_user):
    cert = pki.issue_client_cert(operator_user.hsa_id)
    assert get(guarded, pki.header(None, cert)).status_code == 200
    pki.revoke(cert)
    assert get(guarded, pki.header(None, cert)).status_code == 403


def test_an_inactive_user_is_refused(guarded, cert_header, operator_user, db_session, now):
    assert get(guarded, cert_header(operator_user)).status_code == 200
    set_active(db_session, operator_user, False, actor=Actor.system("test"), now=now)
    db_session.commit()
    assert get(guarded, cert_header(operator_user)).status_code == 403


def test_the_header_is_ignored_from_an_address_not_in_trusted_proxies(
    guarded, cert_header, operator_user, caplog
):
    caplog.set_level(logging.WARNING, logger="ep.access")
    response = get(guarded, cert_header(operator_user), remote="10.1.2.3")
    assert response.status_code == 403
    assert "ignored X-SSL-Client-Cert from 10.1.2.3" in caplog.text


def test_a_trusted_proxy_network_is_honoured(make_app, app, pki, cert_header, operator_user):
    client = _guarded_client(make_app(**pki.settings(TrustedProxies="10.0.0.0/8, ::1")))
    assert get(client, cert_header(operator_user), remote="10.1.2.3").status_code == 200
    assert get(client, cert_header(operator_user), remote="127.0.0.1").status_code == 403


def test_without_a_trusted_ca_file_nobody_gets_in(make_app, app, pki, cert_header, operator_user):
    settings = pki.settings()
    settings["TrustedCaFile"] = ""
    client = _guarded_client(make_app(**settings))
    assert get(client, cert_header(operator_user)).status_code == 403


def test_in_tls_mode_a_header_is_never_read(make_app, app, pki, cert_header, operator_user):
    client = _guarded_client(make_app(**pki.settings(ClientCertificateSource="tls")))
    assert get(client, cert_header(operator_user)).status_code == 403


def test_the_role_is_checked_for_the_blueprint_that_asks(cert_app, cert_header, operator_user):
    client = _guarded_client(cert_app, role="admin")
    response = client.get("/guarded/admin", headers=cert_header(operator_user))
    assert response.status_code == 403


def _header(ca, hsa_id):
    issued = issue_client_certificate(ca, hsa_id, "Someone", now=utcnow())
    return {HEADER: quote(issued.cert_pem.decode(), safe="")}


def test_a_crl_past_its_next_update_refuses_even_a_certificate_let_in_before(
    make_app, app, pki, operator_user, tmp_path, caplog
):
    now = utcnow()
    crl_path = tmp_path / "short-crl.pem"
    crl_path.write_bytes(make_crl(pki.ca, [], now=now, days=1).public_bytes(Encoding.PEM))
    client = _guarded_client(make_app(**pki.settings(CrlFile=str(crl_path))))
    headers = pki.header(operator_user)
    caplog.set_level(logging.WARNING, logger="ep.access")
    with time_machine.travel(now, tick=False) as clock:
        assert get(client, headers).status_code == 200
        clock.shift(timedelta(days=1, minutes=1))
        assert get(client, headers).status_code == 403
    assert "the CRL of" in caplog.text and "expired" in caplog.text


# -- the client's address: from X-Forwarded-For, believed only from TrustedProxies --


def test_the_front_names_the_client_and_the_actor_carries_its_address(
    guarded, cert_header, operator_user
):
    headers = {**cert_header(operator_user), "X-Forwarded-For": "203.0.113.9"}
    response = get(guarded, headers)
    assert response.text == "SE2321000016-O001 203.0.113.9"


def test_a_forwarded_address_from_anyone_else_is_ignored_and_proves_nothing(
    guarded, cert_header, operator_user, caplog
):
    """A client naming nginx's address in X-Forwarded-For does not become a trusted proxy."""
    caplog.set_level(logging.WARNING, logger="ep.access")
    headers = {**cert_header(operator_user), "X-Forwarded-For": "127.0.0.1"}
    response = get(guarded, headers, remote="198.51.100.4")
    assert response.status_code == 403
    assert "from 198.51.100.4" in caplog.text
    assert "request not from a trusted proxy (198.51.100.4)" in caplog.text


def test_a_refusal_on_the_operator_pages_stays_plain_for_the_monitors(cert_client):
    response = cert_client.get("/OmniqOperator/Operator/HealthCheckStatus")
    assert (response.status_code, response.text) == (403, "403 Forbidden\n")
    assert response.mimetype == "text/plain"
