"""A resident in a real browser: logs in, orders, reads a released result and the trend,
switches to English. axe-core checks every page on the way; screenshots are kept."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from ep.domain.demo import load_demo
from ep.domain.notifications import queue_notification
from ep.models import Order, Result
from tests.browser.conftest import Pages
from tests.support import run_ep

pytestmark = pytest.mark.browser
ORDER_NUMBER = re.compile(r"EP-[0-9A-Z]{4}-[0-9A-Z]{4}")


def lab_result_file(inbox, number: str, now) -> None:
    """The lab's HL7 v2 ORU^R01 for the order: P-PK(INR) 3,4, above the range, with a note."""
    stamp = now.strftime("%Y%m%d%H%M%S+0000")
    segments = [
        f"MSH|^~\\&|LIMS|KLINKEM_SUS^1.2.752.29.4.10^ISO|EP|REGION|{stamp}||ORU^R01^ORU_R01|"
        f"BROWSER-{number}|P|2.5.1|||AL|NE||UNICODE UTF-8",
        "PID|1||19121212-1212^^^SE-PNR^PN||Tolvansson^Tolvan^^^^^L||19121212|M",
        f"ORC|RE|{number}|LAB-1||CM",
        f"OBR|1|{number}|LAB-1|PK^PK/Waran^L|||{stamp}|||||||||||||||{stamp}||CH|F",
        f"OBX|1|NM|NPU01685^P-PK(INR)^NPU||3,4|INR|2,0-3,0|H|||F|||{stamp}",
        "NTE|1|L|<b>Kontakta mottagningen</b> om dosen.",
    ]
    (inbox / f"{number}.hl7").write_bytes(("\r".join(segments) + "\r").encode("utf-8"))


def sample_and_release(session, number, now):
    """Stand-ins for the steps around the import that other branches own: staff mark the
    order sampled (ep.domain.sampling) and the release batch (ep.domain.release)."""
    order = session.query(Order).filter_by(number=number).one()
    order.status, order.sampled_at = "sampled", now - timedelta(hours=3)
    session.commit()
    return order


def release(session, order, now):
    session.refresh(order)
    assert order.status == "resulted", order.status
    for result in session.query(Result).filter_by(order_id=order.id, superseded_at=None):
        result.released_at = now
    order.status, order.released_at = "released", now
    queue_notification(
        session, person=order.person, kind="result", dedupe_key=f"result:{order.id}", now=now
    )
    session.commit()


def test_a_resident_orders_reads_results_and_switches_to_english(
    live_server, chromium, db_session, now
):
    load_demo(db_session, now=now, history=True)
    db_session.commit()
    context = chromium.new_context(ignore_https_errors=True, locale="sv-SE")
    tab = Pages(context.new_page(), live_server.url, "resident")
    page = tab.page

    tab.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Hoppa till innehållet"
    tab.check("start")

    tab.follow(page.get_by_role("link", name="Logga in").first)
    tab.check("login")
    page.get_by_label("Personnummer").fill("19121212-1212")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_text("Inloggad som Tolvan Tolvansson")).to_be_visible()

    tab.follow(page.get_by_role("link", name="Beställ provtagning", exact=True))
    tab.check("offers")
    page.get_by_role("link", name="Beställ PK/Waran").click()
    page.get_by_role("button", name="Skicka beställningen").click()
    expect(page.get_by_role("alert").filter(has_text="Något behöver rättas")).to_be_visible()
    tab.check("order-error")
    page.get_by_label("Provtagningen City").check()
    page.get_by_role("button", name="Skicka beställningen").click()
    expect(page.get_by_text("Tack! Din beställning är klar.")).to_be_visible()
    number = ORDER_NUMBER.search(page.locator("h1").inner_text()).group(0)
    tab.check("order-placed")

    page.get_by_role("link", name="Mina beställningar", exact=True).click()
    expect(page.get_by_role("link", name=number)).to_be_visible()
    tab.check("orders")

    order = sample_and_release(db_session, number, now)
    lab_result_file(live_server.inbox, number, now)
    imported = run_ep(
        "batch", "import-results", config=live_server.config, env={"EP_LabInboxSettleSeconds": "0"}
    )
    assert imported.returncode == 0, imported.stderr
    release(db_session, order, now)
    tab.follow(page.get_by_role("link", name="Mina provsvar", exact=True))
    assert page.locator("h1").inner_text() == "Mina provsvar"
    inr_row = page.get_by_role("row").filter(has_text="P-PK(INR)").first
    assert "3,4" in inr_row.inner_text() and "Högt" in inr_row.inner_text()
    expect(page.get_by_text("<b>Kontakta mottagningen</b> om dosen.")).to_be_visible()
    assert page.locator("svg.trend").count() == 3  # HbA1c and glucose (demo), INR
    expect(page.get_by_role("img", name="Trend för B-HbA1c")).to_be_visible()
    tab.check("results")
    tab.follow(page.get_by_role("link", name="Utskriftsvänlig version"))
    tab.check("results-print")

    tab.goto(f"/orders/{db_session.query(Order.id).filter_by(number=number).scalar()}")
    tab.check("order-with-results")
    inbox = page.get_by_role("link", name=re.compile("Meddelanden"))
    expect(inbox).to_contain_text("(2 olästa)")
    tab.follow(inbox)
    tab.check("inbox")
    tab.follow(page.get_by_role("link", name="Dina provsvar är klara").first)
    tab.check("message")
    # opened is read: of the two unread (the demo's and the new result's), one is left
    expect(page.get_by_role("link", name=re.compile("Meddelanden"))).to_contain_text("(1 oläst)")

    page.get_by_role("link", name="Registrera hemtest", exact=True).click()
    page.get_by_label("Kitets kod").fill("??")
    tab.follow(page.get_by_role("button", name="Registrera"))
    tab.check("kit-error")

    tab.follow(page.get_by_role("link", name="Inställningar", exact=True))
    tab.check("settings")
    page.get_by_label("Mobilnummer").fill("12")
    page.get_by_role("button", name="Spara").click()
    expect(page.get_by_text("Skriv ett mobilnummer").first).to_be_visible()
    tab.check("settings-error")

    page.get_by_role("link", name="Vem har tittat på mina uppgifter").click()
    expect(page.get_by_role("cell", name="Vårdcentralen Tolvåsen").first).to_be_visible()
    tab.check("access-log")

    tab.follow(page.get_by_role("link", name="Mina provsvar", exact=True))
    tab.follow(page.get_by_role("button", name="English"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "My results"
    assert "High" in page.get_by_role("row").filter(has_text="P-PT(INR)").first.inner_text()
    tab.check("results-en")
    page.get_by_role("link", name="My orders", exact=True).click()
    expect(page.get_by_role("link", name=number)).to_be_visible()
    tab.check("orders-en")

    assert tab.csp_violations == []
    context.close()
