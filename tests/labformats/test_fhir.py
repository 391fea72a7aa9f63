"""FHIR R4 JSON lab results (Bundle, or DiagnosticReport with contained Observations)."""

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from ep.labformats import ParseError, parse_fhir, parse_lab_message

from .conftest import SAMPLES, sample


def _bundle():
    return json.loads(sample("fhir_bundle_diabetes.json"))


def _encode(document) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def test_a_bundle_gives_the_order_from_the_service_request_and_the_patient_identifier():
    report = parse_lab_message(sample("fhir_bundle_diabetes.json"))

    assert report.format == "fhir"
    assert report.control_id == "urn:oid:1.2.752.29.4.10.1|KK-FHIR-20261126-0042"
    assert report.order_number == "EP-7K3M-9QX1"
    assert report.personnummer == "191212121212"
    assert report.sending_facility == "Klinisk kemi, Skånes universitetssjukhus"
    assert report.problems == []
    hba1c, glucose = report.observations
    # NPU is preferred over LOINC when the lab sends both
    assert (hba1c.code, hba1c.name) == ("NPU27300", "B-HbA1c")
    assert (hba1c.value_text, hba1c.value_numeric, hba1c.unit) == ("48", 48.0, "mmol/mol")
    assert (hba1c.ref_range, hba1c.ref_low, hba1c.ref_high) == ("27-42", 27.0, 42.0)
    assert (hba1c.flag, hba1c.status) == ("H", "F")
    assert hba1c.comment == "Förhöjt värde, kontakta din vårdcentral."
    assert hba1c.observed_at == datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    assert (glucose.status, glucose.value_numeric) == ("P", 5.4)


def test_a_diagnostic_report_with_contained_observations():
    report = parse_fhir(sample("fhir_diagnosticreport_contained.json"))

    # a new version of the same report is a new message, not a duplicate
    assert report.control_id == "DiagnosticReport/sti-20261126-77/_history/2"
    assert (report.order_number, report.personnummer) == ("EP-4HB2-R8NB", "198112289874")
    assert report.sending_facility == "KLINMIKRO_SUS"
    # the cancelled Observation carries no value and is left out
    chlamydia, gonorrhoea = report.observations
    assert (chlamydia.value_text, chlamydia.status, chlamydia.ref_range) == (
        "Negativ",
        "C",
        "Negativ",
    )
    assert (gonorrhoea.name, gonorrhoea.value_text) == ("Gonorré (N. gonorrhoeae) DNA", "Negativ")
    # a date without a time is midnight in Stockholm
    assert chlamydia.observed_at == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)


def test_status_amended_is_a_correction_and_a_comparator_is_kept_in_the_text():
    document = _bundle()
    observation = document["entry"][3]["resource"]
    observation["status"] = "amended"
    observation["valueQuantity"] = {"value": 0.1, "comparator": "<", "unit": "µg/L"}
    observation["referenceRange"] = [{"high": {"value": 3.0}}]

    hba1c = parse_fhir(_encode(document)).observations[0]

    assert (hba1c.status, hba1c.value_text, hba1c.value_numeric) == ("C", "<0.1", None)
    assert (hba1c.ref_range, hba1c.ref_low, hba1c.ref_high) == ("<3.0", None, 3.0)


def test_an_order_number_in_the_report_identifier_is_found():
    document = json.loads(sample("fhir_diagnosticreport_contained.json"))
    del document["basedOn"]
    document["identifier"] = [
        {"system": "urn:lab", "value": "LAB-1"},
        {"system": "urn:ep:order-number", "value": "EP-4HB2-R8NB"},
    ]
    assert parse_fhir(_encode(document)).order_number == "EP-4HB2-R8NB"


def test_a_missing_subject_is_a_problem_not_a_parse_error():
    document = json.loads(sample("fhir_diagnosticreport_contained.json"))
    del document["subject"]
    report = parse_fhir(_encode(document))
    assert report.personnummer is None
    assert report.problems == ["no personnummer in DiagnosticReport.subject"]


def test_iso_8859_1_json_is_read_too():
    data = sample("fhir_diagnosticreport_contained.json").decode("utf-8").encode("iso-8859-1")
    report = parse_fhir(data)
    assert report.observations[1].name == "Gonorré (N. gonorrhoeae) DNA"


def test_a_bom_before_the_json_is_ignored():
    report = parse_lab_message(b"\xef\xbb\xbf" + sample("fhir_bundle_diabetes.json"))
    assert report.order_number == "EP-7K3M-9QX1"


def _without_results(document):
    document["entry"] = document["entry"][:3]
    document["entry"][0]["resource"]["result"] = []
    return document


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"resourceType": "Bundle", ', "not valid JSON: Expecting property name"),
        (b'{"resourceType": "Patient", "id": "p"}', "FHIR resourceType 'Patient' is not accepted"),
        (b"[1, 2]", "FHIR resourceType None is not accepted"),
        (
            b'{"resourceType": "DiagnosticReport", "status": "final"}',
            "not a valid FHIR R4 DiagnosticReport: code: Field required",
        ),
        (
            _encode({"resourceType": "Bundle", "type": "collection", "entry": []}),
            "the Bundle holds no DiagnosticReport",
        ),
        (_encode(_without_results(_bundle())), "no results"),
    ],
)
def test_malformed_fhir_is_refused_with_a_reason(data, reason):
    with pytest.raises(ParseError) as caught:
        parse_lab_message(data)
    assert caught.value.reason.startswith(reason)
    assert caught.value.format == "fhir"


def test_a_result_reference_that_points_nowhere_is_refused():
    document = _bundle()
    del document["entry"][4]
    with pytest.raises(ParseError, match="DiagnosticReport.result .* is not in the message"):
        parse_fhir(_encode(document))


def test_the_fhir_models_load_with_the_first_fhir_message_not_with_ep():
    # every `ep` command (a monitor runs `ep check` each minute) and every web worker would
    # otherwise pay for importing fhir.resources without reading a FHIR message
    probe = (
        "import sys, ep.cli, ep.labformats as f; "
        "print('fhir.resources' in sys.modules, 'pydantic' in sys.modules); "
        "f.parse_lab_message(open(sys.argv[1], 'rb').read()); "
        "print('fhir.resources' in sys.modules)"
    )
    sample_file = SAMPLES / "fhir_diagnosticreport_contained.json"
    shown = subprocess.run(
        [sys.executable, "-c", probe, str(sample_file)], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["False", "False", "True"]
