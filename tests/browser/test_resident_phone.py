"""Every resident page on a phone and on a desktop, in Swedish and in English.

At 360, 375, 768 and 1280 px each page must fit its width (no sideways scrolling), show
no text under 12 px (the chart's labels included, as drawn) and pass axe-core with no
serious or critical violation. The widths measured at 360 px are written to
test-artifacts/browser/<database>/phone-widths.json, and a screenshot of each page at 360 px
is kept.
"""

import json

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from ep.domain import orders as order_service
from ep.domain.demo import load_demo
from ep.models import InboxMessage, Offer, Package, Person, SamplingLocation
from tests.browser.conftest import ARTIFACTS, Pages

pytestmark = pytest.mark.browser
WIDTHS = (360, 375, 768, 1280)
# axe-core once per layout (the style sheet's breakpoints are 40rem and 48rem): the phone's
# and the desktop's; the layout itself is measured at every width
AXE_WIDTHS = (360, 1280)
SMALLEST_TEXT_PX = 12

# what a page shows as it is drawn: the document's width, and each piece of visible text
# smaller than 12 px after the SVG's scaling (getScreenCTM) is applied
MEASURE = """(smallest) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!node.textContent.trim() || !element) continue;
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // not drawn, or visually hidden
    let size = parseFloat(getComputedStyle(element).fontSize);
    if (element instanceof SVGElement) size *= element.getScreenCTM().a;
    if (size < smallest - 0.01) small.push(`${node.textContent.trim()} (${size.toFixed(1)} px)`);
  }
  return {
    scroll: document.scrollingElement.scrollWidth,
    inner: window.innerWidth,
    small: small.slice(0, 5),
  };
}"""

# the unit label of a trend chart must not overlap a tick label
OVERLAPS = """() => {
  const overlaps = [];
  for (const svg of document.querySelectorAll('svg.trend')) {
    const unit = svg.querySelector('.unit');
    if (!unit) continue;
    const u = unit.getBoundingClientRect();
    for (const tick of svg.querySelectorAll('.tick')) {
      const t = tick.getBoundingClientRect();
      if (u.left < t.right && t.left < u.right && u.top < t.bottom && t.top < u.bottom)
        overlaps.push(`${unit.textContent} over ${tick.textContent}`);
    }
  }
  return overlaps;
}"""


def resident_pages(session, now) -> list[tuple[str, str]]:
    """The demo resident with two years of results, an open order at a sampling site, a
    home-kit order and an unread message; (label, path) for every page they can open."""
    load_demo(session, now=now, history=True)
    person = session.scalar(select(Person).where(Person.personnummer == "191212121212"))
    diabetes = session.scalar(select(Package).where(Package.code == "DIABETES"))
    location = session.scalar(select(SamplingLocation).where(SamplingLocation.code == "PROV-CITY"))
    offer = session.scalar(select(Offer).where(Offer.package_id == diabetes.id))
    warfarin = session.scalar(select(Offer).where(Offer.package_id != diabetes.id))
    ordered = order_service.place_order(
        session, person=person, package=diabetes, offer=offer, location=location,
        home_kit=False, now=now,
    )  # fmt: skip
    released = session.scalars(
        select(InboxMessage).where(InboxMessage.person_id == person.id)
    ).first()
    session.commit()
    history = next(o for o in order_service.my_orders(session, person=person) if o.released_at)
    return [
        ("start", "/"),
        ("offers", "/offers"),
        ("order-form", f"/order/{warfarin.package_id}?offer={warfarin.id}"),
        ("orders", "/orders"),
        ("order-open", f"/orders/{ordered.id}"),
        ("order-cancel", f"/orders/{ordered.id}/cancel"),
        ("order-results", f"/orders/{history.id}"),
        ("kit", "/kit"),
        ("results", "/results"),
        ("results-print", "/results/print"),
        ("inbox", "/inbox"),
        ("message", f"/inbox/{released.id}" if released else "/inbox"),
        ("settings", "/settings"),
        ("access-log", "/access-log"),
        ("access-log-print", "/access-log?print=1"),
        ("kit", "/kit?code=KIT-4711-ABCD"),
        ("accessibility", "/tillganglighet"),
        ("privacy", "/personuppgifter"),
        ("cookies", "/kakor"),
        ("not-found", "/no-such-page"),
    ]


