"""The staff and EP.Admin pages are Swedish by default and English by choice."""

import pytest

from tests.web.staff.support import held_positive


def choose_english(signed_in):
    with signed_in.client.session_transaction() as session:
        session["lang"] = "en"


def test_the_staff_pages_are_swedish_by_default(staff):
    page = staff.get("/staff/").text
    assert '<html lang="sv">' in page
    assert "Hitta patient" in page


def test_the_staff_pages_speak_english_when_chosen(staff, resident):
    choose_english(staff)
    page = staff.get("/staff/").text
    assert '<html lang="en">' in page
    assert "Find patient" in page
    assert "For example 19121212-1212, EP-7K3M-9QX1 or KIT-1234-ABCD" in page
    token = staff.token("/staff/")
    response = staff.post("/staff/patients", {"personnummer": "1912"}, token=token)
    assert "The personnummer is not valid." in response.text


@pytest.mark.parametrize(
    "path, english", [("/EP.Admin/packages", "Add package"), ("/EP.Admin/audit", "Access log")]
)
def test_the_catalogue_pages_speak_english_when_chosen(admin, path, english):
    choose_english(admin)
    page = admin.get(path).text
    assert '<html lang="en">' in page
    assert english in page


def test_a_domain_problem_is_shown_in_the_chosen_language(staff, resident, catalogue, now):
    choose_english(staff)
    path = f"/staff/patients/{resident.id}"
    token = staff.token(path)
    response = staff.post(f"{path}/offers", {"recurrence_months": "99"}, token=token)
    assert "Choose a package." in response.text
    assert "Enter a number of months from 1 to 24, or leave empty." in response.text


def test_a_result_s_value_is_written_in_the_page_s_language(
    staff, resident, catalogue, db_session, now
):
    """The lab's "Positiv" and "5,8" read "Positive" and "5.8" on an English page."""
    order = held_positive(db_session, resident, catalogue["STI-HOME"], now)
    choose_english(staff)
    page = staff.get(f"/staff/orders/{order.id}/results").text
    assert "<td>Positive</td>" in page and "<td>Negative</td>" in page
    assert "<td>Positiv</td>" not in page and "<td>Negativ</td>" not in page
