"""Lab messages as labs send them (HL7 v2 ORU^R01, FHIR R4 JSON) → one LabReport.

The parsers know nothing of the database: they turn bytes into a LabReport, or raise
ParseError with a reason a lab's integration engineer can act on. Identifiers that are
missing or invalid (a personnummer with a wrong check digit, an order number that is not
EP's) do not make a message unreadable: they are listed in ``LabReport.problems`` and the
importer keeps such a message as *unmatched* for staff.
"""

from ep.labformats.hl7v2 import Header, build_ack, parse_hl7v2
from ep.labformats.report import (
    FORMAT_FHIR,
    FORMAT_HL7V2,
    FORMAT_UNKNOWN,
    LabReport,
    Observation,
    ParseError,
)
from ep.labformats.text import sniff_format


def parse_fhir(data: bytes) -> LabReport:
    """Read a FHIR R4 JSON message (ep.labformats.fhir); raise ParseError when it cannot be read.

    The FHIR reader loads on the first FHIR message, not when the package is imported: its
    models (fhir.resources, pydantic) take a tenth of a second to import, which every `ep`
    command and every web worker would otherwise pay without reading a FHIR message.
    """
    from ep.labformats.fhir import parse_fhir as parse

    return parse(data)


def parse_lab_message(data: bytes) -> LabReport:
    """Read a lab message of either format; raise ParseError when it cannot be read."""
    if sniff_format(data) == FORMAT_HL7V2:
        return parse_hl7v2(data)
    return parse_fhir(data)


__all__ = [
    "FORMAT_FHIR",
    "FORMAT_HL7V2",
    "FORMAT_UNKNOWN",
    "Header",
    "LabReport",
    "Observation",
    "ParseError",
    "build_ack",
    "parse_fhir",
    "parse_hl7v2",
    "parse_lab_message",
]
