"""Logging in one place (ep/logs.py): the same lines from gunicorn, the app and `ep`."""

import json
import re

from tests.deploy.conftest import log_line
from tests.healthcheck.conftest import start_server, stop_server
from tests.support import run_ep

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: ")


def test_gunicorn_and_the_app_log_json_lines_with_the_clients_address(tmp_path, migrated, pki):
    server = start_server(
        tmp_path, migrated, pki, ClientCertificateSource="header", LogFormat="json"
    )
    try:
        # from 127.0.0.1, a TrustedProxy, as nginx sends it
        server.get("/OmniqOperator/", headers={"X-Forwarded-For": "198.51.100.23"})
        access = json.loads(log_line(server, 'GET /OmniqOperator/ HTTP/1.1\\" 403'))
        refused = json.loads(log_line(server, "access refused"))
    finally:
        stop_server(server)
    assert access["logger"] == "gunicorn.access"
    assert access["message"].startswith('198.51.100.23 "GET /OmniqOperator/ HTTP/1.1" 403')
    assert refused["logger"] == "ep.access" and refused["level"] == "WARNING"
    assert "from 198.51.100.23" in refused["message"]
    for line in server.log().splitlines():
        assert {"time", "level", "logger", "message"} <= json.loads(line).keys()


def test_the_ep_command_logs_the_same_way_text_or_json(config_path):
    text = run_ep("db", "upgrade", config=config_path)
    assert text.returncode == 0, text.stderr
    lines = text.stderr.splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), text.stderr
    assert any(" INFO alembic.runtime.migration: Context impl" in line for line in lines)

    as_json = run_ep("db", "upgrade", config=config_path, env={"EP_LogFormat": "json"})
    records = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert {"logger": "alembic.runtime.migration", "level": "INFO"}.items() <= records[0].items()
