"""IMPORTRESULTS below the batch: one inbox file at a time, as a lab delivers them."""

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from ep.domain.lab_import import import_file, inbox_files
from ep.models import LabMessage, Result
from tests.lab_import.conftest import SAMPLES, TOLVAN_ORDER, files_under


def _import_all(session, config, now):
    return [import_file(session, path, config, now=now) for path in inbox_files(config, now=now)]


def _current_results(session, order):
    rows = session.scalars(
        select(Result).where(Result.order_id == order.id, Result.superseded_at.is_(None))
    )
    return {r.analysis_code: r for r in rows}


def test_a_matching_hl7_message_is_imported_and_the_order_is_resulted(
    session, config, inbox, ack_folder, drop, tolvan_order, now
):
    drop("kk-000123.hl7", sample="oru_r01_two_groups_utf8.hl7")

    [message] = _import_all(session, config, now)

    assert message.status == "imported"
    assert message.order_id == tolvan_order.id
    assert message.control_id == "KK20261126-000123"
    assert message.source == "KLINKEM_SUS"
    assert message.payload == (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()
    results = _current_results(session, tolvan_order)
    assert set(results) == {"NPU27300", "NPU02192", "NPU03577", "NPU08669"}
    hba1c = results["NPU27300"]
    assert (hba1c.value_numeric, hba1c.unit, hba1c.flag) == (48.0, "mmol/mol", "H")
    assert (hba1c.ref_low, hba1c.ref_high) == (27.0, 42.0)
    assert "kontakta din vårdcentral" in hba1c.comment
    assert results["NPU08669"].value_text == "<0.1"
    session.refresh(tolvan_order)
    assert tolvan_order.status == "resulted"
    assert tolvan_order.resulted_at == now
    assert files_under(inbox) == ["processed/kk-000123.hl7"]
    ack = (ack_folder / "KK20261126-000123.ack.hl7").read_text()
    assert "MSA|AA|KK20261126-000123|imported" in ack
    assert ack.startswith("MSH|^~\\&|EP|REGION_SKANE|LIMS|KLINKEM_SUS^1.2.752.29.4.10^ISO|")


def test_some_analyses_of_the_package_make_the_order_partial_and_the_rest_resulted(
    session, config, drop, tolvan_order, now
):
    drop("glucose.hl7", sample="oru_r01_latin1_declared_crlf.hl7")
    _import_all(session, config, now)
    session.refresh(tolvan_order)
    assert tolvan_order.status == "partial"
    assert tolvan_order.resulted_at is None

    drop("all.hl7", sample="oru_r01_two_groups_utf8.hl7")
    later = now + timedelta(minutes=5)
    _import_all(session, config, later)
    session.refresh(tolvan_order)
    assert tolvan_order.status == "resulted"
    assert tolvan_order.resulted_at == later


def test_a_repeated_control_id_is_recorded_as_duplicate_and_not_imported_again(
    session, config, inbox, ack_folder, drop, tolvan_order, now
):
    drop("first.hl7", sample="oru_r01_two_groups_utf8.hl7")
    drop("again.hl7", sample="oru_r01_two_groups_utf8.hl7")

    first, again = _import_all(session, config, now)

    assert (first.status, again.status) == ("imported", "duplicate")
    assert f"lab message {first.id}" in again.error
    assert session.scalar(select(func.count()).select_from(Result)) == 4
    assert files_under(inbox) == ["processed/again.hl7", "processed/first.hl7"]
    acks = sorted(p.name for p in ack_folder.iterdir())
    assert acks == ["KK20261126-000123.ack.hl7", "KK20261126-000123~2.ack.hl7"]
    assert "MSA|AA|KK20261126-000123|duplicate" in (ack_folder / acks[1]).read_text()


def test_a_correction_supersedes_the_earlier_value_and_keeps_history(
    session, config, drop, tolvan_order, now
):
    drop("original.hl7", sample="oru_r01_two_groups_utf8.hl7")
    _import_all(session, config, now)
    drop("correction.hl7", sample="oru_r01_correction.hl7")
    later = now + timedelta(hours=20)
    [correction] = _import_all(session, config, later)

    assert correction.status == "imported"
    history = session.scalars(
        select(Result)
        .where(Result.order_id == tolvan_order.id, Result.analysis_code == "NPU27300")
        .order_by(Result.id)
    ).all()
    assert [(r.value_text, r.status) for r in history] == [("48", "F"), ("41", "C")]
    old, new = history
    assert old.superseded_at == later and old.superseded_by_id == new.id
    assert new.superseded_at is None
    assert "Rättat värde" in new.comment
    assert _current_results(session, tolvan_order)["NPU27300"].value_numeric == 41.0
    session.refresh(tolvan_order)
    assert tolvan_order.resulted_at == later


def test_a_preliminary_value_arriving_after_the_final_one_does_not_replace_it(
    session, config, drop, tolvan_order, now
):
    final = (SAMPLES / "oru_r01_latin1_undeclared.hl7").read_bytes()
    drop("final.hl7", final)
    drop(
        "late-preliminary.hl7",
        final.replace(b"OREBRO-99813", b"OREBRO-99814").replace(b"||||F|", b"||||P|"),
    )
    _import_all(session, config, now)

    tsh = session.scalars(
        select(Result).where(Result.analysis_code == "NPU03577").order_by(Result.id)
    ).all()
    assert [(r.status, r.superseded_at is None) for r in tsh] == [("F", True), ("P", False)]


def test_a_personnummer_that_does_not_match_the_order_is_kept_unmatched_for_staff(
    session, config, inbox, ack_folder, drop, tolvan_order, now
):
    sample = (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()
    drop("wrong-person.hl7", sample.replace(b"19121212-1212", b"19811228-9874"))

    [message] = _import_all(session, config, now)

    assert message.status == "unmatched"
    assert message.order_id is None
    assert message.personnummer == "198112289874"
    assert message.order_number == TOLVAN_ORDER
    assert "does not match" in message.error
    assert session.scalar(select(func.count()).select_from(Result)) == 0
    session.refresh(tolvan_order)
    assert tolvan_order.status == "sampled"
    assert files_under(inbox) == ["processed/wrong-person.hl7"]
    ack = (ack_folder / "KK20261126-000123.ack.hl7").read_text()
    assert "MSA|AE|KK20261126-000123|kept for manual matching: the personnummer does not" in ack


def test_an_unknown_order_or_an_invalid_personnummer_is_unmatched(
    session, config, drop, tolvan_order, now
):
    sample = (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()
    drop("a-unknown-order.hl7", sample.replace(b"EP-7K3M-9QX1", b"EP-9TDW-5FJ0"))
    drop(
        "b-bad-pnr.hl7",
        sample.replace(b"19121212-1212", b"19121212-1213").replace(b"000123", b"000999"),
    )

    unknown, bad_pnr = _import_all(session, config, now)

    assert (unknown.status, unknown.error) == ("unmatched", "no order EP-9TDW-5FJ0 in EP")
    assert bad_pnr.status == "unmatched"
    assert "wrong check digit" in bad_pnr.error
    assert bad_pnr.personnummer is None


def test_with_no_ack_folder_configured_hl7_is_imported_and_no_ack_written(
    session, config, inbox, ack_folder, drop, tolvan_order, now
):
    # `LabAckDirectory =` left empty in ep.ini: no sending system reads ACKs from EP
    without_acks = replace(config, values={**config.values, "LabAckDirectory": ""})
    drop("kk-000123.hl7", sample="oru_r01_two_groups_utf8.hl7")

    [message] = _import_all(session, without_acks, now)

    assert (message.status, message.order_id) == ("imported", tolvan_order.id)
    assert files_under(inbox) == ["processed/kk-000123.hl7"]
    assert not ack_folder.exists()


def test_a_fhir_bundle_is_imported_without_an_ack(
    session, config, inbox, ack_folder, drop, tolvan_order, now
):
    drop("report.json", sample="fhir_bundle_diabetes.json")

    [message] = _import_all(session, config, now)

    assert (message.status, message.format) == ("imported", "fhir")
    assert message.control_id == "urn:oid:1.2.752.29.4.10.1|KK-FHIR-20261126-0042"
    results = _current_results(session, tolvan_order)
    assert (results["NPU27300"].value_numeric, results["NPU02192"].status) == (48.0, "P")
    session.refresh(tolvan_order)
    assert tolvan_order.status == "partial"  # glucose is only preliminary
    assert files_under(inbox) == ["processed/report.json"]
    assert not ack_folder.exists() or not any(ack_folder.iterdir())


def test_a_contained_fhir_report_for_another_order_is_imported_to_that_order(
    session, config, drop, greta_order, now
):
    drop("sti.json", sample="fhir_diagnosticreport_contained.json")
    [message] = _import_all(session, config, now)
    assert message.status == "imported"
    assert message.order_id == greta_order.id
    session.refresh(greta_order)
    assert greta_order.status == "resulted"


def test_bad_files_are_quarantined_with_a_reason_and_the_good_ones_beside_them_imported(
    session, config, inbox, ack_folder, drop, tolvan_order, greta_order, now
):
    good = (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()
    drop("good.hl7", good)
    drop("sti.hl7", sample="oru_r01_chlamydia_cwe.hl7")
    drop("empty.hl7", b"")
    drop("scan.pdf", b"%PDF-1.7\n\x00\x01\x02\xff binary")
    drop("letter.txt", b"Hej, bifogat finns svaren.\n")
    drop("truncated.hl7", good[:200])  # the transfer broke off after the PID segment
    drop("adt.hl7", good.replace(b"ORU^R01^ORU_R01", b"ADT^A01").replace(b"000123", b"000555"))
    still_writing = drop("incoming.hl7.part", good)
    hidden = drop(".upload-in-progress", good)
    just_written = inbox / "fresh.hl7"
    just_written.write_bytes(good.replace(b"000123", b"000777"))  # modified right now
    before = len(files_under(inbox))

    messages = _import_all(session, config, now)

    statuses = {m.filename: m.status for m in messages}
    assert statuses == {
        "good.hl7": "imported",
        "sti.hl7": "imported",
        "empty.hl7": "rejected",
        "scan.pdf": "rejected",
        "letter.txt": "rejected",
        "truncated.hl7": "rejected",
        "adt.hl7": "rejected",
    }
    assert files_under(inbox) == [
        ".upload-in-progress",
        "error/adt.hl7",
        "error/adt.hl7.reason.txt",
        "error/empty.hl7",
        "error/empty.hl7.reason.txt",
        "error/letter.txt",
        "error/letter.txt.reason.txt",
        "error/scan.pdf",
        "error/scan.pdf.reason.txt",
        "error/truncated.hl7",
        "error/truncated.hl7.reason.txt",
        "fresh.hl7",
        "incoming.hl7.part",
        "processed/good.hl7",
        "processed/sti.hl7",
    ]
    # nothing deleted: every file that came in is still there, besides its reason
    assert len([f for f in files_under(inbox) if not f.endswith(".reason.txt")]) == before
    reasons = {
        name: (inbox / "error" / f"{name}.reason.txt").read_text().splitlines()[0]
        for name in ("empty.hl7", "scan.pdf", "letter.txt", "truncated.hl7", "adt.hl7")
    }
    assert reasons["empty.hl7"] == "empty file: no message in it"
    assert reasons["scan.pdf"].startswith("binary content, not a text message (byte 0x00")
    assert reasons["letter.txt"].startswith("not a lab message")
    assert reasons["truncated.hl7"].startswith("no OBR segment")
    assert reasons["adt.hl7"] == "MSH-9 message type ADT^A01 is not ORU^R01"
    assert (inbox / "error" / "scan.pdf").read_bytes() == b"%PDF-1.7\n\x00\x01\x02\xff binary"
    rejected = session.scalars(select(LabMessage).where(LabMessage.status == "rejected")).all()
    assert {m.payload for m in rejected} >= {b"", good[:200]}
    ack = (ack_folder / "KK20261126-000555.ack.hl7").read_bytes()
    # the reason travels HL7-escaped: ^ is the component separator
    assert b"\rMSA|AR|KK20261126-000555|MSH-9 message type ADT\\S\\A01 is not ORU" in ack

    # the half-written files are imported once they are complete and have settled
    still_writing.rename(inbox / "incoming.hl7")
    hidden.rename(inbox / "visible.hl7")
    later = now + timedelta(minutes=2)
    assert [p.name for p in inbox_files(config, now=later)] == [
        "incoming.hl7",
        "visible.hl7",
        "fresh.hl7",
    ]


def test_unreadable_files_without_an_msh_get_no_ack(session, config, ack_folder, drop, now):
    drop("letter.txt", b"Hej!\n")
    [message] = _import_all(session, config, now)
    assert message.status == "rejected"
    assert message.control_id is None
    assert not ack_folder.exists() or not any(ack_folder.iterdir())


def test_a_file_too_large_for_a_message_is_quarantined_whole_but_not_stored(
    session, config, inbox, drop, now, monkeypatch
):
    monkeypatch.setitem(config.values, "LabMaxFileBytes", 1000)
    big = b"MSH|^~\\&|" + b"x" * 2000
    drop("disk-image.hl7", big)

    [message] = _import_all(session, config, now)

    assert message.status == "rejected"
    assert message.payload == b""
    assert message.error.startswith("file of 2,009 bytes is too large for a lab message")
    assert (inbox / "error" / "disk-image.hl7").read_bytes() == big
