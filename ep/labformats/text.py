"""What both formats need: transport bytes off, text decoded, numbers and identifiers read."""

import re
from collections.abc import Callable

from ep.identity import (
    InvalidIdentifier,
    parse_kit_code,
    parse_order_number,
    parse_personnummer,
)
from ep.labformats.report import FORMAT_FHIR, FORMAT_HL7V2, FORMAT_UNKNOWN, ParseError

UTF8_BOM = b"\xef\xbb\xbf"
MLLP_START = b"\x0b"
MLLP_END = b"\x1c"
# control bytes no text message carries (allowed: tab, line endings, form feed, the MLLP frame)
NOT_TEXT = re.compile(rb"[\x00-\x08\x0e-\x1b\x1d-\x1f]")
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")
_RANGE = re.compile(
    r"^\s*(?P<low>[+-]?\d+(?:[.,]\d+)?)\s*(?:-|–|—|\.\.|to)\s*(?P<high>[+-]?\d+(?:[.,]\d+)?)\s*$"
)
_BOUND = re.compile(r"^\s*(?P<op><=|>=|<|>|≤|≥)\s*(?P<value>[+-]?\d+(?:[.,]\d+)?)\s*$")


def strip_transport(data: bytes) -> bytes:
    """Remove what carried the message rather than belongs to it: BOM, MLLP frame, blanks."""
    data = data.strip()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :].lstrip()
    if data.startswith(MLLP_START):
        data = data[len(MLLP_START) :]
        end = data.rfind(MLLP_END)
        if end != -1:
            data = data[:end]
        data = data.strip()
    elif data.endswith(MLLP_END):
        data = data[: -len(MLLP_END)].rstrip()
    return data


def sniff_format(data: bytes) -> str:
    """Return hl7v2 or fhir for a message; raise ParseError for anything else."""
    data = strip_transport(data)
    if not data:
        raise ParseError("empty file: no message in it")
    check_text_bytes(data)
    if data[:3] == b"MSH":
        return FORMAT_HL7V2
    if data[:1] in (b"{", b"["):
        return FORMAT_FHIR
    if data[:3] in (b"FHS", b"BHS"):
        raise ParseError(
            "HL7 batch files (FHS/BHS) are not accepted: send one ORU^R01 message per file",
            format=FORMAT_HL7V2,
        )
    if data[:1] == b"<":
        raise ParseError("XML is not accepted: send HL7 v2 or FHIR R4 as JSON")
    shown = data[:20].decode("latin-1")
    raise ParseError(
        f"not a lab message: starts with {shown!r}, neither an HL7 v2 MSH segment nor FHIR JSON",
        format=FORMAT_UNKNOWN,
    )


def check_text_bytes(data: bytes) -> None:
    """Refuse binary content (a zip, a PDF, a truncated copy full of NUL bytes)."""
    found = NOT_TEXT.search(data)
    if found:
        raise ParseError(
            f"binary content, not a text message (byte 0x{data[found.start()]:02x} "
            f"at offset {found.start()})"
        )


def decode_text(data: bytes, declared: str | None, *, format: str) -> str:
    """Decode with the declared codec; undeclared, try UTF-8 strictly, else ISO-8859-1.

    ISO-8859-1 accepts every byte, so a file a lab wrote in Latin-1 without saying so
    (common in older Swedish lab systems: å, ä, ö as single bytes) still reads right.
    """
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"the message declares {declared} but byte 0x{data[exc.start]:02x} at "
                f"offset {exc.start} is not valid {declared}",
                format=format,
            ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("iso-8859-1")


def parse_number(text: str | None) -> float | None:
    """Return the value of a plain number (``5.4`` or Swedish ``5,4``), else None."""
    if not text:
        return None
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text.replace(",", "."))


def parse_range(text: str | None) -> tuple[float | None, float | None]:
    """Return (low, high) of a reference range: ``4.0-6.0``, ``<3,0``, ``>1``; else Nones."""
    if not text:
        return None, None
    match = _RANGE.match(text)
    if match:
        return parse_number(match["low"]), parse_number(match["high"])
    match = _BOUND.match(text)
    if match:
        value = parse_number(match["value"])
        return (None, value) if match["op"] in ("<", "<=", "≤") else (value, None)
    return None, None


def read_personnummer(raw: str | None, problems: list[str], *, where: str) -> str | None:
    """Normalise a personnummer; note in ``problems`` why it cannot be used."""
    return _read_identifier(parse_personnummer, raw, problems, "personnummer", where, False)


def read_order_number(raw: str | None, problems: list[str], *, where: str) -> str | None:
    """Normalise an EP order number; keep the lab's text and note a problem if invalid."""
    return _read_identifier(parse_order_number, raw, problems, "EP order number", where, True)


def read_order_or_kit(
    order_raw: str | None, kit_raw: list[str], problems: list[str], *, where: str
) -> tuple[str | None, str | None]:
    """Return (order number, kit code) for a message.

    A home kit's sample reaches the lab with only the code printed on the kit, so a lab
    may send that code where the order number goes or as the specimen id. A valid order
    number wins; otherwise a readable kit code stands in for it, and the missing or
    invalid order number is no problem. Without either, the order number's problem stays.
    """
    order_problems: list[str] = []
    order_number = read_order_number(order_raw, order_problems, where=where)
    if not order_problems:
        return order_number, None
    # an EP-… text is a mistyped order number, not a kit code: its problem is the news
    typed_as_order = (order_raw or "").strip().upper().startswith("EP")
    for raw in [*([] if typed_as_order else [order_raw or ""]), *kit_raw]:
        try:
            return None, parse_kit_code(raw)
        except InvalidIdentifier:
            continue
    problems.extend(order_problems)
    return order_number, None


def _read_identifier(
    parse: Callable[[str], str],
    raw: str | None,
    problems: list[str],
    what: str,
    where: str,
    keep_invalid: bool,
) -> str | None:
    if not raw or not raw.strip():
        problems.append(f"no {what} in {where}")
        return None
    try:
        return parse(raw)
    except InvalidIdentifier as exc:
        problems.append(f"{what} in {where} is not valid: {exc}")
        return raw.strip() if keep_invalid else None


def clip(text: str | None, length: int) -> str | None:
    """Return ``text`` cut to ``length`` characters (database column width), None if blank."""
    if text is None:
        return None
    text = text.strip()
    return text[:length] if text else None
