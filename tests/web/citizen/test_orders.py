import re

from ep.identity import parse_order_number
from ep.models import Kit, Offer, Order, SamplingLocation
from tests.web.citizen.conftest import Browser, csrf_token

ORDER_NUMBER = re.compile(r"EP-[0-9A-Z]{4}-[0-9A-Z]{4}")


def _order_link(page, package):
    match = re.search(rf'href="(/order/{package.id}(?:\?offer=\d+)?)"', page)
    assert match, f"no order link for {package.code}"
    return match.group(1).replace("&amp;", "&")


def test_offers_list_what_staff_assigned_but_not_packages_for_another_age(as_resident, catalogue):
    page = as_resident.page("/offers")
    assert "Diabeteskontroll" in page
    assert "PK/Waran" in page
    assert "Återkommer var 3:e månad." in page
    assert "Klamydia och gonorré hemtest" not in page  # 15–29 years; Tolvan is over 100


def test_a_young_resident_may_order_the_generally_available_home_test(
    browser, young_resident, catalogue
):
    browser.login(young_resident.personnummer)
    page = browser.page("/offers")
    assert "Klamydia och gonorré hemtest" in page
    assert "Diabeteskontroll" not in page


def test_ordering_at_a_sampling_location_gives_an_order_number_and_expiry(
    as_resident, catalogue, db_session
):
    link = _order_link(as_resident.page("/offers"), catalogue["PK-WARAN"])
    form = as_resident.page(link)
    assert "Beställningen gäller i 14 dagar." in form
    location = db_session.query(SamplingLocation).filter_by(code="PROV-CITY").one()
    response = as_resident.submit(link, data={"where": str(location.id)})
    page = response.get_data(as_text=True)
    assert "Tack! Din beställning är klar." in page
    number = ORDER_NUMBER.search(page).group(0)
    assert parse_order_number(number) == number
    db_session.rollback()  # end the test's read snapshot: see what the request wrote
    order = db_session.query(Order).filter_by(number=number).one()
    assert order.location_id == location.id
    assert order.expires_at.date().isoformat() in page or "Gäller till" in page
    assert "Provtagningen City" in page
    # a one-off offer is used up; the orders page lists the order
    assert "PK/Waran" not in as_resident.page("/offers")
    assert number in as_resident.page("/orders")
    assert db_session.get(Offer, order.offer_id).status == "ordered"


def test_an_order_without_a_place_chosen_says_what_is_missing(as_resident, catalogue):
    link = _order_link(as_resident.page("/offers"), catalogue["DIABETES"])
    response = as_resident.submit(link, data={})
    page = response.get_data(as_text=True)
    assert "Välj var du vill lämna provet." in page
    assert 'aria-describedby="where-error"' in page
    assert 'href="#where-1"' in page  # the error summary links to the first choice


def test_an_order_can_be_cancelled_until_it_is_sampled(as_resident, catalogue, db_session):
    link = _order_link(as_resident.page("/offers"), catalogue["PK-WARAN"])
    location = db_session.query(SamplingLocation).first()
    as_resident.submit(link, data={"where": str(location.id)})
    db_session.rollback()
    order = db_session.query(Order).one()
    response = as_resident.submit(f"/orders/{order.id}/cancel")  # the page that asks first
    page = response.get_data(as_text=True)
    assert f"Beställningen {order.number} är avbeställd." in page
    assert "Avbeställd" in page
    db_session.rollback()
    assert db_session.get(Order, order.id).status == "cancelled"
    assert "PK/Waran" in as_resident.page("/offers")  # the offer can be ordered again


