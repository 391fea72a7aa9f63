"""EP.Admin searches the PDL access log by patient, user and time; the search is logged too."""

import re
from datetime import timedelta

from ep.domain import audit_search
from ep.domain.audit import Actor, described, description, record
from ep.timeutil import local, utcnow
from tests.web.staff.support import audit_events

SARA = Actor("user", "SE2321000016-S001", "Sara Sjöberg", "SE2321000016-VC01", "VC Tolvåsen")
PER = Actor("user", "SE2321000016-S002", "Per <i>Persson</i>", "SE2321000016-PC01", "City")


def search(admin, **criteria):
    token = admin.token("/EP.Admin/audit")
    return admin.post("/EP.Admin/audit", criteria, token=token)


def test_an_admin_finds_who_read_a_patient_and_the_search_itself_is_logged(
    admin, admin_user, db_session
):
    now = utcnow()
    record(db_session, SARA, "read:patient", now=now, patient="191212121212")
    record(db_session, PER, "read:results", now=now, patient="191212121212")
    record(db_session, PER, "read:patient", now=now, patient="198112289874")
    db_session.commit()

    response = search(admin, personnummer="19121212-1212")

    assert response.status_code == 200
    page = response.text
    assert "2 händelser, sida 1 av 1" in page
    assert "Sara Sjöberg (SE2321000016-S001)" in page
    assert "Per &lt;i&gt;Persson&lt;/i&gt;" in page
    assert "198112289874" not in page and "19811228-9874" not in page
    logged = audit_events(db_session, actor_id=admin_user.hsa_id, action="search:audit-log")
    assert [(e.patient_personnummer, description(e.details)) for e in logged] == [
        ("191212121212", {"text": "audit-search", "patient": "191212121212", "page": 1})
    ]
    again = search(admin, personnummer="19121212-1212").text
    assert "Sökte i åtkomstloggen" in again
    assert "patient 19121212-1212; sida 1" in again


def test_a_row_written_in_english_before_is_shown_as_written_and_marked_english(admin, db_session):
    """Details were kept as English sentences before they were kept as a key with values:
    such a row stays readable on a Swedish page, marked as English for screen readers."""
    record(
        db_session,
        SARA,
        "update:order",
        now=utcnow(),
        patient="191212121212",
        object_type="order",
        object_id="EP-7K3M-9QX1",
        details="contacted by phone at 2026-11-30 10:15: Behandling bokad; result released",
    )
    db_session.commit()

    page = search(admin, personnummer="19121212-1212").text

    assert "<td>Ändrade beställning</td>" in page
    assert "<td>Beställning EP-7K3M-9QX1</td>" in page
    assert (
        '<td lang="en">contacted by phone at 2026-11-30 10:15: Behandling bokad; '
        "result released</td>"
    ) in page


def test_an_admin_searches_by_user_and_a_time_range(admin, db_session):
    now = utcnow()
    record(db_session, PER, "read:patient", now=now - timedelta(days=10), patient="191212121212")
    record(db_session, PER, "read:patient", now=now, patient="198112289874")
    record(db_session, SARA, "read:patient", now=now, patient="198112289874")
    db_session.commit()
    # the search reads Stockholm days: "today" is Stockholm's (from 23:00 UTC, tomorrow's)
    today = local(now).date().isoformat()

    page = search(admin, hsa_id="SE2321000016-S002", since=today, until=today).text

    assert "1 händelser, sida 1 av 1" in page
    assert "19811228-9874" in page
    assert "Sara" not in page.split("händelser")[1]


def test_the_log_is_shown_a_page_at_a_time(admin, db_session):
    now = utcnow()
    for minute in range(120):
        record(
            db_session,
            SARA,
            "read:patient",
            now=now - timedelta(minutes=minute),
            patient="191212121212",
        )
    db_session.commit()

    first = search(admin, personnummer="191212121212").text
    assert "120 händelser, sida 1 av 3" in first
    assert 'name="page" value="2"' in first and "Föregående sida" not in first
    second = search(admin, personnummer="191212121212", page="2", after=_cursor(first, "after"))
    third = search(
        admin, personnummer="191212121212", page="3", after=_cursor(second.text, "after")
    ).text
    # the searches are in the log now too, newer than the page boundaries: the pages
    # keep to their events (keyset), however much is logged meanwhile
    assert "122 händelser, sida 3 av 3" in third
    assert third.count("Läste patientsidan") == 20
    assert 'name="page" value="2"' in third and "Nästa sida" not in third
    back = search(
        admin, personnummer="191212121212", page="2", before=_cursor(third, "before")
    ).text
    assert "sida 2 av 3" in back and back.count("Läste patientsidan") == 50
    assert _cursor(back, "after") == _cursor(second.text, "after")


def _cursor(page: str, name: str) -> str:
    """The page boundary the Previous or Next button sends."""
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found is not None, page
    return found[1]


def test_a_search_matching_more_than_ten_thousand_events_says_so_without_counting_all(
    admin, db_session, monkeypatch
):
    monkeypatch.setattr(audit_search, "COUNT_CAP", 30)
    now = utcnow()
    for minute in range(40):
        record(db_session, SARA, "read:patient", now=now - timedelta(minutes=minute))
    db_session.commit()

    page = search(admin, hsa_id="SE2321000016-S001").text

    assert "Fler än 30 händelser, sida 1" in page and " av " not in page.split("händelser")[1][:9]
    assert page.count("Läste patientsidan") == 40


def test_bad_search_criteria_are_explained_and_nothing_is_searched(admin, admin_user, db_session):
    response = search(admin, personnummer="1912", hsa_id="nobody", since="2026-02-30")
    assert response.status_code == 400
    page = response.text
    for field in ("personnummer", "hsa_id", "since"):
        assert f'id="{field}-error"' in page
    assert audit_events(db_session, action="search:audit-log") == []


def test_a_catalogue_change_is_named_in_words_in_the_reader_s_language(admin, db_session):
    fields = described("fields", fields=["release_policy", "analyses"], analyses=["NPU08669"])
    # a change logged before the fields were kept by name: its text as it was written
    for package, details in (("PSA", fields), ("DIABETES", "name_sv")):
        record(
            db_session,
            SARA,
            "catalogue:update-package",
            now=utcnow(),
            object_type="package",
            object_id=package,
            details=details,
        )
    db_session.commit()

    swedish = search(admin, hsa_id="SE2321000016-S001").text
    with admin.client.session_transaction() as session:
        session["lang"] = "en"
    english = search(admin, hsa_id="SE2321000016-S001").text

    assert "<td>Ändrade provpaket</td>" in swedish and "<td>Paket DIABETES</td>" in swedish
    assert "<td>Fält: svarspolicy, analyser. Analyserna nu: NPU08669</td>" in swedish
    assert "<td>Fields: release policy, analyses. The analyses now: NPU08669</td>" in english
    assert "release_policy" not in swedish and "release_policy" not in english
    assert '<td lang="en">name_sv</td>' in swedish
