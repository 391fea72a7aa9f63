"""One answer from every server process: the operators verified lately are shared through
a file under the instance folder, so while the database is down an operator verified by
one gunicorn gets the same answer from another, not 403 from one and ERROR from the other."""

import json

from sqlalchemy import text

from ep.web.access import AUTHORIZATION_CACHE_FILE
from tests.healthcheck.conftest import STATUS_PATH, start_server, stop_server


def test_an_operator_verified_by_one_server_process_is_known_to_another(
    tmp_path, migrated, pki, installed, operator_cert, db_session
):
    folder = tmp_path / "instance"  # one installation, two gunicorns on the host
    first = start_server(folder, migrated, pki)
    second = start_server(folder, migrated, pki)
    try:
        assert first.get(STATUS_PATH, cert=operator_cert).body == "OK"  # verified by one
        cache = json.loads((folder / AUTHORIZATION_CACHE_FILE).read_text())
        assert any(key.split("|")[1] == "SE2321000016-O001" for key in cache)
        # the users can no longer be read: the role check fails in both processes. A fresh
        # transaction: on SQLite one that read before the servers wrote cannot write
        db_session.rollback()
        db_session.execute(text('ALTER TABLE "user" RENAME TO user_away'))
        db_session.commit()
        try:
            answers = [server.get(STATUS_PATH, cert=operator_cert) for server in (second, first)]
        finally:
            db_session.execute(text('ALTER TABLE user_away RENAME TO "user"'))
            db_session.commit()
    finally:
        stop_server(first)
        stop_server(second)

    # the same answer from both, and not 403: the process that never saw the operator
    # trusts the other's verification
    assert {(reply.status, reply.body) for reply in answers} == {(200, "OK")}
    assert "from the authorization cache" in second.log()
