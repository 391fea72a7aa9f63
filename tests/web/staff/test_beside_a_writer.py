"""Staff and EP.Admin pages that read and then write answer while another connection
writes all the time.

On SQLite a unit of work that began as a reader cannot write once another connection has
committed after its first read: the page's PDL event failed at once ("database is
locked") and staff got a 500 whenever a batch wrote during their page. These pages now
begin as writers and wait their turn (ep.database.continue_as_writer). On PostgreSQL the
same pages run beside the same writer.
"""

from tests.support import Writer
from tests.web.staff.support import audit_count

PAGES = 25


def test_staff_read_a_patient_and_find_one_beside_a_writer(
    staff, resident, database_url, db_session
):
    person_id = resident.id
    db_session.commit()
    with Writer(database_url, person_id):
        pages = [staff.get(f"/staff/patients/{person_id}").status_code for _ in range(PAGES)]
        token = staff.token("/staff/")
        found = [
            staff.post("/staff/patients", {"personnummer": "19121212-1212"}, token=token)
            for _ in range(5)
        ]
    assert pages == [200] * PAGES
    # a limited form: counted on a connection of its own, then begun as a writer
    assert [response.status_code for response in found] == [302] * 5
    db_session.rollback()
    assert audit_count(db_session, action="read:patient") == PAGES


def test_ep_admin_searches_the_access_log_beside_a_writer(
    admin, resident, database_url, db_session
):
    person_id = resident.id
    db_session.commit()
    with Writer(database_url, person_id):
        token = admin.token("/EP.Admin/audit")
        searched = [
            admin.post("/EP.Admin/audit", {"personnummer": "19121212-1212"}, token=token)
            for _ in range(PAGES)
        ]
    assert [response.status_code for response in searched] == [200] * PAGES
