"""The normalised form every lab message is read into, and the one error a parser raises."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ep.labformats.hl7v2 import Header

FORMAT_HL7V2 = "hl7v2"
FORMAT_FHIR = "fhir"
FORMAT_UNKNOWN = "unknown"


class ParseError(Exception):
    """The message cannot be read; ``reason`` says why, in one line.

    ``header`` is the HL7 MSH header when it could be read, so a rejecting ACK can still
    reach the sender.
    """

    def __init__(
        self, reason: str, *, format: str = FORMAT_UNKNOWN, header: "Header | None" = None
    ):
        # one line whatever a library's message held: it goes into reason files and ACKs
        reason = " ".join(reason.split())
        super().__init__(reason)
        self.reason = reason
        self.format = format
        self.header = header

    def __reduce__(self) -> tuple[Callable[..., "ParseError"], tuple[str, str, "Header | None"]]:
        # pickled whole (a file is read in a worker process), keyword arguments included
        return _parse_error, (self.reason, self.format, self.header)


def _parse_error(reason: str, format: str, header: "Header | None") -> ParseError:
    return ParseError(reason, format=format, header=header)


@dataclass
class Observation:
    """One analysis result as the lab reported it."""

    code: str
    name: str | None
    value_text: str
    value_numeric: float | None
    unit: str | None
    ref_range: str | None
    ref_low: float | None
    ref_high: float | None
    flag: str | None  # HL7 table 0078: L, H, LL, HH, N, A, POS, NEG …
    status: str  # P preliminary | F final | C corrected
    observed_at: datetime | None
    comment: str | None = None


@dataclass
class LabReport:
    """One lab message, normalised: who it is about, which order, which values."""

    format: str  # hl7v2 | fhir
    control_id: str | None
    sending_facility: str | None
    personnummer: str | None  # 12 digits when valid, else None (see problems)
    order_number: str | None  # EP-XXXX-XXXX when valid, else what the lab sent
    # a home kit's code (HL7 SPM-2 or OBR-2, FHIR Specimen.identifier): when the lab
    # knows the kit and not the order, the importer finds the order by its kit
    kit_code: str | None = None
    observations: list[Observation] = field(default_factory=list)
    # identifiers missing or unusable: the importer keeps the message as unmatched
    problems: list[str] = field(default_factory=list)
    sending_application: str | None = None
    header: object | None = None  # the HL7 MSH header (ep.labformats.hl7v2.Header)
