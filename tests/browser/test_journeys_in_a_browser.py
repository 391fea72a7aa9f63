"""The journeys of issue 16 walked end to end in chromium, in Swedish and in English.

- A home kit from order to answered result: the resident orders it (the address
  confirmed), staff post it and print its QR label, the resident opens the QR link and
  registers the kit, the lab's result carries only the kit code (HL7 v2 SPM-2, or a FHIR
  R4 Specimen), IMPORTRESULTS matches it, NOTIFYRESULTS releases it, and the resident
  reads the answer and what it means. The kit's step is read off the page at each turn.
- A positive chlamydia result: imported (the kit code in OBR-2), held by NOTIFYRESULTS,
  kept from the resident, released by staff after the confirmation page with a contact
  note that EP.Admin then reads in the audit log, and the resident's guidance (free
  treatment, contact tracing, who calls) on the results page and in the print view.
- The desk: one search field that finds a resident by personnummer, order number or
  kit code.

Resident pages are walked on a 360 px phone, staff and EP.Admin at desktop width. One
gunicorn and one chromium serve the whole module; each test makes its own data (the
tables are emptied per test) and its own browser contexts. The batches run in this
process through the runner `ep batch` uses, against the server's own ep.ini.
"""

import json
import os
import re
from datetime import timedelta

import pytest
import segno
from playwright.sync_api import expect
from sqlalchemy import select

from ep.batches.import_results import IMPORTRESULTS
from ep.batches.notify_results import NOTIFYRESULTS
from ep.batches.runner import batch_session, run_batch
from ep.config import load_config
from ep.domain import orders as order_service
from ep.domain.demo import DEMO_USERS, load_demo
from ep.extensions import db
from ep.models import Order, Package, Person, SamplingLocation
from tests.browser.conftest import LiveServer, Pages, launched_chromium, serve_tls

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 780}
PERSONNUMMER = "20050101-2389"  # 21 in 2026: the chlamydia home test is for ages 15-29
NAME = "Alva Andersson"
ADDRESS = "Storgatan 1, 211 34 Malmö"
STAFF = next(u for u in DEMO_USERS if "staff" in u.roles)
ADMIN = next(u for u in DEMO_USERS if "admin" in u.roles)

