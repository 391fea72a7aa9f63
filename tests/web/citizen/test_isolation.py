"""A resident never reaches another resident's order, result, kit or message."""

from datetime import timedelta

import pytest

from ep.models import Kit, SamplingLocation
from tests.web.citizen.conftest import csrf_token, inbox_message, released_order


@pytest.fixture
def others(db_session, other_resident, catalogue, now):
    """Greta's released order with results, a message and a registered home kit."""
    order = released_order(
        db_session,
        other_resident,
        catalogue["THYROID"],
        when=now - timedelta(days=10),
        now=now,
        values={"NPU03577": ("9,9", 9.9, "H")},
        number="EP-GRET-A000",
    )
    kit_order = released_order(
        db_session, other_resident, catalogue["STI-HOME"], when=now, now=now, values={}
    )
    kit = Kit(
        code="KIT-GRETA-0001",
        package_id=catalogue["STI-HOME"].id,
        person_id=other_resident.id,
        registered_at=now,
    )
    db_session.add(kit)
    db_session.flush()
    kit_order.kit_id = kit.id
    message = inbox_message(
        db_session, other_resident, subject="Gretas meddelande", body="Hemligt", now=now
    )
    db_session.commit()
    return {"order": order, "kit_order": kit_order, "kit": kit, "message": message}


def test_another_residents_order_is_not_found_whatever_the_url(as_resident, others):
    for order in (others["order"], others["kit_order"]):
        assert as_resident.get(f"/orders/{order.id}").status_code == 404


def test_another_residents_order_cannot_be_cancelled(as_resident, others, db_session):
    token = csrf_token(as_resident.page("/orders"))
    order = others["kit_order"]
    order.status = "ordered"
    db_session.commit()
    response = as_resident.client.post(f"/orders/{order.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 404
    db_session.rollback()
    db_session.refresh(order)
    assert order.status == "ordered"


def test_another_residents_results_never_appear(as_resident, others):
    for url in ("/results", "/results/print"):
        page = as_resident.page(url)
        assert "9,9" not in page
        assert "EP-GRET-A000" not in page


def test_another_residents_message_is_not_found(as_resident, others, db_session):
    message = others["message"]
    assert as_resident.get(f"/inbox/{message.id}").status_code == 404
    token = csrf_token(as_resident.page("/inbox"))
    response = as_resident.client.post(f"/inbox/{message.id}/read", data={"csrf_token": token})
    assert response.status_code == 404
    assert "Gretas meddelande" not in as_resident.page("/inbox")
    db_session.rollback()
    db_session.refresh(message)
    assert message.read_at is None


def test_another_residents_kit_cannot_be_taken_over(
    browser, young_resident, catalogue, others, db_session
):
    browser.login(young_resident.personnummer)
    location_id = db_session.query(SamplingLocation.id).first()[0]
    del location_id  # the home test is ordered as a kit
    link = f"/order/{catalogue['STI-HOME'].id}"
    browser.submit(link, data={"where": "home"})
    response = browser.submit("/kit", data={"code": "KIT-GRETA-0001"})
    assert "Koden kan inte registreras." in response.get_data(as_text=True)
    db_session.rollback()
    kit = db_session.query(Kit).filter_by(code="KIT-GRETA-0001").one()
    assert kit.person_id == others["kit"].person_id


def test_names_and_comments_with_markup_are_shown_escaped(
    browser, db_session, catalogue, now, resident
):
    resident.given_name = "<script>alert('namn')</script>"
    order = released_order(
        db_session,
        resident,
        catalogue["THYROID"],
        when=now - timedelta(days=3),
        now=now,
        values={"NPU03577": ("<b>2,1</b>", 2.1, None)},
    )
    order.results = None
    db_session.flush()
    from ep.models import Result

    result = db_session.query(Result).one()
    result.comment = '<img src=x onerror="alert(1)">'
    inbox_message(db_session, resident, subject="<i>Hej</i>", body="<a href=x>x</a>", now=now)
    db_session.commit()
    browser.login(resident.personnummer)
    for url in ("/results", f"/orders/{order.id}", "/inbox", "/results/print"):
        page = browser.page(url)
        assert "<script>alert" not in page, url
        assert "<img src=x" not in page, url
        assert "<b>2,1</b>" not in page, url
        assert "<i>Hej</i>" not in page, url
    assert "&lt;script&gt;alert(&#39;namn&#39;)&lt;/script&gt;" in browser.page("/")
    assert "&lt;img src=x onerror=" in browser.page("/results")
    message_id = db_session.query(__import__("ep.models").models.InboxMessage.id).scalar()
    page = browser.page(f"/inbox/{message_id}")
    assert "&lt;i&gt;Hej&lt;/i&gt;" in page and "&lt;a href=x&gt;x&lt;/a&gt;" in page
