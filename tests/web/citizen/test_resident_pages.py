"""The start page after login, results by occasion, cancelling that asks first, numbers,
dates and opening hours in the page's language, the pages a Swedish public e-service must
have, and error pages in the site's layout."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.residents import Trend, TrendPoint
from ep.models import Order, SamplingLocation
from ep.web.citizen_chart import trend_chart
from tests.web.citizen.conftest import Browser, csrf_token, inbox_message, released_order

FOOTER_LINKS = ('href="/tillganglighet"', 'href="/personuppgifter"', 'href="/kakor"')


def english(browser: Browser) -> Browser:
    with browser.client.session_transaction() as session:
        session["lang"] = "en"
    return browser


def order_at(browser, catalogue, db_session, code="PK-WARAN") -> Order:
    page = browser.page("/offers")
    found = re.search(rf'href="(/order/{catalogue[code].id}[^"]*)"', page)
    assert found is not None, page
    link = found.group(1)
    location = db_session.scalar(
        select(SamplingLocation).where(SamplingLocation.code == "PROV-CITY")
    )
    browser.submit(link.replace("&amp;", "&"), data={"where": str(location.id)})
    db_session.rollback()
    return db_session.scalar(select(Order).order_by(Order.id.desc()))


def test_the_start_page_after_login_says_what_to_do_and_what_is_new(
    as_resident, resident, catalogue, db_session, now
):
    page = as_resident.page("/")
    assert "Hej Tolvan" in page and "Att göra" in page
    assert "Beställ PK/Waran" in page and "Beställ Diabeteskontroll" in page
    assert "Du har inga olästa meddelanden." in page
    order = order_at(as_resident, catalogue, db_session)
    released_order(
        db_session, resident, catalogue["DIABETES"], when=now - timedelta(days=3),
        values={"NPU02192": ("5,8", 5.8, None)}, now=now,
    )  # fmt: skip
    inbox_message(db_session, resident, subject="Dina provsvar är klara", body="Klart.", now=now)
    db_session.commit()
    page = as_resident.page("/")
    assert "Beställ PK/Waran" not in page  # ordered: now it is to be sampled
    assert "Lämna provet för PK/Waran" in page and order.number in page
    assert "Mån–fre 7.00–18.00" in page  # where, and when it is open
    assert "Nya provsvar" in page and "Diabeteskontroll, " in page
    assert "Dina provsvar är klara" in page
    assert "Inloggad som" in page and "Logga in</a>" not in page


def test_the_start_page_asks_for_a_home_kit_s_code_until_it_is_registered(
    browser, young_resident, catalogue
):
    browser.login(young_resident.personnummer)
    found = re.search(rf'href="(/order/{catalogue["STI-HOME"].id}[^"]*)"', browser.page("/offers"))
    assert found is not None
    link = found.group(1).replace("&amp;", "&")
    browser.submit(link, data={"where": "home", "address": "Storgatan 1, 211 34 Malmö"})

    page = browser.page("/")
    assert "Registrera hemtestet för Klamydia och gonorré hemtest" in page
    assert 'href="/kit">Registrera hemtest</a>' in page
    assert "Register the home test for Chlamydia and gonorrhoea home test" in (
        english(browser).page("/")
    )
    browser.submit("/kit", data={"code": "KIT-4711-ABCD"})
    assert "Register the home test for" not in browser.page("/")


def test_results_are_grouped_by_occasion_newest_first_earlier_ones_folded(
    as_resident, resident, catalogue, db_session, now
):
    for months, value in ((0, ("5,8", 5.8)), (3, ("6,1", 6.1)), (6, ("7,2", 7.2))):
        released_order(
            db_session, resident, catalogue["DIABETES"], when=now - timedelta(days=1 + 91 * months),
            values={"NPU02192": (*value, None)}, now=now,
        )  # fmt: skip
    db_session.commit()
    page = as_resident.page("/results")
    newest, earlier = page.split("Tidigare provtagningar", 1)
    assert ">5,8</td>" in newest and "6,1" not in newest
    folded = re.findall(r'<details class="occasion">(.*?)</details>', earlier, re.S)
    assert len(folded) == 2 and "6,1" in folded[0] and "7,2" in folded[1]
    assert '<details class="occasion" open' not in page
    # the print view folds nothing
    printed = as_resident.page("/results/print")
    assert "<details" not in printed and all(v in printed for v in ("5,8", "6,1", "7,2"))


def test_cancelling_asks_first_and_only_the_form_cancels(as_resident, catalogue, db_session):
    order = order_at(as_resident, catalogue, db_session)
    detail = as_resident.page(f"/orders/{order.id}")
    assert f'href="/orders/{order.id}/cancel"' in detail
    question = as_resident.page(f"/orders/{order.id}/cancel")
    assert "Vill du avbeställa PK/Waran?" in question
    assert "Ja, avbeställ" in question and f'href="/orders/{order.id}"' in question
    db_session.rollback()
    assert db_session.get(Order, order.id).status == "ordered"  # asking changed nothing
    refused = as_resident.client.post(f"/orders/{order.id}/cancel", data={})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    db_session.rollback()
    assert db_session.get(Order, order.id).status == "ordered"
    token = csrf_token(question)
    done = as_resident.client.post(
        f"/orders/{order.id}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert f"Beställningen {order.number} är avbeställd." in done.get_data(as_text=True)


def test_numbers_dates_and_opening_hours_follow_the_page_language(
    as_resident, resident, catalogue, db_session, now
):
    released_order(
        db_session, resident, catalogue["DIABETES"], when=now - timedelta(days=3),
        values={"NPU02192": ("5,8", 5.8, None)}, now=now,
    )  # fmt: skip
    db_session.commit()
    order = order_at(as_resident, catalogue, db_session)
    swedish = as_resident.page(f"/orders/{order.id}")
    assert "Mån–fre 7.00–18.00, lör 9.00–13.00" in swedish
    assert re.search(r"\d{1,2} \w+ \d{4} kl\. \d\d:\d\d", swedish)  # 31 december 2026 kl. 06:15
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", swedish)
    assert ">5,8</td>" in as_resident.page("/results")

    english(as_resident)
    page = as_resident.page(f"/orders/{order.id}")
    assert "Mon–Fri 7:00\u202fAM–6:00\u202fPM, Sat 9:00\u202fAM–1:00\u202fPM" in page
    assert re.search(r"[A-Z][a-z]+ \d{1,2}, \d{4} at \d{1,2}:\d\d\u202f[AP]M", page)
    results = as_resident.page("/results")
    assert ">5.8</td>" in results and "5,8" not in results
    assert ">4.0-6.0</td>" in results or ">4-6</td>" in results or "4.0" in results


def test_the_privacy_notice_names_controller_purposes_basis_retention_and_rights(make_app):
    browser = Browser(
        make_app(
            CitizenLogin="dev",
            ServiceOwner="Region Tolvlandet",
            ServiceContactEmail="ep@tolvlandet.example",
            DataProtectionOfficerEmail="dso@tolvlandet.example",
            RetainOrdersDays="3650",
        ).test_client()
    )
    page = browser.page("/personuppgifter")
    assert "Region Tolvlandet är personuppgiftsansvarig" in page
    assert "dso@tolvlandet.example" in page  # the data protection officer
    assert "Vilka uppgifter och varför" in page  # purposes
    assert "artikel 6.1 e" in page and "9.2 h" in page and "patientdatalagen" in page
    assert "Beställningar och provsvar: 10 år" in page  # retention, from the settings
    assert "aldrig kortare än fem år" in page
    assert "Dina rättigheter" in page and "Integritetsskyddsmyndigheten" in page
    assert "Var uppgifterna kommer ifrån" in page  # article 14: data not from the resident
    statement = browser.page("/tillganglighet")
    for heading in (
        "Hur tillgänglig är e-tjänsten?",
        "Vad kan du göra om du inte kan använda delar av e-tjänsten?",
        "Rapportera brister i e-tjänstens tillgänglighet",
        "Tillsyn",
        "Teknisk information om e-tjänstens tillgänglighet",
        "Innehåll som inte är tillgängligt",
        "Hur vi testat e-tjänsten",
    ):
        assert f"<h2>{heading}</h2>" in statement
    assert "Region Tolvlandet står bakom" in statement and "digg.se" in statement
    cookies = browser.page("/kakor")
    assert '<th scope="row">session</th>' in cookies
    english(browser)
    assert "Region Tolvlandet is the controller" in browser.page("/personuppgifter")


@pytest.mark.parametrize("path", ["/", "/login", "/tillganglighet", "/personuppgifter", "/kakor"])
def test_every_footer_links_the_legal_pages(browser, catalogue, path):
    page = browser.page(path)
    assert all(link in page for link in FOOTER_LINKS)


def test_error_pages_are_in_the_site_layout_and_language(browser, dev_app):
    missing = browser.get("/no-such-page")
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "<h1>Sidan finns inte</h1>" in page
    assert all(link in page for link in FOOTER_LINKS) and 'lang="sv"' in page
    english(browser)
    page = browser.get("/no-such-page").get_data(as_text=True)
    assert "<h1>The page does not exist</h1>" in page and '<html lang="en">' in page
    wrong = browser.get("/logout")  # a button's address, opened as a link
    assert wrong.status_code == 405 and "The page cannot be used that way" in wrong.text


def test_a_server_error_is_explained_without_the_database(dev_app):
    dev_app.config["PROPAGATE_EXCEPTIONS"] = False

    @dev_app.get("/test-broken")
    def broken():
        raise RuntimeError("broken on purpose")

    response = dev_app.test_client().get("/test-broken")
    assert response.status_code == 500
    assert "<h1>Något gick fel hos oss</h1>" in response.text and "Felkod 500" in response.text


def test_the_chart_unit_sits_above_the_top_tick(dev_app, now):
    trend = Trend("NPU27300", None, "mmol/mol", 27, 42)
    trend.points = [
        TrendPoint(now - timedelta(days=91 * i), 40 + i, str(40 + i), None, f"EP-{i}")
        for i in range(4)
    ]
    with dev_app.test_request_context():
        chart = trend_chart(trend)
    top_tick = min(tick.position for tick in chart.y_ticks)
    assert chart.unit_baseline + 4 < top_tick - 9  # the unit's descenders, the tick's cap height
    assert chart.width <= 300  # 12.5-unit text is then at least 12 px on a 360 px phone


def test_every_resident_page_names_each_id_once(as_resident, resident, catalogue, db_session, now):
    # a label, an aria-describedby or a skip link finds the first of two equal ids only;
    # the language switch and the logout form are on every page, beside the page's own form
    order = order_at(as_resident, catalogue, db_session)
    released_order(
        db_session, resident, catalogue["DIABETES"], when=now - timedelta(days=3),
        values={"NPU02192": ("5,8", 5.8, None)}, now=now,
    )  # fmt: skip
    db_session.commit()
    order_form = re.search(r'href="(/order/[^"]+)"', as_resident.page("/offers"))
    assert order_form is not None
    paths = [
        "/",
        "/offers",
        order_form.group(1).replace("&amp;", "&"),
        "/orders",
        f"/orders/{order.id}",
        f"/orders/{order.id}/cancel",
        "/kit",
        "/results",
        "/inbox",
        "/settings",
        "/access-log",
    ]
    for path in paths:
        ids = re.findall(r'\sid="([^"]+)"', as_resident.page(path))
        assert ids, path
        assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