# what each page says, in each language (the English from ep/translations)
WORDS = {
    "sv": dict(
        login="Logga in",
        personnummer="Personnummer",
        order_link="Beställ Klamydia och gonorré hemtest",
        home_test="Hemtest",
        address="Adress för hemtestet",
        send_order="Skicka beställningen",
        address_required="Skriv adressen dit kitet ska skickas: gata, postnummer och ort.",
        ordered="Tack! Din beställning är klar.",
        here="här är det nu",
        steps=dict(
            ordered="Beställt",
            sent="Skickat till dig",
            registered="Registrerat av dig",
            received="Mottaget av labbet",
            answered="Besvarat",
        ),
        register_prompt="Registrera hemtestets kod när du har fått kitet.",
        kit_code="Kitets kod",
        register="Registrera",
        kit_registered="Kitet {code} är registrerat på dig.",
        status_received="Svar har kommit, granskas",
        status_released="Svar finns",
        results_later="Svaren visas här när de är klara.",
        no_results="Du har inga provsvar ännu.",
        print="Utskriftsvänlig version",
        chlamydia="Klamydia (C. trachomatis) DNA",
        negative="Negativt",
        positive="Positivt",
        meaning="Vad svaret betyder:",
        next_step="Nästa steg:",
        no_chlamydia="Provet visar ingen klamydia.",
        chlamydia_found="Provet visar att du har klamydia.",
        guidance=(
            "Behandlingen är gratis.",
            "Vårdpersonal har kontaktat dig",
            "smittspårning",
        ),
        search_label="Personnummer, ordernummer eller kitkod",
        search="Sök",
        not_found="Ingen beställning har det ordernumret eller den koden.",
        kit_field="Kod på kitet som skickas",
        mark_sent="Markera kitet som skickat",
        label="Etikett för kit {code}",
        back_to_patient="Tillbaka till patienten",
        staff_steps=dict(sent="Skickat", answered="Besvarat"),
        worklist="Arbetslista STI-positiva",
        record_contact=f"Registrera kontakten med {NAME}",
        contact_heading=f"Registrera kontakt med {NAME}",
        phone="Telefon",
        when="När",
        note="Anteckning",
        note_text="Behandling bokad, smittspårning påbörjad.",
        confirm="Bekräfta kontakten och visa svaret",
        contact_done="Kontakten är registrerad och svaret för {number} visas nu.",
        none_waiting="Inga svar väntar på kontakt.",
        audit_personnummer="Patientens personnummer",
    ),
    "en": dict(
        login="Log in",
        personnummer="Personal identity number",
        order_link="Order Chlamydia and gonorrhoea home test",
        home_test="Home test",
        address="Address for the home test",
        send_order="Send the order",
        address_required="Enter the address to send the kit to: street, postcode and town.",
        ordered="Thank you! Your order is placed.",
        here="it is here now",
        steps=dict(
            ordered="Ordered",
            sent="Sent to you",
            registered="Registered by you",
            received="Received by the lab",
            answered="Answered",
        ),
        register_prompt="Register the home test code when you have received the kit.",
        kit_code="Kit code",
        register="Register",
        kit_registered="Kit {code} is registered to you.",
        status_received="Results have arrived, being reviewed",
        status_released="Results available",
        results_later="The results are shown here when they are ready.",
        no_results="You have no results yet.",
        print="Printable version",
        chlamydia="Chlamydia (C. trachomatis) DNA",
        negative="Negative",
        positive="Positive",
        meaning="What this result means:",
        next_step="Next step:",
        no_chlamydia="The test shows no chlamydia.",
        chlamydia_found="The test shows that you have chlamydia.",
        guidance=(
            "Treatment is free.",
            "Care staff have contacted you",
            "contact tracing",
        ),
        search_label="Personnummer, order number or kit code",
        search="Search",
        not_found="No order has that order number or code.",
        kit_field="Code on the kit being sent",
        mark_sent="Mark the kit as sent",
        label="Label for kit {code}",
        back_to_patient="Back to the patient",
        staff_steps=dict(sent="Sent", answered="Answered"),
        worklist="STI-positive worklist",
        record_contact=f"Record the contact with {NAME}",
        contact_heading=f"Record contact with {NAME}",
        phone="Phone",
        when="When",
        note="Note",
        note_text="Treatment booked, contact tracing started.",
        confirm="Confirm the contact and show the result",
        contact_done="The contact is recorded and the result of {number} is now shown.",
        none_waiting="No results are waiting for contact.",
        audit_personnummer="The patient's personnummer",
    ),
}
LANGUAGES = list(WORDS)


# -- one server and one browser for the module --


@pytest.fixture(scope="module")
def server(migrated, pki, tmp_path_factory):
    """gunicorn over TLS: the dev login for residents, staff certificates from the header."""
    folder = tmp_path_factory.mktemp("journeys")
    with serve_tls(folder, migrated, **pki.settings()) as (url, config):
        yield LiveServer(url, config, folder / "inbox")


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def open_tab(browser, server, pki):
    """``open_tab(name, lang, user=None)``: a tab in its own context, in ``lang``; a
    resident's on a phone, a user's (staff, EP.Admin) with their certificate."""
    contexts = []

    def open_tab(name: str, lang: str, user=None) -> Pages:
        if user is None:
            context = browser.new_context(ignore_https_errors=True, viewport=PHONE)
            start = "/"
        else:
            context = browser.new_context(
                ignore_https_errors=True, extra_http_headers=pki.header(user.hsa_id)
            )
            start = "/EP.Admin/audit" if "admin" in user.roles else "/staff/"
        contexts.append(context)
        tab = Pages(context.new_page(), server.url, f"journey-{name}-{lang}")
        tab.goto(start)
        if lang == "en":
            tab.page.get_by_role("button", name="English").click()
            expect(tab.page.locator("html")).to_have_attribute("lang", "en")
        return tab

    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture
def alva(db_session, now):
    """The demo catalogue and users, and Alva, 21: the chlamydia home test is hers to order."""
    load_demo(db_session, now=now)
    person = Person(
        personnummer=PERSONNUMMER.replace("-", ""),
        given_name="Alva",
        family_name="Andersson",
        mobile="+46701112233",
        email="alva@example.invalid",
        channel="email",
        created_at=now,
    )
    db_session.add(person)
    db_session.commit()
    return person


def logged_in(tab: Pages, words: dict) -> Pages:
    page = tab.page
    tab.goto("/login")
    page.get_by_label(words["personnummer"]).fill(PERSONNUMMER)
    page.get_by_role("button", name=words["login"], exact=True).click()
    expect(page.get_by_text(NAME).first).to_be_attached()
    return tab


# -- the lab and the batches --


def lab_message(server: LiveServer, name: str, content: bytes, now) -> None:
    """Drop a file in the server's inbox as a lab does: written, then left to settle."""
    path = server.inbox / name
    path.write_bytes(content)
    settled = (now - timedelta(minutes=1)).timestamp()
    os.utime(path, (settled, settled))


def hl7_oru(*, control_id: str, obr_2: str = "", spm_2: str | None = None, chlamydia: str, now):
    """An HL7 v2.5.1 ORU^R01 from the microbiology lab: chlamydia as given, gonorrhoea
    negative; the order named by OBR-2 and/or the specimen id SPM-2 (a kit's code)."""
    word = "Negativ" if chlamydia == "NEG" else "Positiv"
    stamp = now.strftime("%Y%m%d%H%M%S+0000")
    segments = [
        f"MSH|^~\\&|MIKRO|KLINMIKRO_SUS|EP|REGION|{stamp}||ORU^R01^ORU_R01|{control_id}|P|"
        "2.5.1|||||||UNICODE UTF-8",
        f"PID|1||{PERSONNUMMER.replace('-', '')}^^^SE-PNR^PN||Andersson^Alva",
        f"OBR|1|{obr_2}|LAB-{control_id}|STI^Klamydia och gonorré^L|||{stamp}",
        f"OBX|1|CWE|21613-5^Klamydia (C. trachomatis) DNA^LN||{chlamydia}^{word}^L||Negativ|"
        f"{chlamydia}|||F",
        "OBX|2|CWE|24111-7^Gonorré (N. gonorrhoeae) DNA^LN||NEG^Negativ^L||Negativ|NEG|||F",
    ]
    if spm_2 is not None:
        segments.append(f"SPM|1|{spm_2}^LAB-{control_id}||SWAB")
    return ("\r".join(segments) + "\r").encode("utf-8")


def fhir_report(*, kit_code: str, now) -> bytes:
    """A FHIR R4 DiagnosticReport naming no order: only its Specimen carries the kit code."""
    observation = dict(
        resourceType="Observation", status="final", effectiveDateTime=now.isoformat()
    )
    report = {
        "resourceType": "DiagnosticReport",
        "id": f"sti-{kit_code.lower()}",
        "status": "final",
        "code": {"text": "Klamydia och gonorré"},
        "subject": {"identifier": {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": PERSONNUMMER}},
        "performer": [{"identifier": {"value": "KLINMIKRO_SUS"}}],
        "specimen": [{"reference": "#kit"}],
        "result": [{"reference": "#ct"}, {"reference": "#ng"}],
        "contained": [
            {
                "resourceType": "Specimen",
                "id": "kit",
                "identifier": [{"system": "urn:region:home-kit", "value": kit_code}],
            },
            {
                **observation,
                "id": "ct",
                "code": {"coding": [{"system": "http://loinc.org", "code": "21613-5"}]},
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "260385009",
                            "display": "Negativ",
                        }
                    ]
                },
                "interpretation": [{"coding": [{"code": "NEG"}]}],
                "referenceRange": [{"text": "Negativ"}],
            },
            {
                **observation,
                "id": "ng",
                "code": {"coding": [{"system": "http://loinc.org", "code": "24111-7"}]},
                "valueString": "Negativ",
            },
        ],
    }
    return json.dumps(report).encode("utf-8")


