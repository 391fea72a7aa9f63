"""A resident in a real browser: logs in, orders, reads a released result and the trend,
switches to English. axe-core checks every page on the way; screenshots are kept."""

import re
from datetime import timedelta

import pytest

from ep.domain.demo import load_demo
from ep.models import Analysis, Order, Result
from tests.browser.conftest import Pages

pytestmark = pytest.mark.browser
ORDER_NUMBER = re.compile(r"EP-[0-9A-Z]{4}-[0-9A-Z]{4}")


def release_a_result(session, number, now):
    """Stand-in for sampling, IMPORTRESULTS and release (other branches own those steps)."""
    order = session.query(Order).filter_by(number=number).one()
    inr = session.query(Analysis).filter_by(code="NPU01685").one()
    order.status = "released"
    order.sampled_at = now - timedelta(hours=3)
    order.resulted_at = order.released_at = now
    session.add(
        Result(
            order_id=order.id,
            analysis_code=inr.code,
            analysis_id=inr.id,
            value_text="3,4",
            value_numeric=3.4,
            unit=inr.unit,
            ref_range="2,0–3,0",
            ref_low=inr.ref_low,
            ref_high=inr.ref_high,
            flag="H",
            status="F",
            comment="<b>Kontakta mottagningen</b> om dosen.",
            observed_at=order.sampled_at,
            received_at=now,
            released_at=now,
        )
    )
    session.commit()


def test_a_resident_orders_reads_results_and_switches_to_english(
    live_server, chromium, db_session, now
):
    load_demo(db_session, now=now)
    db_session.commit()
    context = chromium.new_context(ignore_https_errors=True, locale="sv-SE")
    tab = Pages(context.new_page(), live_server, "resident")
    page = tab.page

    tab.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Hoppa till innehållet"
    tab.check("start")

    page.get_by_role("link", name="Logga in").first.click()
    tab.check("login")
    page.get_by_label("Personnummer").fill("19121212-1212")
    page.get_by_role("button", name="Logga in").click()
    assert page.get_by_text("Inloggad som Tolvan Tolvansson").is_visible(), page.content()

    page.get_by_role("link", name="Beställ provtagning", exact=True).click()
    tab.check("offers")
    page.get_by_role("link", name="Beställ PK/Waran").click()
    page.get_by_role("button", name="Skicka beställningen").click()
    assert page.get_by_role("alert").filter(has_text="Något behöver rättas").is_visible()
    tab.check("order-error")
    page.get_by_label("Provtagningen City").check()
    page.get_by_role("button", name="Skicka beställningen").click()
    assert page.get_by_text("Tack! Din beställning är klar.").is_visible()
    number = ORDER_NUMBER.search(page.locator("h1").inner_text()).group(0)
    tab.check("order-placed")

    page.get_by_role("link", name="Mina beställningar", exact=True).click()
    assert page.get_by_role("link", name=number).is_visible()
    tab.check("orders")

    release_a_result(db_session, number, now)
    page.get_by_role("link", name="Mina provsvar", exact=True).click()
    assert page.locator("h1").inner_text() == "Mina provsvar"
    inr_row = page.get_by_role("row").filter(has_text="P-PK(INR)").first
    assert "3,4" in inr_row.inner_text() and "Högt" in inr_row.inner_text()
    assert page.get_by_text("<b>Kontakta mottagningen</b> om dosen.").is_visible()
    assert page.locator("svg.trend").count() == 3  # HbA1c and glucose (demo), INR
    assert page.get_by_role("img", name="Trend för B-HbA1c").is_visible()
    tab.check("results")
    page.get_by_role("link", name="Utskriftsvänlig version").click()
    tab.check("results-print")

    tab.goto(f"/orders/{db_session.query(Order.id).filter_by(number=number).scalar()}")
    tab.check("order-with-results")
    page.get_by_role("link", name=re.compile("Meddelanden")).click()
    tab.check("inbox")
    page.get_by_role("link", name="Nytt provsvar").click()
    tab.check("message")
    page.get_by_role("button", name="Markera som läst").click()
    assert page.get_by_text("Meddelandet är markerat som läst.").is_visible()

    page.get_by_role("link", name="Registrera hemtest", exact=True).click()
    page.get_by_label("Kitets kod").fill("??")
    page.get_by_role("button", name="Registrera").click()
    tab.check("kit-error")

    page.get_by_role("link", name="Inställningar", exact=True).click()
    tab.check("settings")
    page.get_by_label("Mobilnummer").fill("12")
    page.get_by_role("button", name="Spara").click()
    assert page.get_by_text("Skriv ett mobilnummer").first.is_visible()
    tab.check("settings-error")

    page.get_by_role("link", name="Vem har tittat på mina uppgifter").click()
    assert page.get_by_role("cell", name="Vårdcentralen Tolvåsen").first.is_visible()
    tab.check("access-log")

    page.get_by_role("link", name="Mina provsvar", exact=True).click()
    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "My results"
    assert "High" in page.get_by_role("row").filter(has_text="P-PT(INR)").first.inner_text()
    tab.check("results-en")
    page.get_by_role("link", name="My orders", exact=True).click()
    assert page.get_by_role("link", name=number).is_visible()
    tab.check("orders-en")

    assert tab.csp_violations == []
    context.close()
