"""Each audience's pages speak its own catalogue's English where two catalogues translate
the same Swedish differently (Flask-Babel merges them, and a later one used to win: the
resident's login field read "Personnummer", the audit log's time column "Duration")."""

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import g
from flask_babel import gettext

from ep.domain.audit import Actor, record
from ep.web import CATALOGUE_OF_BLUEPRINT, use_own_catalogue
from tests.web.staff.support import SignedIn

TRANSLATIONS = Path(__file__).resolve().parents[2] / "ep"
PAGES = {
    "citizen": "/",
    "staff": "/staff/",
    "admin_catalogue": "/EP.Admin/audit",
    "admin": "/EP.Admin/",
    "operator": "/OmniqOperator/",
}


def english(directory: str) -> dict[str, str]:
    path = TRANSLATIONS / directory / "en" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        messages = read_po(file)
    # plural forms (tuples) are left out: gettext() reads only singular messages
    return {
        m.id: m.string
        for m in messages
        if isinstance(m.id, str) and isinstance(m.string, str) and m.string
    }


@pytest.mark.parametrize("blueprint", PAGES)
def test_a_page_reads_its_own_audience_s_translation_of_every_text(app, blueprint):
    own = english(CATALOGUE_OF_BLUEPRINT[blueprint])
    with app.test_request_context(PAGES[blueprint]):
        g.default_language = "en"
        use_own_catalogue()
        assert {msgid: gettext(msgid) for msgid in own} == own


def test_the_resident_s_login_asks_for_the_personal_identity_number_in_english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"
    page = client.get("/login").text
    assert ">Personal identity number</label>" in page


def test_the_audit_log_s_time_column_is_the_time_in_english(
    cert_client, cert_header, admin_user, resident, db_session, now
):
    admin = SignedIn(cert_client, cert_header(admin_user))
    record(db_session, Actor.system("test"), "read:patient", now=now, patient="191212121212")
    db_session.commit()
    with admin.client.session_transaction() as session:
        session["lang"] = "en"
    token = admin.token("/EP.Admin/audit")
    page = admin.post("/EP.Admin/audit", {"personnummer": "19121212-1212"}, token=token).text
    assert '<th scope="col">Time</th>' in page
    assert "Duration" not in page
