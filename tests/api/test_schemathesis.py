"""Schemathesis, from the OpenAPI document, against the API as it is served: a real
gunicorn with TLS, called with a real function certificate. No server error, and no
answer that breaks the document."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import TOLVAN_ORDER, make_order
from tests.conftest import _user
from tests.healthcheck.conftest import start_server, stop_server

SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)


@pytest.fixture
def api_server(tmp_path, migrated, pki, catalogue):
    server = start_server(tmp_path / "server", migrated, pki)
    yield server
    stop_server(server)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    api_server, pki, db_session, resident, now, tmp_path
):
    make_order(db_session, resident, "DIABETES", TOLVAN_ORDER, now)
    system = _user(db_session, "SE2321000016-I001", "Provtagningssystem Syd", ["integration"], now)
    cert = pki.issue_client_cert(system.hsa_id, system.name)
    base = f"https://127.0.0.1:{api_server.port}"
    # over real TLS: no certificate is 401, the function certificate gets in
    path = "/api/v1/orders?personnummer=19121212-1212"
    anonymous = api_server.get(path)
    assert anonymous.status == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert TOLVAN_ORDER in api_server.get(path, cert=cert).body

    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{base}/api/v1/openapi.json",
            "--url",
            base,
            "--checks",
            CHECKS,
            "--request-cert",
            str(cert.cert_path),
            "--request-cert-key",
            str(cert.key_path),
            "--tls-verify",
            str(pki.ca_path),
            "--max-examples",
            "25",
            "--seed",
            "20261201",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or " passed" in run.stdout, run.stdout[-3000:]
    assert "Server error" not in run.stdout
