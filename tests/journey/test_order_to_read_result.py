"""The whole journey, each part real: a resident orders on the web, staff mark the order
sampled with a certificate, the lab's HL7 file is imported by the real `ep batch
import-results`, `ep batch notify-results` releases it and tells the resident, who reads
the result and the message."""

import re
from datetime import timedelta

from sqlalchemy import select

from ep.domain.demo import DEMO_USERS, load_demo
from ep.models import Order, Package, SamplingLocation
from tests.support import run_ep
from tests.web.citizen.conftest import Browser
from tests.web.staff.support import SignedIn

HL7 = (
    "MSH|^~\\&|LIMS|KLINKEM^1.2.752.29.4.10^ISO|EP|REGION|20261126143005+0100||ORU^R01|"
    "JOURNEY-{number}|P|2.5.1\r"
    "PID|1||{personnummer}^^^SE-PNR^PN||Tolvansson^Tolvan\r"
    "OBR|1|{number}|LAB-1|DIAB^Diabeteskontroll^L|||20261126081500+0100\r"
    "OBX|1|NM|NPU27300^B-HbA1c^NPU||48|mmol/mol|27-42|H|||F\r"
    "OBX|2|NM|NPU02192^P-Glukos^NPU||5,4|mmol/L|4,0-6,0|N|||F\r"
)


def test_order_sampled_imported_released_notified_and_read(
    make_app, app, db_session, pki, config_path, now
):
    journey_app = make_app(CitizenLogin="dev", **pki.settings())
    load_demo(db_session, now=now - timedelta(minutes=5))
    db_session.commit()
    diabetes = db_session.scalar(select(Package).where(Package.code == "DIABETES"))
    location = db_session.scalar(
        select(SamplingLocation).where(SamplingLocation.code == "PROV-CITY")
    )

    # the resident orders the offered package at a sampling location
    resident = Browser(journey_app.test_client())
    resident.login("19121212-1212")
    offers = resident.page("/offers")
    link = re.search(rf'href="(/order/{diabetes.id}\?offer=\d+)"', offers).group(1)
    placed = resident.submit(link, data={"where": str(location.id)}).get_data(as_text=True)
    number = re.search(r"EP-[0-9A-Z]{4}-[0-9A-Z]{4}", placed).group(0)
    db_session.rollback()
    order = db_session.scalar(select(Order).where(Order.number == number))
    assert order.status == "ordered"

    # staff at the sampling site find it by personnummer and mark it sampled
    staff_user = next(u for u in DEMO_USERS if "staff" in u.roles)
    staff = SignedIn(journey_app.test_client(), pki.header(staff_user.hsa_id))
    desk = staff.post(
        "/staff/sampling",
        {"personnummer": "191212121212"},
        token=staff.token("/staff/sampling"),
    )
    assert number in desk.text
    sampled = staff.post(
        f"/staff/orders/{order.id}/sampled", {}, token=staff.token("/staff/sampling")
    )
    assert sampled.status_code in (200, 302)

    # the lab drops its result; the scheduler runs the batches. The instance folder is the
    # session's: notification files of earlier tests (same ids, so maybe the same names)
    # go first
    outbox = journey_app.config["EP"].path_of("NotificationDirectory")
    for earlier in outbox.glob("result*"):
        earlier.unlink()
    inbox = journey_app.config["EP"].path_of("LabInboxDirectory")
    (inbox / f"{number}.hl7").write_text(
        HL7.format(number=number, personnummer="191212121212"), encoding="utf-8"
    )
    env = {"EP_LabInboxSettleSeconds": "0"}
    imported = run_ep("batch", "import-results", config=config_path, env=env)
    assert imported.returncode == 0, imported.stderr
    released = run_ep("batch", "notify-results", config=config_path, env=env)
    assert released.returncode == 0, released.stderr
    db_session.rollback()
    order = db_session.get(Order, order.id)
    assert order.status == "released"

    # the resident is told, without any health information, and reads the result
    notices = list(outbox.glob("result*"))
    assert len(notices) == 1
    notice = notices[0].read_text(encoding="utf-8")
    assert "Du har ett nytt meddelande i Egen provhantering." in notice
    assert "HbA1c" not in notice and "Diabetes" not in notice
    results = resident.page("/results")
    assert number in results
    assert "48" in results and "mmol/mol" in results and "27-42" in results.replace("–", "-")
    assert "Högt" in results  # the flag in words, not by colour alone
    assert "Dina provsvar är klara" in resident.page("/inbox")
