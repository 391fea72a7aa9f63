"""EP.Admin's pages are never cached; odd pages, ids and dates are 400 or 404, never 500."""

from tests.support import HUGE_IDS


def search(admin, **criteria):
    return admin.post("/EP.Admin/audit", criteria, token=admin.token("/EP.Admin/audit"))


def test_the_audit_search_and_the_users_forbid_any_cache(admin):
    assert search(admin, personnummer="191212121212").headers["Cache-Control"] == "no-store"
    assert admin.get("/EP.Admin/").headers["Cache-Control"] == "no-store"


def test_a_page_number_too_big_shows_an_empty_page_not_a_server_error(admin):
    for huge in HUGE_IDS:
        response = search(admin, personnummer="191212121212", page=huge)
        assert response.status_code == 200, huge


def test_dates_beyond_any_reason_are_explained(admin):
    for since, until in (("0001-01-01", ""), ("", "9999-12-31"), ("0001-01-01", "9999-12-31")):
        response = search(admin, since=since, until=until)
        assert response.status_code == 400, (since, until)
        assert "Skriv ett datum från 1900-01-01 till 2199-12-31." in response.text


def test_catalogue_ids_too_big_for_the_database_are_not_found(admin):
    for huge in HUGE_IDS:
        for path in (
            f"/EP.Admin/packages/{huge}",
            f"/EP.Admin/analyses/{huge}",
            f"/EP.Admin/locations/{huge}",
        ):
            assert admin.get(path).status_code == 404, path
