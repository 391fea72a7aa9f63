"""HL7 v2 ORU^R01 as labs send it, read into one LabReport (or refused with a reason)."""

from datetime import UTC, datetime

import pytest

from ep.labformats import LabReport, ParseError, build_ack, parse_hl7v2, parse_lab_message
from ep.labformats.hl7v2 import read_header

from .conftest import sample

TOLVAN = "191212121212"
ORDER = "EP-7K3M-9QX1"


def _minimal(*, msh18="", pid="191212121212", obr2=ORDER, obx_status="F", extra=()):
    segments = [
        f"MSH|^~\\&|LIMS|KLINKEM|EP|REGION|20261126120000||ORU^R01|C1|P|2.5.1||||||{msh18}",
        f"PID|1||{pid}",
        f"OBR|1|{obr2}",
        f"OBX|1|NM|NPU02192^P-Glukos^NPU||5.4|mmol/L|4.0-6.0|N|||{obx_status}",
        *extra,
    ]
    return "\r".join(segments).encode("utf-8") + b"\r"


@pytest.mark.parametrize(
    "name",
    [
        "oru_r01_two_groups_utf8.hl7",
        "oru_r01_bom_lf.hl7",
        "oru_r01_mllp.hl7",
        "oru_r01_latin1_declared_crlf.hl7",
        "oru_r01_latin1_undeclared.hl7",
        "oru_r01_correction.hl7",
    ],
)
def test_every_sample_names_tolvan_and_the_order(name):
    report = parse_lab_message(sample(name))
    assert isinstance(report, LabReport)
    assert (report.format, report.personnummer, report.order_number) == ("hl7v2", TOLVAN, ORDER)
    assert report.problems == []
    assert report.observations


def test_several_obr_groups_with_nte_comments_are_read_into_one_report():
    report = parse_hl7v2(sample("oru_r01_two_groups_utf8.hl7"))

    assert report.control_id == "KK20261126-000123"
    assert (report.sending_facility, report.sending_application) == ("KLINKEM_SUS", "LIMS")
    codes = [o.code for o in report.observations]
    assert codes == ["NPU27300", "NPU02192", "NPU03577", "NPU08669"]
    hba1c, glucose, tsh, psa = report.observations
    assert (hba1c.name, hba1c.value_text, hba1c.value_numeric) == ("B-HbA1c", "48", 48.0)
    assert (hba1c.unit, hba1c.ref_range, hba1c.ref_low, hba1c.ref_high) == (
        "mmol/mol",
        "27-42",
        27.0,
        42.0,
    )
    assert (hba1c.flag, hba1c.status) == ("H", "F")
    # the OBR's note goes with every result of its group, the OBX's note with its own
    assert hba1c.comment == (
        "Provet analyserat på Klinisk kemi, Skånes universitetssjukhus.\n"
        "Förhöjt värde, kontakta din vårdcentral."
    )
    assert glucose.comment == "Provet analyserat på Klinisk kemi, Skånes universitetssjukhus."
    assert tsh.comment is None
    # a Swedish decimal comma is a number
    assert (glucose.value_text, glucose.value_numeric, glucose.ref_low) == ("5,4", 5.4, 4.0)
    # OBX-14 with an offset, converted to UTC
    assert hba1c.observed_at == datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    # structured numeric "<0.1" is kept as text, with no exact value; "<3.0" is an upper limit
    assert (psa.value_text, psa.value_numeric) == ("<0.1", None)
    assert (psa.ref_low, psa.ref_high, psa.unit) == (None, 3.0, "µg/L")
    # no OBX-14: the OBR's observation time
    assert psa.observed_at == datetime(2026, 11, 26, 7, 15, tzinfo=UTC)


def test_a_time_without_an_offset_is_swedish_local_time():
    report = parse_hl7v2(sample("oru_r01_mllp.hl7"))
    # 2026-11-26 09:00 in Stockholm (CET, +01:00) is 08:00 UTC
    assert report.observations[0].observed_at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "name", ["oru_r01_latin1_declared_crlf.hl7", "oru_r01_latin1_undeclared.hl7"]
)
def test_iso_8859_1_text_reads_as_the_lab_meant_it(name):
    data = sample(name)
    assert "Ö".encode("iso-8859-1") in data  # really Latin-1 bytes, not UTF-8
    report = parse_hl7v2(data)
    assert report.sending_facility == "KEMLAB_ÖREBRO"
    assert "för" in report.observations[0].comment


def test_segment_endings_mllp_frame_and_bom_make_no_difference():
    body = _minimal()
    variants = [
        body,
        body.replace(b"\r", b"\n"),
        body.replace(b"\r", b"\r\n"),
        b"\x0b" + body + b"\x1c\r",
        b"\xef\xbb\xbf" + body.replace(b"\r", b"\r\n"),
        b"\n\n" + body + b"\n\n",
    ]
    reports = [parse_hl7v2(v) for v in variants]
    assert {(r.control_id, r.observations[0].value_numeric) for r in reports} == {("C1", 5.4)}


def test_a_coded_value_is_read_as_its_text():
    report = parse_hl7v2(sample("oru_r01_chlamydia_cwe.hl7"))
    chlamydia, gonorrhoea = report.observations
    assert (chlamydia.code, chlamydia.value_text, chlamydia.flag) == ("21613-5", "Positiv", "A")
    assert (gonorrhoea.value_text, gonorrhoea.flag) == ("Negativ", "N")
    assert report.personnummer == "198112289874"


