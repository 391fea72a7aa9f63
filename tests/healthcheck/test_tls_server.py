"""HealthCheckStatus and the detail page through a real gunicorn with real certificates."""

import json
import ssl
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.audit import Actor
from ep.domain.installation import ensure_installation
from ep.domain.users import set_active
from ep.identity.certificates import issue_client_certificate, make_ca, write_issued
from ep.models import BatchHeartbeat, Installation
from tests.healthcheck.conftest import STATUS_PATH, add_test_user, record_run
from tests.pki import ClientCert

MANUAL_MESSAGE = (
    "Configured to warn after 1500 minutes inactivity. Time is NOT within warning limits "
    "defined in ep.ini. Check task scheduler to see if batch is running."
)


def test_the_operator_gets_ok(tls_server, installed, operator_cert):
    reply = tls_server.get(cert=operator_cert)
    assert (reply.status, reply.body) == (200, "OK")
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["cache-control"] == "no-store"


def test_a_stale_batch_gives_error_and_the_detail_page_shows_the_manuals_message(
    tls_server, installed, operator_cert, db_session, now
):
    heartbeat = db_session.get(BatchHeartbeat, "NOTIFYREMINDERS")
    heartbeat.last_activity_at = now - timedelta(minutes=1501)
    db_session.commit()

    reply = tls_server.get(cert=operator_cert)
    assert (reply.status, reply.body) == (503, "ERROR")
    page = tls_server.get("/OmniqOperator/", cert=operator_cert)
    assert page.status == 200
    assert MANUAL_MESSAGE in page.body
    assert "NOTIFYREMINDERS:inactivity" in page.body
    assert "ep batch notify-reminders" in page.body


def test_a_failed_last_run_gives_error_with_the_error_and_the_rerun_command(
    tls_server, installed, operator_cert, db_session, now
):
    record_run(
        db_session,
        "NOTIFYREMINDERS",
        started=now - timedelta(minutes=5),
        status="failed",
        error=("DeadlockDetected", "deadlock detected while claiming notification 17"),
    )
    db_session.commit()

    assert tls_server.get(cert=operator_cert).body == "ERROR"
    page = tls_server.get("/OmniqOperator/", cert=operator_cert)
    # in the page's language (Swedish by default); the error and the command as written
    assert "Senaste körningen misslyckades" in page.body
    error = "<code>DeadlockDetected: deadlock detected while claiming notification 17</code>"
    assert error in page.body
    assert "Kör om den: <code>ep batch notify-reminders</code>" in page.body
    # the recent runs with their outcome and counts
    assert "<code>batchhost</code> (4242)" in page.body and "misslyckades" in page.body


def test_a_dead_run_not_yet_taken_over_shows_as_stopped_in_the_runs_table_not_running(
    tls_server, installed, operator_cert, db_session, now
):
    started = now - timedelta(minutes=20)
    run = record_run(db_session, "EXPIREORDERS", started=started, status="succeeded")
    # killed mid-run on another host: nobody wrote its end
    run.status, run.finished_at, run.pid = "running", None, 4343
    heartbeat = db_session.get(BatchHeartbeat, "EXPIREORDERS")
    heartbeat.running_run_id, heartbeat.running_host, heartbeat.running_pid = run.id, "b2", 4343
    heartbeat.last_activity_at = now - timedelta(minutes=19)  # past BatchLeaseSeconds (300 s)
    db_session.commit()

    assert tls_server.get(cert=operator_cert).body == "ERROR"
    page = tls_server.get("/OmniqOperator/", cert=operator_cert).body
    runs = page[page.index("<h3>EXPIREORDERS</h3>") :].split("</table>")[0]
    (row,) = [row for row in runs.split("</tr>") if "(4343)" in row]
    assert "stannade utan att bli klar" in row and "pågår" not in row
    assert "60,0 s" in row  # from its start to its last heartbeat
    assert "inget livstecken på längre än <code>BatchLeaseSeconds</code> (300 s)" in row


def test_the_same_report_is_health_json_by_accept_header(tls_server, installed, operator_cert):
    reply = tls_server.get(
        "/OmniqOperator/", cert=operator_cert, headers={"Accept": "application/health+json"}
    )
    assert reply.headers["content-type"].startswith("application/health+json")
    body = json.loads(reply.body)
    assert body["status"] == "pass"
    assert body["checks"]["NOTIFYREMINDERS:inactivity"][0]["status"] == "pass"
    assert "database:responseTime" in body["checks"]


