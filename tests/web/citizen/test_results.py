import re
from datetime import timedelta

from ep.models import Result
from tests.web.citizen.conftest import released_order


def _quarterly_diabetes(session, person, package, now, count):
    orders = []
    for quarter in range(count):
        when = now - timedelta(days=91 * (count - quarter))
        hba1c = 44 + quarter  # drifting upwards, above the range from the start
        orders.append(
            released_order(
                session,
                person,
                package,
                when=when,
                now=now,
                values={
                    "NPU27300": (str(hba1c), float(hba1c), "H"),
                    "NPU02192": ("5,4", 5.4, None),
                },
            )
        )
    session.commit()
    return orders


def test_my_results_show_value_unit_range_flag_as_text_and_what_it_means(
    as_resident, resident, catalogue, db_session, now
):
    _quarterly_diabetes(db_session, resident, catalogue["DIABETES"], now, 1)
    page = as_resident.page("/results")
    assert "B-HbA1c" in page
    assert "mmol/mol" in page
    assert "27,0-42,0" in page  # the lab wrote 27.0-42.0; a Swedish page writes a comma
    assert "Högt" in page  # the flag in words, not only a colour
    assert "Normalt" in page  # an unflagged value inside its range
    assert "Långtidssocker" in page


def test_only_released_results_are_shown(as_resident, resident, catalogue, db_session, now):
    (order,) = _quarterly_diabetes(db_session, resident, catalogue["DIABETES"], now, 1)
    waiting = db_session.query(Result).filter_by(analysis_code="NPU02192").one()
    waiting.released_at = None
    waiting.value_text = "17,9"
    db_session.commit()
    for url in ("/results", f"/orders/{order.id}", "/results/print"):
        page = as_resident.page(url)
        assert "B-HbA1c" in page, url
        assert "17,9" not in page, url
        assert "P-Glukos" not in page.split("<main", 1)[1], url


def test_a_trend_per_analysis_is_drawn_as_svg_with_the_same_values_in_a_table(
    as_resident, resident, catalogue, db_session, now
):
    _quarterly_diabetes(db_session, resident, catalogue["DIABETES"], now, 8)
    page = as_resident.page("/results")
    assert "<script" not in page
    charts = re.findall(r'<svg class="trend".*?</svg>', page, flags=re.S)
    assert len(charts) == 2  # HbA1c and glucose
    hba1c_chart = next(c for c in charts if "B-HbA1c" in c)
    assert 'role="img"' in hba1c_chart
    assert hba1c_chart.count('class="point point-outside"') == 8  # all above 42: squares
    table = re.search(r"<caption>Värden för B-HbA1c</caption>.*?</table>", page, re.S).group(0)
    assert table.count("<tr>") == 9  # header + 8 values
    for value in range(44, 52):
        assert f'<td class="value" data-label="Värde">{value}</td>' in table


def test_the_print_view_has_the_results_without_the_menu(
    as_resident, resident, catalogue, db_session, now
):
    _quarterly_diabetes(db_session, resident, catalogue["DIABETES"], now, 2)
    page = as_resident.page("/results/print")
    assert "Utskrivet" in page
    assert "19121212-1212" in page
    assert "B-HbA1c" in page
    assert "Mina beställningar</a>" not in page


def test_a_resident_without_results_is_told_so(as_resident):
    assert "Du har inga provsvar ännu." in as_resident.page("/results")


def test_switching_to_english_translates_the_pages_and_is_remembered(
    as_resident, resident, catalogue, db_session, now
):
    _quarterly_diabetes(db_session, resident, catalogue["DIABETES"], now, 2)
    response = as_resident.submit("/results", "/language", data={"lang": "en", "next": "/results"})
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "My results" in page
    assert "High" in page
    assert "Long-term blood sugar" in page
    assert 'lang="sv">Svenska</button>' in page
    db_session.rollback()
    db_session.refresh(resident)
    assert resident.language == "en"
    # a new login brings the resident's language back
    as_resident.submit("/", "/logout")
    as_resident.client.delete_cookie("session")
    as_resident.login(resident.personnummer)
    assert '<html lang="en">' in as_resident.page("/orders")


def test_the_demo_resident_has_two_years_of_results_to_see_a_trend_in(browser, db_session, now):
    from ep.domain.demo import load_demo

    load_demo(db_session, now=now, history=True)
    db_session.commit()
    assert load_demo(db_session, now=now, history=True) == []  # a second load adds nothing
    db_session.commit()
    browser.login("191212121212")
    page = browser.page("/results")
    assert page.count('<svg class="trend"') == 2
    table = re.search(r"<caption>Värden för B-HbA1c</caption>.*?</table>", page, re.S).group(0)
    assert table.count("<tr>") == 9
    assert "Vårdcentralen Tolvåsen" in browser.page("/access-log")
    assert "Dina provsvar är klara" in browser.page("/inbox")


def test_a_positive_chlamydia_result_says_what_it_means_and_what_happens_next(
    browser, young_resident, catalogue, db_session, now
):
    released_order(
        db_session,
        young_resident,
        catalogue["STI-HOME"],
        when=now - timedelta(days=2),
        now=now,
        values={"21613-5": ("Positiv", None, "POS"), "24111-7": ("Negativ", None, "NEG")},
    )
    db_session.commit()
    browser.login(young_resident.personnummer)

    for path in ("/results", "/results/print"):
        page = browser.page(path)
        assert "Provet visar att du har klamydia." in page
        assert "Behandlingen är gratis. Vårdpersonal har kontaktat dig" in page
        assert "smittspårning" in page
    browser.submit("/results", "/language", data={"lang": "en", "next": "/results"})
    page = browser.page("/results")
    assert "What this result means:" in page
    assert "Treatment is free. Care staff have contacted you" in page