def test_a_corrected_result_has_status_c():
    [hba1c] = parse_hl7v2(sample("oru_r01_correction.hl7")).observations
    assert (hba1c.status, hba1c.value_numeric) == ("C", 41.0)


def test_result_statuses_map_to_preliminary_final_and_corrected():
    def status(code):
        return parse_hl7v2(_minimal(obx_status=code)).observations[0].status

    assert [status(c) for c in ("P", "R", "S", "F", "C")] == ["P", "P", "P", "F", "C"]


def test_escaped_separators_are_unescaped():
    data = _minimal(extra=["NTE|1|L|Ref \\T\\ kommentar: 4\\S\\6 mmol\\F\\L"])
    assert parse_hl7v2(data).observations[0].comment == "Ref & kommentar: 4^6 mmol|L"


def test_an_invalid_personnummer_or_order_number_is_a_problem_not_a_parse_error():
    report = parse_hl7v2(_minimal(pid="191212121213", obr2="EP-7K3M-9QX2"))
    assert report.personnummer is None
    assert report.order_number == "EP-7K3M-9QX2"
    assert len(report.problems) == 2
    assert "wrong check digit" in report.problems[0]
    assert "check character" in report.problems[1]


def test_a_message_without_a_pid_has_a_problem():
    data = _minimal().replace(b"PID|1||191212121212\r", b"")
    assert parse_hl7v2(data).problems == ["no PID segment"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file: no message in it"),
        (b"\x0b\x1c\r", "empty file: no message in it"),
        (b"PK\x03\x04\x14\x00\x00\x00", "binary content, not a text message (byte 0x03"),
        (b"Hej, svaren kommer i morgon.", "not a lab message: starts with"),
        (b"<ClinicalDocument/>", "XML is not accepted"),
        (b"FHS|^~\\&|LIMS\rBHS|^~\\&\r", "HL7 batch files (FHS/BHS) are not accepted"),
        (_minimal().replace(b"ORU^R01", b"ADT^A08"), "MSH-9 message type ADT^A08 is not ORU^R01"),
        (_minimal().replace(b"|C1|", b"||"), "MSH-10 message control id is empty"),
        (_minimal().split(b"OBR")[0], "no OBR segment"),
        (
            _minimal().replace(b"OBR|1|EP-7K3M-9QX1\r", b""),
            "an OBX segment comes before any OBR segment",
        ),
        (_minimal() + _minimal(), "several messages in one file"),
        (
            _minimal(extra=["OBR|2|EP-4HB2-R8NB", "OBX|1|NM|NPU03577||2.0||||||F"]),
            "the OBR groups name different orders",
        ),
        (_minimal(obx_status="Q"), "OBX 1: OBX-11 result status 'Q' is not known"),
        (_minimal(obx_status="X"), "no results: no OBX segment with a reportable value"),
        (
            _minimal().replace(b"NPU02192^P-Glukos^NPU", b"^P-Glukos"),
            "OBX 1: OBX-3 has no observation code",
        ),
        (
            _minimal(extra=["OBX|2|NM|NPU03577||2.0||||||F|||2026-11-26"]),
            "OBX 2: OBX-14 '2026-11-26' is not an HL7 date/time",
        ),
        (
            _minimal(extra=["OBX|2|NM|NPU03577||2.0||||||F|||20261331"]),
            "OBX 2: OBX-14 '20261331' is not a valid date/time",
        ),
        (_minimal(msh18="UNICODE UTF-8").replace(b"5.4", b"5\xe44"), "declares utf-8 but byte"),
        (_minimal(msh18="ISO IR87"), "MSH-18 character set 'ISO IR87' is not supported"),
        (_minimal() + b"garbage line\r", "segment 5 does not start with a segment id"),
        (b"MSH", "the message does not start with an MSH segment"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(data, reason):
    with pytest.raises(ParseError) as caught:
        parse_lab_message(data)
    assert caught.value.reason.startswith(reason) or reason in caught.value.reason


def test_a_refused_message_with_a_readable_msh_keeps_its_header_for_the_ack():
    with pytest.raises(ParseError) as caught:
        parse_hl7v2(_minimal().replace(b"ORU^R01", b"ADT^A08"))
    assert caught.value.header.control_id == "C1"
    assert caught.value.format == "hl7v2"


def test_the_ack_answers_the_sender_with_its_control_id_and_an_escaped_reason():
    header = read_header(sample("oru_r01_two_groups_utf8.hl7"))
    now = datetime(2026, 11, 26, 13, 30, 5, tzinfo=UTC)

    ack = build_ack(header, "AE", "kept for manual matching: no order EP-X|Y^Z", now=now)

    msh, msa = ack.rstrip("\r").split("\r")
    fields = msh.split("|")
    assert fields[:6] == [
        "MSH",
        "^~\\&",
        "EP",
        "REGION_SKANE",
        "LIMS",
        "KLINKEM_SUS^1.2.752.29.4.10^ISO",
    ]
    assert fields[6] == "20261126143005+0100"  # Stockholm time
    assert fields[8:12] == ["ACK^R01^ACK", "ACK-KK20261126-000123", "P", "2.5.1"]
    assert fields[17] == "UNICODE UTF-8"
    assert msa == "MSA|AE|KK20261126-000123|kept for manual matching: no order EP-X\\F\\Y\\S\\Z"
