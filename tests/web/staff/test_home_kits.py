"""Staff post a home kit: its code on the order, a label with a QR code, the kit's steps."""

import re

from sqlalchemy import select

from ep.domain.orders import register_kit
from ep.models import Kit
from ep.web.staff import kit_url
from tests.web.staff.support import audit_events, make_order


def _send(staff, resident, order, code):
    token = staff.token(f"/staff/patients/{resident.id}")
    return staff.post(f"/staff/orders/{order.id}/kit", {"code": code}, token=token)


def test_staff_post_a_kit_and_print_its_label_with_a_qr_code_to_the_kit_page(
    staff, resident, catalogue, db_session, now
):
    order = make_order(
        db_session, resident, catalogue["STI-HOME"], now=now, delivery_address="Storgatan 1, Malmö"
    )
    page = staff.get(f"/staff/patients/{resident.id}").text
    assert "Storgatan 1, Malmö" in page
    assert '<dd class="kit-step">Beställt</dd>' in page  # the kit's step

    response = _send(staff, resident, order, "kit-2233-qrqr")

    assert response.status_code == 302
    label = staff.get(response.headers["Location"]).text
    assert "KIT-2233-QRQR" in label
    svg = re.search(r"<svg[^>]*>.*?</svg>", label, re.S)
    assert svg and "<script" not in label
    assert "Storgatan 1, Malmö" in label
    db_session.rollback()
    kit = db_session.scalar(select(Kit))
    assert (kit.code, kit.person_id, kit.sent_at is not None) == (
        "KIT-2233-QRQR",
        resident.id,
        True,
    )
    page = staff.get(f"/staff/patients/{resident.id}").text
    assert "KIT-2233-QRQR" in page
    assert '<dd class="kit-step">Skickat</dd>' in page
    actions = [e.details for e in audit_events(db_session, action="update:order")]
    assert actions == ["kit KIT-2233-QRQR sent"]


def test_the_qr_code_encodes_the_public_address_of_the_kit_page(make_app, app, catalogue):
    configured = make_app(PublicUrl="https://prov.region.example/")
    with configured.test_request_context("/staff/"):
        assert kit_url("KIT-2233-QRQR") == "https://prov.region.example/kit?code=KIT-2233-QRQR"


def test_a_code_another_kit_has_is_refused_next_to_the_field(
    staff, resident, catalogue, db_session, now
):
    first = make_order(db_session, resident, catalogue["STI-HOME"], now=now)
    second = make_order(db_session, resident, catalogue["STI-HOME"], now=now)
    assert _send(staff, resident, first, "KIT-2233-QRQR").status_code == 302

    response = _send(staff, resident, second, "KIT-2233-QRQR")

    assert response.status_code == 400
    assert "Ett annat kit har redan den koden." in response.text


def test_staff_read_the_kit_s_step_in_their_own_words_not_the_resident_s(
    staff, resident, catalogue, db_session, now
):
    make_order(db_session, resident, catalogue["STI-HOME"], now=now, delivery_address="Storgatan 1")
    register_kit(db_session, person=resident, code="KIT-2233-QRQR", now=now)
    db_session.commit()

    page = staff.get(f"/staff/patients/{resident.id}").text

    assert '<dd class="kit-step">Registrerat av invånaren</dd>' in page
    assert "av dig" not in page
