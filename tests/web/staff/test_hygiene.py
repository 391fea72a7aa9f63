"""Staff pages are never cached; odd ids, dates and numbers are 400 or 404, never a 500."""

from tests.support import HUGE_IDS
from tests.web.staff.support import make_order


def test_the_patient_page_and_the_worklists_forbid_any_cache(staff, resident, catalogue, now):
    for path in (
        f"/staff/patients/{resident.id}",
        "/staff/worklist",
        "/staff/unmatched",
        "/staff/",
    ):
        response = staff.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_ids_too_big_for_the_database_are_not_found(staff):
    token = staff.token("/staff/")
    for huge in HUGE_IDS:
        for path in (
            f"/staff/patients/{huge}",
            f"/staff/orders/{huge}/results",
            f"/staff/unmatched/{huge}",
        ):
            assert staff.get(path).status_code == 404, path
        for path in (
            f"/staff/orders/{huge}/sampled",
            f"/staff/worklist/{huge}/contacted",
            f"/staff/patients/{huge}/offers",
        ):
            assert staff.post(path, {}, token=token).status_code == 404, path


def test_dates_and_numbers_out_of_range_are_explained_not_a_server_error(
    staff, resident, catalogue
):
    path = f"/staff/patients/{resident.id}"
    for typed in (
        {"valid_until": "9999-12-31"},
        {"valid_until": "0001-01-01"},
        {"valid_until": "2099-02-30"},
        {"valid_until": "99999-01-01"},
        {"package": "99999999999999999999"},
        {"package": "9" * 5000},
        {"recurrence_months": "9" * 5000},
    ):
        data = {"package": str(catalogue["THYROID"].id), "valid_until": "2099-05-31", **typed}
        response = staff.post(f"{path}/offers", data, token=staff.token(path))
        assert response.status_code == 400, typed
    response = staff.post(
        f"{path}/offers",
        {"package": str(catalogue["THYROID"].id), "valid_until": "9999-12-31"},
        token=staff.token(path),
    )
    assert "Skriv ett datum från 1900-01-01 till 2199-12-31." in response.text


def test_results_of_an_order_forbid_any_cache(staff, resident, catalogue, db_session, now):
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    db_session.commit()
    response = staff.get(f"/staff/orders/{order.id}/results")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