def log_in(tab: Pages, language: str) -> None:
    page = tab.page
    tab.goto("/login")
    page.locator("#personnummer").fill("19121212-1212")
    tab.follow(page.locator("main form button[type=submit]"))
    if language == "en":
        tab.follow(page.locator(".language-switch button"))
    assert page.locator("html").get_attribute("lang") == language


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_resident_page_fits_a_phone_and_a_desktop(
    live_server, chromium, db_session, now, language
):
    pages = resident_pages(db_session, now)
    context = chromium.new_context(
        ignore_https_errors=True, locale="sv-SE", viewport={"width": 1280, "height": 900}
    )
    tab = Pages(context.new_page(), live_server.url, f"phone-{language}")
    log_in(tab, language)
    problems, widths = [], {}
    for label, path in pages:
        response = tab.page.goto(tab.base_url + path)
        expected = 404 if label == "not-found" else 200
        if response.status != expected:
            problems.append(f"{label} {path}: HTTP {response.status}")
            continue
        for width in WIDTHS:
            tab.page.set_viewport_size({"width": width, "height": 800})
            drawn = tab.page.evaluate(MEASURE, SMALLEST_TEXT_PX)
            if width == 360:
                widths[label] = drawn["scroll"]
                tab.page.screenshot(
                    path=str(ARTIFACTS / f"phone-{language}-{label}-360.png"), full_page=True
                )
            if drawn["scroll"] > drawn["inner"]:
                problems.append(f"{label} at {width}: {drawn['scroll']} px wide")
            if drawn["small"]:
                problems.append(f"{label} at {width}: small text {drawn['small']}")
            if overlaps := tab.page.evaluate(OVERLAPS):
                problems.append(f"{label} at {width}: {overlaps}")
            if width not in AXE_WIDTHS:
                continue
            try:
                tab.check(f"{label}-{width}")
            except AssertionError as failure:
                problems.append(str(failure))
    (ARTIFACTS / f"phone-widths-{language}.json").write_text(json.dumps(widths, indent=1))
    context.close()
    assert tab.csp_violations == []
    assert not problems, "\n".join(problems)


WORDS = {
    "sv": {
        "menu": "Meny",
        "todo": "Att göra",
        "results": "Mina provsvar",
        "messages": "Meddelanden",
        "read": "Läst",
        "cancel": "Avbeställ",
        "keep": "Nej, behåll beställningen",
        "confirm": "Ja, avbeställ",
        "cancelled": "är avbeställd",
        "statement": "Tillgänglighetsredogörelse",
        "not_found": "Sidan finns inte",
    },
    "en": {
        "menu": "Menu",
        "todo": "To do",
        "results": "My results",
        "messages": "Messages",
        "read": "Read",
        "cancel": "Cancel the order",
        "keep": "No, keep the order",
        "confirm": "Yes, cancel",
        "cancelled": "is cancelled",
        "statement": "Accessibility statement",
        "not_found": "The page does not exist",
    },
}


@pytest.mark.parametrize("language, width", [("sv", 360), ("en", 360), ("sv", 1280), ("en", 1280)])
def test_a_resident_finds_their_way_on_a_phone_and_a_desktop(
    live_server, chromium, db_session, now, language, width
):
    """The menu, the start page, folded occasions, a message read by opening it, a
    cancellation that asks first, the footer's statement and a 404, as a resident uses them."""
    pages = dict(resident_pages(db_session, now))
    words = WORDS[language]
    context = chromium.new_context(
        ignore_https_errors=True, locale="sv-SE", viewport={"width": width, "height": 800}
    )
    tab = Pages(context.new_page(), live_server.url, f"use-{language}-{width}")
    page = tab.page
    log_in(tab, language)
    tab.goto("/")
    expect(page.get_by_role("heading", name=words["todo"])).to_be_visible()

    results_link = page.locator(".site-nav").get_by_role("link", name=words["results"], exact=True)
    if width < 768:  # one line until opened
        expect(results_link).to_be_hidden()
        page.locator(".menu > summary").filter(has_text=words["menu"]).click()
    expect(results_link).to_be_visible()
    tab.follow(results_link)
    # a phone reads each result as a card of labelled lines, a desktop keeps the table
    newest = page.locator("table.results").first
    shown_as = newest.evaluate("table => getComputedStyle(table).display")
    assert shown_as == ("block" if width < 640 else "table"), (width, shown_as)
    earlier = page.locator("details.occasion").first
    expect(earlier.locator("table")).to_be_hidden()
    earlier.locator("summary").click()
    expect(earlier.locator("table")).to_be_visible()
    tab.check("results-opened")

    tab.goto(pages["message"])
    tab.goto("/inbox")
    expect(page.locator("tbody tr").first).to_contain_text(words["read"])

    tab.goto(pages["order-open"])
    tab.follow(page.locator("main").get_by_role("link", name=words["cancel"], exact=True))
    tab.check("cancel-question")
    tab.follow(page.get_by_role("link", name=words["keep"]))
    tab.follow(page.locator("main").get_by_role("link", name=words["cancel"], exact=True))
    tab.follow(page.get_by_role("button", name=words["confirm"]))
    expect(page.get_by_role("status")).to_contain_text(words["cancelled"])

    tab.follow(page.locator("footer").get_by_role("link", name=words["statement"]))
    expect(page.locator("h1")).to_contain_text(words["statement"])
    page.goto(live_server.url + "/no-such-page")
    expect(page.locator("h1")).to_have_text(words["not_found"])
    tab.check("not-found")
    assert tab.csp_violations == []
    context.close()
