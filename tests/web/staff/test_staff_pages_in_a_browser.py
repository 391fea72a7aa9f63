"""Staff and EP.Admin in a real browser: Debian's chromium (playwright) against gunicorn
with TLS, the certificate forwarded as a trusted proxy would. axe-core checks every page
on the way (WCAG 2.1 A/AA: no serious or critical violation); screenshots are kept."""

import pytest
from playwright.sync_api import expect

from ep.domain.demo import load_demo
from ep.models import Package
from tests.browser.conftest import Pages, serve_tls
from tests.web.staff.support import add_unmatched_message, held_positive, make_order

pytestmark = pytest.mark.browser


@pytest.fixture
def staff_server(app, database_url, tmp_path, pki):
    """gunicorn over TLS on a free loopback port, client certificates from the header."""
    with serve_tls(tmp_path, database_url, **pki.settings()) as (url, _config):
        yield url


@pytest.fixture
def work(db_session, resident, other_resident, now):
    """A day's work: an order to sample, one to enter results for, a held positive, and
    an unmatched lab message."""
    load_demo(db_session, now=now)
    db_session.commit()
    packages = {p.code: p for p in db_session.query(Package)}
    to_sample = make_order(db_session, resident, packages["THYROID"], now=now)
    sampled = make_order(db_session, resident, packages["DIABETES"], now=now, status="sampled")
    held = held_positive(db_session, other_resident, packages["STI-HOME"], now)
    payload = b"MSH|^~\\&|LIMS|KLINKEM|EP|REGION|20261126143005+0100||ORU^R01|KK-9|P|2.5.1\r"
    add_unmatched_message(db_session, payload, personnummer=resident.personnummer, now=now)
    return dict(to_sample=to_sample, sampled=sampled, held=held)


def signed_in(chromium, server, pki, user, name):
    context = chromium.new_context(
        ignore_https_errors=True, locale="sv-SE", extra_http_headers=pki.header(user)
    )
    return Pages(context.new_page(), server, name)


def test_staff_work_their_day_in_a_browser_and_every_page_passes_axe(
    staff_server, chromium, pki, staff_user, work
):
    tab = signed_in(chromium, staff_server, pki, staff_user, "staff")
    page = tab.page

    tab.goto("/staff/")
    tab.check("find-patient")
    page.get_by_label("Personnummer").fill("1912")
    page.get_by_role("button", name="Sök").click()
    expect(page.get_by_role("alert").filter(has_text="Rätta följande")).to_be_visible()
    tab.check("find-patient-error")
    page.get_by_label("Personnummer").fill("19121212-1212")
    page.get_by_role("button", name="Sök").click()
    expect(page.get_by_role("heading", name="Tolvan Tolvansson, 19121212-1212")).to_be_visible()
    tab.check("patient")
    page.get_by_role("button", name="Tilldela erbjudande").click()
    expect(page.get_by_text("Välj ett provpaket.").first).to_be_visible()
    tab.check("assign-offer-error")

    page.get_by_role("link", name="Provtagning", exact=True).click()
    page.get_by_label("Personnummer").fill("191212121212")
    page.get_by_role("button", name="Visa öppna beställningar").click()
    expect(page.get_by_role("heading", name="Öppna beställningar")).to_be_visible()
    tab.check("open-orders")
    number = work["to_sample"].number
    page.get_by_role("button", name=f"Markera {number} som provtagen").click()
    expect(page.get_by_text(f"Beställning {number} är markerad som provtagen.")).to_be_visible()
    tab.check("sampled")

    tab.goto(f"/staff/orders/{work['sampled'].id}/results")
    tab.check("results-form")
    page.locator("#value-NPU27300").fill("fyrtio")
    page.get_by_role("button", name="Spara provsvar").click()
    expect(page.get_by_text("Skriv ett tal, till exempel 5,4.").first).to_be_visible()
    tab.check("results-form-error")

    page.get_by_role("link", name="Arbetslista STI-positiva").click()
    expect(page.get_by_role("heading", name="Greta Granskare, 19811228-9874")).to_be_visible()
    tab.check("worklist")
    tab.follow(page.get_by_role("link", name="Registrera kontakten med Greta Granskare"))
    tab.check("contact")
    page.get_by_role("button", name="Bekräfta kontakten och visa svaret").click()
    expect(page.get_by_text("Inga svar väntar på kontakt.")).to_be_visible()

    page.get_by_role("link", name="Omatchade provsvar").click()
    expect(
        page.get_by_role("cell", name="Beställning EP-0000-0000 finns inte i EP")
    ).to_be_visible()
    tab.check("unmatched")
    page.get_by_role("row").nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", name="Vad labbet skickade")).to_be_visible()
    tab.check("unmatched-message")
    assert not tab.csp_violations


def test_an_admin_keeps_the_catalogue_in_a_browser_and_every_page_passes_axe(
    staff_server, chromium, pki, admin_user, work
):
    tab = signed_in(chromium, staff_server, pki, admin_user, "admin")
    page = tab.page
    for label, path in (
        ("packages", "/EP.Admin/packages"),
        ("package-new", "/EP.Admin/packages/new"),
        ("analyses", "/EP.Admin/analyses"),
        ("analysis-new", "/EP.Admin/analyses/new"),
        ("locations", "/EP.Admin/locations"),
        ("location-new", "/EP.Admin/locations/new"),
    ):
        tab.goto(path)
        tab.check(label)
    tab.goto("/EP.Admin/packages/new")
    page.get_by_role("button", name="Spara provpaket").click()
    expect(page.get_by_text("Välj minst en analys.").first).to_be_visible()
    tab.check("package-error")
    tab.goto("/EP.Admin/audit")
    page.get_by_label("Patientens personnummer").fill("19121212-1212")
    page.get_by_role("button", name="Sök").click()
    expect(page.get_by_role("heading", name="händelser, sida 1 av 1")).to_be_visible()
    tab.check("audit")
    assert not tab.csp_violations