def run(batch, server: LiveServer):
    """Run a batch once as `ep batch …` would, against the server's installation."""
    config = load_config(server.config, environ={})
    outcome = run_batch(batch, session=batch_session(db.engine), config=config)
    assert outcome.status == "succeeded", outcome
    return outcome


# -- what the resident sees of a home kit --


def expect_kit_step(page, words: dict, step: str) -> None:
    """The order page marks the kit's step, in words, as the current one."""
    current = page.locator("ol.kit-steps li[aria-current=step]")
    expect(current).to_have_text(f"{words['steps'][step]} ({words['here']})")


def expect_status(page, text: str) -> None:
    expect(page.locator("dl.facts dd").filter(has_text=text)).to_have_count(1)


def expect_fits_the_phone(page) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]


def result_row(page, words: dict):
    return page.get_by_role("row").filter(has_text=words["chlamydia"])


# -- a) a home kit, from order to answered result --


@pytest.mark.parametrize("lab_format", ["hl7", "fhir"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_home_kit_goes_from_order_to_an_answered_result_the_lab_naming_only_the_kit(
    server, open_tab, alva, db_session, lang, lab_format, now
):
    words = WORDS[lang]
    code = f"KIT-{lang.upper()}{lab_format[0].upper()}1-4711"
    resident = logged_in(open_tab("resident", lang), words)
    page = resident.page

    # the resident orders the home test; the address must be given, then is confirmed
    resident.goto("/offers")
    page.get_by_role("link", name=words["order_link"]).click()
    page.get_by_label(words["home_test"], exact=True).check()
    page.get_by_role("button", name=words["send_order"]).click()
    expect(page.get_by_role("alert")).to_contain_text(words["address_required"])
    page.get_by_label(words["address"]).fill(ADDRESS)
    page.get_by_role("button", name=words["send_order"]).click()
    expect(page.get_by_text(words["ordered"])).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text(ADDRESS)
    expect_kit_step(page, words, "ordered")
    expect(page.get_by_role("link", name=words["register_prompt"])).to_be_visible()
    expect_fits_the_phone(page)
    number = page.locator(".order-number").inner_text()
    order_page = page.url

    # staff find her at the desk, post a kit and print its label with the QR code
    staff = open_tab("staff", lang, STAFF)
    desk = staff.page
    desk.get_by_label(words["search_label"]).fill(PERSONNUMMER)
    desk.get_by_role("button", name=words["search"]).click()
    order = desk.locator("section.order").filter(has_text=number)
    expect(order).to_contain_text(words["steps"]["ordered"])
    expect(order).to_contain_text(ADDRESS)
    order.get_by_label(words["kit_field"]).fill(code.lower())
    order.get_by_role("button", name=words["mark_sent"]).click()
    expect(desk.get_by_role("heading", name=words["label"].format(code=code))).to_be_visible()
    # the QR code on the label is the one for the kit page with the code filled in
    qr = segno.make(f"{server.url}/kit?code={code}", error="m").svg_inline(scale=5, title=code)
    drawn = desk.locator("figure.kit-label svg path").get_attribute("d")
    assert drawn == re.search(r' d="([^"]+)"', qr).group(1)
    desk.get_by_role("link", name=words["back_to_patient"]).click()
    order = desk.locator("section.order").filter(has_text=number)
    expect(order.locator(".kit-step")).to_have_text(words["staff_steps"]["sent"])

    page.goto(order_page)
    expect_kit_step(page, words, "sent")

    # the kit arrives: the resident scans its QR code, finds the code filled in, registers
    resident.goto(f"/kit?code={code}")
    expect(page.get_by_label(words["kit_code"])).to_have_value(code)
    page.get_by_role("button", name=words["register"], exact=True).click()
    expect(page.get_by_text(words["kit_registered"].format(code=code))).to_be_visible()
    expect(page.locator(".kit-code")).to_have_text(code)
    expect_kit_step(page, words, "registered")
    expect_status(page, words["steps"]["registered"])
    resident.goto("/orders")
    listed = page.get_by_role("row").filter(has=page.get_by_role("link", name=number))
    expect(listed).to_contain_text(words["steps"]["registered"])
    page.goto(order_page)

    # the lab's message names only the kit; IMPORTRESULTS finds the order by it
    if lab_format == "hl7":
        content = hl7_oru(control_id=f"MIK-{code}", spm_2=code, chlamydia="NEG", now=now)
    else:
        content = fhir_report(kit_code=code, now=now)
    lab_message(server, f"{code}.{'hl7' if lab_format == 'hl7' else 'json'}", content, now)
    assert run(IMPORTRESULTS, server).succeeded == 1
    page.reload()
    expect_kit_step(page, words, "received")
    expect_status(page, words["status_received"])
    expect(page.get_by_text(words["results_later"])).to_be_visible()

    # NOTIFYRESULTS: a negative home test is released at once
    assert run(NOTIFYRESULTS, server).succeeded >= 1
    page.reload()
    expect_kit_step(page, words, "answered")
    expect_status(page, words["status_released"])
    row = result_row(page, words)
    expect(row).to_contain_text(words["negative"])
    expect(row).to_contain_text(f"{words['meaning']} {words['no_chlamydia']}")
    expect(row.locator(".next-step")).to_contain_text(words["next_step"])
    expect_fits_the_phone(page)

    resident.goto("/results")
    row = result_row(page, words)
    expect(row).to_contain_text(words["negative"])
    expect(row).to_contain_text(words["no_chlamydia"])
    expect_fits_the_phone(page)

    # and staff see the kit answered on her page
    desk.reload()
    expect(order.locator(".kit-step")).to_have_text(words["staff_steps"]["answered"])
    expect(order.locator(".kit-code")).to_contain_text(code)
    assert not resident.csp_violations and not staff.csp_violations


# -- b) a positive chlamydia result, from the lab through staff to the resident --


def home_kit_order(session, person, *, code: str, now) -> Order:
    """Alva's home-kit order, her kit registered with ``code`` (the steps walked above)."""
    package = session.scalar(select(Package).where(Package.code == "STI-HOME"))
    order = order_service.place_order(
        session, person=person, package=package, home_kit=True, delivery_address=ADDRESS, now=now
    )
    order_service.register_kit(session, person=person, code=code, now=now)
    session.commit()
    return order


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_positive_chlamydia_result_waits_for_the_staff_call_then_tells_her_what_to_do(
    server, open_tab, alva, db_session, lang, now
):
    words = WORDS[lang]
    code = f"KIT-POS{lang.upper()}-0001"
    order = home_kit_order(db_session, alva, code=code, now=now)
    number = order.number

    # the lab names the kit in OBR-2; IMPORTRESULTS matches it, NOTIFYRESULTS holds it
    content = hl7_oru(control_id=f"MIK-{code}", obr_2=code.lower(), chlamydia="POS", now=now)
    lab_message(server, f"{code}.hl7", content, now)
    assert run(IMPORTRESULTS, server).succeeded == 1
    run(NOTIFYRESULTS, server)

    # the resident sees that the lab has it, and nothing of the result yet
    resident = logged_in(open_tab("resident", lang), words)
    page = resident.page
    resident.goto(f"/orders/{order.id}")
    expect_kit_step(page, words, "received")
    expect_status(page, words["status_received"])
    resident.goto("/results")
    expect(page.get_by_text(words["no_results"])).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Positiv")

    # staff find it on the worklist; the link asks first, with the contact note
    staff = open_tab("staff", lang, STAFF)
    desk = staff.page
    desk.get_by_role("link", name=words["worklist"]).click()
    held = desk.locator("section.order").filter(
        has=desk.get_by_role("heading", name=f"{NAME}, {PERSONNUMMER}")
    )
    expect(held).to_contain_text(number)
    expect(held.get_by_role("row").filter(has_text=words["chlamydia"])).to_contain_text(
        words["positive"]
    )
    held.get_by_role("link", name=words["record_contact"]).click()
    expect(desk.get_by_role("heading", name=words["contact_heading"])).to_be_visible()
    resident.goto("/results")  # asking released nothing
    expect(page.get_by_text(words["no_results"])).to_be_visible()
    desk.get_by_label(words["phone"], exact=True).check()
    when = desk.get_by_label(words["when"], exact=True).input_value()
    desk.get_by_label(words["note"], exact=True).fill(words["note_text"])
    desk.get_by_role("button", name=words["confirm"]).click()
    expect(desk.get_by_text(words["contact_done"].format(number=number))).to_be_visible()
    expect(desk.get_by_text(words["none_waiting"])).to_be_visible()

    # EP.Admin reads the contact in the audit log: who, when, how and the note
    admin = open_tab("admin", lang, ADMIN)
    audit = admin.page
    audit.get_by_label(words["audit_personnummer"]).fill(PERSONNUMMER)
    audit.get_by_role("button", name=words["search"]).click()
    contact = audit.get_by_role("row").filter(has_text=words["note_text"])
    expect(contact).to_contain_text(f"{STAFF.name} ({STAFF.hsa_id})")
    expect(contact).to_contain_text(STAFF.care_unit_name)
    expect(contact).to_contain_text(f"contacted by phone at {when.replace('T', ' ')}")
    expect(contact).to_contain_text(number)

    # the resident now reads the result and what happens next, on screen and on paper
    for path in ("/results", "/results/print"):
        resident.goto(path)
        row = result_row(page, words)
        expect(row).to_contain_text(words["positive"])
        expect(row.locator(".meaning")).to_contain_text(words["chlamydia_found"])
        for guidance in words["guidance"]:
            expect(row.locator(".next-step")).to_contain_text(guidance)
        expect_fits_the_phone(page)
    resident.goto(f"/orders/{order.id}")
    expect_kit_step(page, words, "answered")
    assert not resident.csp_violations and not staff.csp_violations


# -- c) the desk finds a resident by personnummer, order number or kit code --


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_desk_finds_the_resident_by_personnummer_order_number_or_kit_code(
    server, open_tab, alva, db_session, lang, now
):
    words = WORDS[lang]
    code = "KIT-DESK-2389"
    kit_order = home_kit_order(db_session, alva, code=code, now=now)
    package = db_session.scalar(select(Package).where(Package.code == "STI-HOME"))
    city = db_session.scalar(select(SamplingLocation).where(SamplingLocation.code == "PROV-CITY"))
    site_order = order_service.place_order(
        db_session, person=alva, package=package, location=city, now=now
    )
    db_session.commit()
    staff = open_tab("staff", lang, STAFF)
    desk = staff.page
    heading = desk.get_by_role("heading", name=f"{NAME}, {PERSONNUMMER}", level=1)

    def search(key: str) -> None:
        staff.goto("/staff/")
        desk.get_by_label(words["search_label"]).fill(key)
        desk.get_by_role("button", name=words["search"]).click()

    search(PERSONNUMMER.replace("-", ""))
    expect(heading).to_be_visible()
    expect(desk.locator("section.order")).to_have_count(2)

    # an order number opens her page at that order
    search(site_order.number)
    expect(heading).to_be_visible()
    found = desk.locator(f"section[aria-labelledby=order-{site_order.id}]")
    expect(found).to_contain_text(city.name)
    expect(found).to_be_in_viewport()

    # the kit's code, typed as it comes, opens her page at the kit's order, code shown
    search(code.lower().replace("-", " - ", 1))
    expect(heading).to_be_visible()
    found = desk.locator(f"section[aria-labelledby=order-{kit_order.id}]")
    expect(found.locator(".kit-code")).to_contain_text(code)
    expect(found).to_be_in_viewport()

    # a code no kit has is said so, next to the field
    search("KIT-NONE-0000")
    expect(desk.get_by_text(words["not_found"]).first).to_be_visible()
    assert not staff.csp_violations