def test_metrics_are_prometheus_text(tls_server, installed, operator_cert):
    reply = tls_server.get("/OmniqOperator/metrics", cert=operator_cert)
    assert reply.status == 200
    assert "ep_health_ok 1" in reply.body
    assert 'ep_check_status{component="PURGE",measurement="inactivity"} 0' in reply.body
    assert 'ep_batch_last_success_timestamp_seconds{batch="PURGE"}' in reply.body


def test_a_fresh_installation_is_ok_until_its_first_batch_is_overdue(
    tls_server, operator_cert, db_session, now
):
    ensure_installation(db_session, now=now - timedelta(minutes=29), demo=False)
    db_session.commit()
    assert tls_server.get(cert=operator_cert).body == "OK"

    installation = db_session.scalars(select(Installation)).one()
    installation.created_at = now - timedelta(minutes=31)  # IMPORTRESULTS: 30 minutes
    db_session.commit()
    assert tls_server.get(cert=operator_cert).body == "ERROR"
    page = tls_server.get("/OmniqOperator/", cert=operator_cert)
    assert "Configured to warn after 30 minutes inactivity" in page.body  # the manual's words
    assert "Senaste aktivitet: aldrig" in page.body


# -- who gets in: everything but a verified operator is refused --


def test_no_certificate_gets_403_with_a_generic_body(tls_server, installed):
    reply = tls_server.get()
    assert (reply.status, reply.body) == (403, "403 Forbidden\n")


def test_a_certificate_from_another_ca_fails_the_handshake(
    tls_server, installed, operator_user, tmp_path, now
):
    """gunicorn's own TLS: OpenSSL refuses it before EP sees a request (fail closed).

    Behind the nginx front the same certificate gets EP's 403 and a logged reason
    (tests/deploy/test_nginx_front.py)."""
    other = make_ca("EP Test CA", now=now)  # even the same name does not help
    issued = issue_client_certificate(other, operator_user.hsa_id, operator_user.name, now=now)
    cert = ClientCert(issued, tmp_path / "other.pem", tmp_path / "other.key")
    write_issued(issued, cert.cert_path, cert.key_path)

    with pytest.raises(ssl.SSLError, match="(?i)unknown.ca"):  # docs/runbook.md shows how
        tls_server.get(cert=cert)


def test_an_expired_certificate_fails_the_handshake(tls_server, installed, pki, operator_user):
    with pytest.raises(ssl.SSLError, match="(?i)certificate.expired"):
        tls_server.get(cert=pki.issue_expired_client_cert(operator_user.hsa_id))


def test_a_revoked_certificate_gets_403(tls_server, installed, pki, operator_user):
    cert = pki.issue_client_cert(operator_user.hsa_id)
    assert tls_server.get(cert=cert).status == 200
    pki.revoke(cert)
    assert tls_server.get(cert=cert).status == 403
    assert "revoked" in tls_server.log()


def test_an_unknown_hsa_id_gets_403(tls_server, installed, pki):
    reply = tls_server.get(cert=pki.issue_client_cert("SE2321000016-NOBODY"))
    assert reply.status == 403
    assert "SE2321000016-NOBODY is not a user" in tls_server.log()


def test_a_user_without_the_operator_role_gets_403(
    tls_server, installed, pki, staff_user, admin_user
):
    for user in (staff_user, admin_user):
        assert tls_server.get(cert=pki.issue_client_cert(user.hsa_id)).status == 403


def test_an_inactive_operator_gets_403(
    tls_server, installed, operator_cert, operator_user, db_session, now
):
    assert tls_server.get(cert=operator_cert).status == 200
    set_active(db_session, operator_user, False, actor=Actor.system("test"), now=now)
    db_session.commit()
    assert tls_server.get(cert=operator_cert).status == 403
    assert tls_server.get("/OmniqOperator/", cert=operator_cert).status == 403


def test_the_detail_page_and_metrics_need_the_operator_role_too(
    tls_server, installed, pki, now, db_session
):
    add_test_user(db_session, "SE2321000016-S777", "Sten Staff", ["staff"], now)
    cert = pki.issue_client_cert("SE2321000016-S777")
    for path in ("/OmniqOperator/", "/OmniqOperator/metrics"):
        assert tls_server.get(path, cert=cert).status == 403


def test_the_error_status_code_is_configurable(
    make_app, pki, installed, operator_user, db_session, now
):
    db_session.get(BatchHeartbeat, "PURGE").last_activity_at = now - timedelta(days=30)
    db_session.commit()
    client = make_app(**pki.settings(HealthCheckErrorStatusCode="200")).test_client()
    reply = client.get(STATUS_PATH, headers=pki.header(operator_user))
    assert (reply.status_code, reply.text) == (200, "ERROR")
