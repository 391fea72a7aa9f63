"""The resident's pages are never cached, and odd ids are a 404, never a 500 (issue 11)."""

from tests.support import HUGE_IDS
from tests.web.citizen.conftest import released_order


def test_pages_with_personal_data_forbid_any_cache(
    as_resident, resident, catalogue, db_session, now
):
    order = released_order(
        db_session, resident, catalogue["DIABETES"], when=now, values={}, now=now
    )
    db_session.commit()
    for path in (
        "/results",
        "/results/print",
        f"/orders/{order.id}",
        "/orders",
        "/inbox",
        "/settings",
        "/access-log",
        "/offers",
        "/kit",
    ):
        response = as_resident.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_the_style_sheet_may_still_be_cached(browser):
    with browser.get("/static/ep.css") as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_ids_too_big_for_the_database_are_not_found(as_resident):
    for huge in HUGE_IDS:
        for path in (f"/orders/{huge}", f"/inbox/{huge}", f"/order/{huge}"):
            assert as_resident.get(path).status_code == 404, path
        response = as_resident.submit("/orders", f"/orders/{huge}/cancel", follow=False)
        assert response.status_code == 404


def test_an_offer_id_too_big_for_the_database_is_no_server_error(as_resident, catalogue):
    package = catalogue["DIABETES"]
    for huge in HUGE_IDS:
        response = as_resident.get(f"/order/{package.id}?offer={huge}")
        assert response.status_code in (200, 404), huge
