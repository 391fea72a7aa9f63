"""Header mode behind a proxy, the database going away, and `ep check`."""

import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ep.healthcheck.checks import PASS, evaluate
from ep.identity.certificates import issue_client_certificate, make_ca
from ep.models import BatchHeartbeat
from ep.web.access import AUTHORIZATION_CACHE_FILE
from tests.healthcheck.conftest import (
    STATUS_PATH,
    TcpProxy,
    add_test_user,
    start_server,
    stop_server,
)
from tests.pki import HEADER, escaped
from tests.support import is_postgres, run_ep


def test_the_header_is_honoured_from_a_trusted_proxy(header_server, installed, pki, operator_user):
    reply = header_server.get(headers=pki.header(operator_user))
    assert (reply.status, reply.body) == (200, "OK")


def test_the_header_is_ignored_from_any_other_address(header_server, installed, pki, operator_user):
    reply = header_server.get(headers=pki.header(operator_user), source="127.0.0.2")
    assert (reply.status, reply.body) == (403, "403 Forbidden\n")
    assert "ignored X-SSL-Client-Cert from 127.0.0.2" in header_server.log()


def test_in_header_mode_ep_itself_refuses_another_ca_and_an_expired_certificate(
    header_server, installed, pki, operator_user, now
):
    other = issue_client_certificate(
        make_ca("EP Test CA", now=now), operator_user.hsa_id, operator_user.name, now=now
    )
    expired = pki.issue_expired_client_cert(operator_user.hsa_id)
    for headers in ({HEADER: escaped(other.cert_pem.decode())}, pki.header(None, expired)):
        reply = header_server.get(headers=headers)
        assert (reply.status, reply.body) == (403, "403 Forbidden\n")
    assert "not valid at validation time" in header_server.log()


needs_a_database_server = pytest.mark.skipif(
    not is_postgres(os.environ.get("EP_TEST_DATABASE_URL", "")),
    reason="needs a database server that can go away (EP_TEST_DATABASE_URL, PostgreSQL)",
)


def end_every_other_database_session(session) -> None:
    """What a database restart does to the connections sitting in the pools."""
    session.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )
    session.commit()


@needs_a_database_server
def test_a_pooled_connection_the_database_dropped_gives_a_cold_operator_ok_not_403(
    make_app, pki, installed, operator_user, db_session
):
    app = make_app(**pki.settings())
    client = app.test_client()
    headers = pki.header(operator_user)
    assert client.get(STATUS_PATH, headers=headers).text == "OK"  # a connection in the pool
    end_every_other_database_session(db_session)
    # cold: no cache to fall back on
    (app.config["EP"].instance_path / AUTHORIZATION_CACHE_FILE).unlink(missing_ok=True)

    reply = client.get(STATUS_PATH, headers=headers)
    assert (reply.status_code, reply.text) == (200, "OK")


@needs_a_database_server
def test_the_database_check_retries_a_pooled_connection_the_database_dropped(
    app, installed, db_session, now
):
    engine = app.extensions["ep_operator_engine"]  # no pool_pre_ping
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        session.rollback()  # the connection goes back to the pool
        end_every_other_database_session(db_session)

        report = evaluate(session, app.config["EP"], now=now, detail=False)
    assert report.ok
    database = next(check for check in report.checks if check.component == "database")
    assert database.status == PASS


@needs_a_database_server
def test_a_locked_heartbeat_table_gives_error_in_seconds_not_a_hang(
    make_app, pki, installed, operator_user, db_session
):
    client = make_app(**pki.settings()).test_client()
    # what a migration holds: the statement timeout must end the health check's wait. The
    # lock is held on a connection of its own (the test client commits the test's session)
    with db_session.get_bind().connect() as migration:
        migration.execute(text("LOCK TABLE batch_heartbeat IN ACCESS EXCLUSIVE MODE"))
        try:
            reply = client.get(STATUS_PATH, headers=pki.header(operator_user))
        finally:
            migration.rollback()
    assert (reply.status_code, reply.text) == (503, "ERROR")


@needs_a_database_server
def test_with_the_database_unreachable_a_cold_operator_gets_403_and_a_warm_one_error(
    tmp_path, migrated, pki, installed, operator_cert, db_session, now
):
    add_test_user(db_session, "SE2321000016-O002", "Otto Operatör", ["operator"], now)
    cold_cert = pki.issue_client_cert("SE2321000016-O002")
    url = make_url(migrated)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = start_server(tmp_path / "s", proxied, pki)
    try:
        assert server.get(STATUS_PATH, cert=operator_cert).body == "OK"  # verified: warm
        proxy.stop()
        cold = server.get(STATUS_PATH, cert=cold_cert)
        assert (cold.status, cold.body) == (403, "403 Forbidden\n")
        warm = server.get(STATUS_PATH, cert=operator_cert)
        assert (warm.status, warm.body) == (503, "ERROR")
        page = server.get("/OmniqOperator/", cert=operator_cert)
        assert page.status == 200
        assert "database:responseTime" in page.body
        assert "Databasen går inte att nå" in page.body
    finally:
        proxy.stop()
        stop_server(server)
    assert "the database cannot be reached to verify SE2321000016-O002" in server.log()


def test_ep_check_exits_0_when_all_is_well_and_2_when_a_batch_is_stale(
    installed, config_path, db_session, now
):
    ok = run_ep("check", config=config_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("EP OK - all ")
    assert "'database_responseTime'=" in ok.stdout

    db_session.get(BatchHeartbeat, "NOTIFYREMINDERS").last_activity_at = now - timedelta(days=2)
    db_session.commit()
    stale = run_ep("check", config=config_path)
    assert stale.returncode == 2
    assert stale.stdout.startswith(
        "EP CRITICAL - NOTIFYREMINDERS: Configured to warn after 1500 minutes inactivity."
    )
    assert "'NOTIFYREMINDERS_inactivity'=" in stale.stdout


def test_ep_check_is_critical_when_the_database_cannot_be_reached(config_path):
    down = run_ep(
        "check",
        config=config_path,
        env={"EP_DATABASE_URL": "postgresql+psycopg://ep@127.0.0.1:9/ep?connect_timeout=3"},
    )
    assert down.returncode == 2
    assert down.stdout.startswith("EP CRITICAL - database: The database cannot be reached")


def test_ep_check_is_unknown_when_the_configuration_is_wrong(config_path):
    broken = run_ep("check", config=config_path, env={"EP_HealthCheckErrorStatusCode": "soon"})
    assert broken.returncode == 3
    assert broken.stdout.startswith("EP UNKNOWN - configuration: ")
    assert "HealthCheckErrorStatusCode" in broken.stdout


def test_without_an_installation_the_json_says_fail_with_the_error_status_code(
    header_server, pki, operator_user
):
    # the tables are there, the installation record is not (`ep db upgrade` on a new database)
    headers = {**pki.header(operator_user), "Accept": "application/health+json"}
    reply = header_server.get("/OmniqOperator/", headers=headers)
    status = header_server.get(headers=pki.header(operator_user))

    assert (status.status, status.body) == (503, "ERROR")
    assert reply.status == 503  # HealthCheckErrorStatusCode, as for the plain status
    body = json.loads(reply.body)
    assert body["status"] == "fail"
    [installation] = body["checks"]["installation:installed"]
    # the JSON speaks the page's language: Swedish unless the operator chose English
    assert installation["output"] == "EP är inte installerat i den här databasen: kör `ep init`."
    assert "output" not in body["checks"]["database:responseTime"][0]  # passing: no output