def test_a_sampled_order_cannot_be_cancelled(as_resident, catalogue, db_session, now):
    link = _order_link(as_resident.page("/offers"), catalogue["PK-WARAN"])
    location = db_session.query(SamplingLocation).first()
    as_resident.submit(link, data={"where": str(location.id)})
    db_session.rollback()
    order = db_session.query(Order).one()
    page = as_resident.page(f"/orders/{order.id}")
    token = csrf_token(page)
    order.status, order.sampled_at = "sampled", now
    db_session.commit()
    page = as_resident.page(f"/orders/{order.id}")
    assert f"/orders/{order.id}/cancel" not in page
    response = as_resident.get(f"/orders/{order.id}/cancel")
    assert response.status_code == 302  # nothing to ask: back to the order
    response = as_resident.client.post(
        f"/orders/{order.id}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert "provet är redan taget" in response.get_data(as_text=True)
    db_session.rollback()
    assert db_session.get(Order, order.id).status == "sampled"


def test_a_home_kit_is_ordered_and_registered_by_its_code(
    browser, young_resident, catalogue, db_session
):
    browser.login(young_resident.personnummer)
    link = _order_link(browser.page("/offers"), catalogue["STI-HOME"])
    response = browser.submit(link, data={"where": "home", "address": "Storgatan 1, 211 34 Malmö"})
    page = response.get_data(as_text=True)
    assert "Storgatan 1, 211 34 Malmö" in page
    assert "Registrera hemtestets kod" in page
    assert "Visa beställningsnumret" not in page  # nothing to show at a site
    assert re.search(r'aria-current="step"[^>]*>Beställt', page)
    response = browser.submit("/kit", data={"code": "kit-4711-abcd"})
    page = response.get_data(as_text=True)
    assert "Kitet KIT-4711-ABCD är registrerat på dig." in page
    assert re.search(r'aria-current="step"[^>]*>Registrerat av dig', page)
    db_session.rollback()
    order = db_session.query(Order).one()
    kit = db_session.query(Kit).one()
    assert order.kit_id == kit.id and kit.person_id == young_resident.id
    assert order.delivery_address == "Storgatan 1, 211 34 Malmö"


def test_my_orders_say_where_a_home_kit_is_rather_than_waiting_for_sampling(
    browser, young_resident, catalogue
):
    browser.login(young_resident.personnummer)
    link = _order_link(browser.page("/offers"), catalogue["STI-HOME"])
    browser.submit(link, data={"where": "home", "address": "Storgatan 1, 211 34 Malmö"})
    assert '<td data-label="Status">Beställt</td>' in browser.page("/orders")

    page = browser.submit("/kit", data={"code": "kit-4711-abcd"}).get_data(as_text=True)

    assert "<dt>Status</dt><dd>Registrerat av dig</dd>" in page
    orders = browser.page("/orders")
    assert '<td data-label="Status">Registrerat av dig</td>' in orders
    assert "väntar på provtagning" not in orders


def test_a_home_kit_needs_the_address_it_is_posted_to_and_the_next_order_offers_it_again(
    browser, young_resident, catalogue, db_session
):
    browser.login(young_resident.personnummer)
    link = _order_link(browser.page("/offers"), catalogue["STI-HOME"])
    response = browser.submit(link, data={"where": "home", "address": " "})
    assert response.status_code == 200
    assert "Skriv adressen dit kitet ska skickas" in response.get_data(as_text=True)
    assert db_session.query(Order).count() == 0
    browser.submit(link, data={"where": "home", "address": "Storgatan  1,\n211 34 Malmö"})
    db_session.rollback()
    first = db_session.query(Order).one()
    browser.submit(f"/orders/{first.id}/cancel")
    assert 'value="Storgatan 1, 211 34 Malmö"' in browser.page(link)


def test_the_kit_qr_code_opens_the_kit_page_with_the_code_filled_in(as_resident):
    page = as_resident.page("/kit?code=KIT-4711-ABCD")
    assert 'value="KIT-4711-ABCD"' in page


def test_a_malformed_kit_code_is_explained(browser, young_resident, catalogue):
    browser.login(young_resident.personnummer)
    response = browser.submit("/kit", data={"code": "<b>"})
    page = response.get_data(as_text=True)
    assert "Koden ska ha 6–40 bokstäver" in page
    assert "&lt;b&gt;" in page and "<b>" not in page


def test_a_kit_without_a_home_test_order_cannot_be_registered(as_resident):
    response = as_resident.submit("/kit", data={"code": "KIT-0001-ZZZZ"})
    assert "Koden kan inte registreras." in response.get_data(as_text=True)


def test_a_package_not_offered_to_the_resident_cannot_be_ordered_by_url(as_resident, catalogue):
    assert as_resident.get(f"/order/{catalogue['THYROID'].id}").status_code == 404
    assert as_resident.get(f"/order/{catalogue['STI-HOME'].id}").status_code == 404


def test_an_order_form_posted_without_its_token_is_refused(as_resident, catalogue, db_session):
    link = _order_link(as_resident.page("/offers"), catalogue["PK-WARAN"])
    location = db_session.query(SamplingLocation).first()
    response = as_resident.client.post(link, data={"where": str(location.id)})
    assert response.status_code == 400
    db_session.rollback()
    assert db_session.query(Order).count() == 0


def test_other_residents_do_not_see_my_orders(
    as_resident, catalogue, other_resident, dev_app, db_session
):
    link = _order_link(as_resident.page("/offers"), catalogue["PK-WARAN"])
    location = db_session.query(SamplingLocation).first()
    as_resident.submit(link, data={"where": str(location.id)})
    other = Browser(dev_app.test_client())
    other.login(other_resident.personnummer)
    assert "EP-" not in other.page("/orders")
