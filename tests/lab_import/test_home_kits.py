"""A home kit's sample reaches the lab with only the kit's code: the result finds its order."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.lab_import import import_file, inbox_files
from ep.models import Kit, Result
from ep.web.staff import unmatched_reason
from tests.lab_import.conftest import GRETA_ORDER, SAMPLES

KIT_CODE = "KIT-7Q2M-4481"


@pytest.fixture
def greta_kit(session, greta_order, now):
    """Greta's home-kit order, its kit posted with KIT_CODE."""
    kit = Kit(
        code=KIT_CODE,
        package_id=greta_order.package_id,
        person_id=greta_order.person_id,
        sent_at=now - timedelta(days=5),
        created_at=now - timedelta(days=5),
    )
    session.add(kit)
    session.flush()
    greta_order.home_kit = True
    greta_order.kit_id = kit.id
    session.commit()
    return greta_order


def _hl7(obr_2: str, spm: str | None = None) -> bytes:
    message = (SAMPLES / "oru_r01_chlamydia_cwe.hl7").read_bytes()
    message = message.replace(f"OBR|1|{GRETA_ORDER}|".encode(), f"OBR|1|{obr_2}|".encode())
    if spm is not None:
        message = message.replace(b"\rOBX|1|", f"\rSPM|1|{spm}||SWAB\rOBX|1|".encode(), 1)
    return message


def _fhir_with_specimen() -> bytes:
    report = json.loads((SAMPLES / "fhir_diagnosticreport_contained.json").read_text())
    del report["basedOn"]
    report["contained"].append(
        {
            "resourceType": "Specimen",
            "id": "kit",
            "identifier": [{"system": "urn:region:kit", "value": KIT_CODE.lower()}],
        }
    )
    report["specimen"] = [{"reference": "#kit"}]
    return json.dumps(report).encode()


def _import_one(session, config, now):
    [path] = inbox_files(config, now=now)
    return import_file(session, path, config, now=now)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("spm.hl7", _hl7("", spm=f"{KIT_CODE}^LAB-99812")),
        ("obr.hl7", _hl7(KIT_CODE.lower())),
        ("specimen.json", _fhir_with_specimen()),
    ],
    ids=["HL7 SPM-2", "HL7 OBR-2", "FHIR Specimen.identifier"],
)
def test_a_result_carrying_only_the_kit_code_is_imported_to_the_kit_s_order(
    session, config, drop, ack_folder, greta_kit, now, name, content
):
    drop(name, content)

    message = _import_one(session, config, now)

    assert message.status == "imported", message.error
    assert message.order_id == greta_kit.id
    codes = set(
        session.scalars(select(Result.analysis_code).where(Result.order_id == greta_kit.id))
    )
    assert codes
    if name.endswith(".hl7"):
        assert "MSA|AA|MIK-20261126-4711|imported" in next(ack_folder.iterdir()).read_text()


def test_a_kit_code_no_order_has_is_kept_for_staff_with_the_code_named(
    session, config, drop, greta_order, now
):
    drop("unknown.hl7", _hl7("", spm="KIT-0000-NONE"))

    message = _import_one(session, config, now)

    assert message.status == "unmatched"
    assert message.error == "no order in EP has kit KIT-0000-NONE"


def test_a_kit_code_with_another_resident_s_personnummer_is_not_matched(
    session, config, drop, greta_kit, now
):
    drop("wrong.hl7", _hl7("", spm=KIT_CODE).replace(b"198112289874", b"191212121212"))

    message = _import_one(session, config, now)

    assert message.status == "unmatched"
    assert "personnummer does not match" in message.error


def test_a_mistyped_order_number_stays_a_mistyped_order_number_not_a_kit_code(
    session, config, drop, greta_kit, now
):
    drop("typo.hl7", _hl7("EP-4HB2-R8NC"))

    message = _import_one(session, config, now)

    assert message.status == "unmatched"
    assert "check character" in message.error


def test_staff_read_why_a_kit_code_was_not_matched_in_their_language():
    assert unmatched_reason("no order in EP has kit KIT-0000-NONE") == (
        "Ingen beställning i EP har kit KIT-0000-NONE",
        None,
    )
