"""HL7 v2.x ORU^R01 (unsolicited observation results) → LabReport, and the ACK back.

The ``hl7`` package splits the message into segments, fields, repetitions and
components (it is about 30 times faster than hl7apy); this module knows which fields
of an ORU^R01 carry what:

- MSH-3/4 sending application and facility, MSH-9 ORU^R01, MSH-10 control id,
  MSH-12 version, MSH-18 character set
- PID-3 personnummer (or samordningsnummer), with or without the dash
- OBR-2 (else ORC-2) the EP order number; several OBR groups may follow one another,
  and they must all name the same order; without a valid order number, a home kit's code
  in OBR-2 or SPM-2 (specimen id) stands in for it
- OBX-2 value type, OBX-3 code^name, OBX-5 value, OBX-6 unit, OBX-7 reference range,
  OBX-8 abnormal flag, OBX-11 result status, OBX-14 time of observation (else OBR-7)
- NTE after an OBX comments that result; NTE after an OBR comments every result of
  its group
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import hl7

from ep.labformats.report import FORMAT_HL7V2, LabReport, Observation, ParseError
from ep.labformats.text import (
    NOT_TEXT,
    clip,
    decode_text,
    parse_number,
    parse_range,
    read_order_or_kit,
    read_personnummer,
    strip_transport,
)
from ep.timeutil import STOCKHOLM

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_HL7_TIME = re.compile(r"\d{4}(?:\d{2}){0,5}(?:\.\d{1,4})?(?:[+-]\d{4})?\Z")
# OBX-11 (HL7 table 0085) → EP's P/F/C; the other codes carry no value to store
_RESULT_STATUS = {"F": "F", "C": "C", "P": "P", "R": "P", "S": "P", "": "F"}
_NO_VALUE_STATUSES = {"X", "D", "W", "I", "N", "O", "U"}
_CODED_TYPES = {"CE", "CWE", "CNE", "CF"}
VALUE_TEXT_LENGTH = 200
# a lab report is tens of segments; thousands of result comments at the most
MAX_SEGMENTS = 10_000
# an hl7.Segment (a list of fields, each a list of repetitions …): hl7 has no type hints
Segment = Any


@dataclass(frozen=True)
class Header:
    """The MSH segment as sent, field by field (still HL7-escaped), for ACKs and logs."""

    field_separator: str
    encoding_characters: str
    fields: tuple[str, ...]  # fields[n] is MSH-n; [1] and [2] are the separators

    def field(self, number: int) -> str:
        return self.fields[number] if number < len(self.fields) else ""

    def first_component(self, number: int) -> str:
        return self.field(number).split(self.encoding_characters[:1] or "^")[0].strip()

    @property
    def control_id(self) -> str | None:
        return self.field(10).strip() or None

    @property
    def sending_application(self) -> str | None:
        return self.first_component(3) or None

    @property
    def sending_facility(self) -> str | None:
        return self.first_component(4) or None

    @property
    def charset(self) -> str:
        repeat = self.encoding_characters[1:2] or "~"
        return self.field(18).split(repeat)[0].strip()


def read_header(data: bytes) -> Header:
    """Read the MSH segment of a message with its transport bytes already removed."""
    end = len(data)
    for terminator in (b"\r", b"\n"):
        found = data.find(terminator)
        if found != -1:
            end = min(end, found)
    line = data[:end].decode("iso-8859-1")  # separators and MSH values are ASCII
    if not line.startswith("MSH") or len(line) < 8:
        raise ParseError("the message does not start with an MSH segment", format=FORMAT_HL7V2)
    separator = line[3]
    if separator.isalnum() or separator.isspace():
        raise ParseError(
            f"MSH-1 field separator {separator!r} is not a separator character",
            format=FORMAT_HL7V2,
        )
    parts = line.split(separator)
    encoding = parts[1]
    if not 2 <= len(encoding) <= 5 or any(c.isalnum() or c.isspace() for c in encoding):
        raise ParseError(
            f"MSH-2 encoding characters {encoding!r} are not valid", format=FORMAT_HL7V2
        )
    return Header(separator, encoding, ("MSH", separator, *parts[1:]))


def codec_for(header: Header) -> str | None:
    """Return the Python codec MSH-18 declares, or None when it declares none usable."""
    charset = header.charset.upper().replace("_", " ")
    if not charset or charset == "ASCII":
        # an ASCII declaration is often wrong (Latin-1 å, ä, ö in names): sniff instead
        return None
    if "UTF-8" in charset or "UTF8" in charset:
        return "utf-8"
    match = re.fullmatch(r"8859/(\d{1,2})", charset)
    if match:
        return f"iso-8859-{match[1]}"
    if charset in ("CP1252", "WINDOWS-1252"):
        return "cp1252"
    raise ParseError(
        f"MSH-18 character set {header.charset!r} is not supported (send UNICODE UTF-8 or 8859/1)",
        format=FORMAT_HL7V2,
        header=header,
    )


def parse_hl7v2(data: bytes) -> LabReport:
    """Read one HL7 v2 ORU^R01 message; raise ParseError naming what is wrong."""
    data = strip_transport(data)
    if not data:
        raise ParseError("empty file: no message in it", format=FORMAT_HL7V2)
    binary = NOT_TEXT.search(data)
    if binary:
        raise ParseError(
            f"binary content, not a text message (byte 0x{data[binary.start()]:02x} "
            f"at offset {binary.start()})",
            format=FORMAT_HL7V2,
        )
    header = read_header(data)
    text = decode_text(data, codec_for(header), format=FORMAT_HL7V2)
    return _Reader(header, text).report()


class _Reader:
    """One pass over the segments of a message, collecting the report."""

    def __init__(self, header: Header, text: str):
        self.header = header
        self.escape = header.encoding_characters[2:3] or "\\"
        self.times: dict[str, datetime] = {}  # OBX-14 is mostly one time for all results
        text = text.replace("\r\n", "\r").replace("\n", "\r")
        segments = text.count("\r") + 1
        if segments > MAX_SEGMENTS:
            # refused before the split: a million segments would cost gigabytes
            self.fail(
                f"more than {MAX_SEGMENTS:,} segments in one message ({segments:,}): "
                "no lab report is that big"
            )
        try:
            message = hl7.parse(text)
        except Exception as exc:  # the hl7 package raises several types for bad structure
            self.fail(f"cannot be split into HL7 segments: {exc}")
        self.segments = []
        for number, segment in enumerate(message, start=1):
            first = segment[0]
            segment_id = first if isinstance(first, str) else first[0]
            if not segment_id and len(segment) == 1:
                continue  # a blank line between segments
            if not isinstance(segment_id, str) or not _SEGMENT_ID.match(segment_id):
                self.fail(
                    f"segment {number} does not start with a segment id: {str(segment)[:20]!r}"
                )
            if segment_id == "MSH" and number > 1:
                self.fail("several messages in one file: send one message per file")
            self.segments.append((segment_id, segment))
        self.message = message

    def fail(self, reason: str) -> NoReturn:
        raise ParseError(reason, format=FORMAT_HL7V2, header=self.header)

    def value(self, segment: Segment, field: int, component: int = 1, repeat: int = 1) -> str:
        """Return one component of a field, unescaped; empty when absent."""
        if field >= len(segment):
            return ""
        repetitions = segment[field]
        if repeat > len(repetitions):
            return ""
        node = repetitions[repeat - 1]
        if isinstance(node, str):
            raw = node if component == 1 else ""
        elif component > len(node):
            raw = ""
        else:
            raw = node[component - 1]
            while not isinstance(raw, str):  # subcomponents: the first one
                raw = raw[0] if raw else ""
        if self.escape in raw:
            raw = self.message.unescape(raw)
        return raw.strip()

    def components(self, segment: Segment, field: int, repeat: int = 1) -> list[str]:
        if field >= len(segment) or repeat > len(segment[field]):
            return []
        node = segment[field][repeat - 1]
        count = 1 if isinstance(node, str) else len(node)
        return [self.value(segment, field, c, repeat) for c in range(1, count + 1)]

    def repeats(self, segment: Segment, field: int) -> int:
        return len(segment[field]) if field < len(segment) else 0

    def report(self) -> LabReport:
        header = self.header
        msh = self.segments[0][1]
        message_type = self.value(msh, 9, 1)
        trigger = self.value(msh, 9, 2)
        if (message_type, trigger) != ("ORU", "R01"):
            shown = f"{message_type}^{trigger}" if trigger else message_type or "(none)"
            self.fail(f"MSH-9 message type {shown} is not ORU^R01")
        if not header.control_id:
            self.fail("MSH-10 message control id is empty")

        problems: list[str] = []
        personnummer: str | None = None
        pid_seen = False
        order_numbers: list[str] = []
        observations: list[Observation] = []
        group: list[Observation] | None = None
        group_comments: list[str] = []
        group_time: datetime | None = None
        last: Observation | None = None
        comments: dict[int, list[str]] = {}  # id(observation) → its NTE comments
        orc_order = ""
        specimen_ids: list[str] = []

        for segment_id, segment in self.segments:
            if segment_id == "PID" and not pid_seen:
                pid_seen = True
                personnummer = self.personnummer(segment, problems)
            elif segment_id == "ORC":
                orc_order = self.value(segment, 2) or orc_order
            elif segment_id == "OBR":
                number = self.value(segment, 2) or orc_order
                if number:
                    order_numbers.append(number)
                group, group_comments, last = [], [], None
                group_time = self.time(segment, 7, "OBR-7")
            elif segment_id == "SPM":
                # SPM-2 specimen id: placer's id (the kit code), then the filler's
                specimen_ids += [
                    v for v in (self.value(segment, 2, 1), self.value(segment, 2, 2)) if v
                ]
            elif segment_id == "OBX":
                if group is None:
                    self.fail("an OBX segment comes before any OBR segment")
                last = self.observation(segment, group_time)
                if last is not None:
                    comments[id(last)] = list(group_comments)
                    group.append(last)
                    observations.append(last)
            elif segment_id == "NTE" and group is not None:
                comment = self.comment(segment)
                if not comment:
                    continue
                # gathered in lists and joined once: adding to a string is quadratic
                if last is not None:
                    comments[id(last)].append(comment)
                else:
                    group_comments.append(comment)

        for observation in observations:
            observation.comment = "\n".join(comments[id(observation)]) or None
        if group is None:
            self.fail("no OBR segment: an ORU^R01 carries its results in OBR groups")
        if not observations:
            self.fail("no results: no OBX segment with a reportable value")
        if not pid_seen:
            problems.append("no PID segment")
        order_number, kit_code = self.order_number(order_numbers, specimen_ids, problems)
        return LabReport(
            format=FORMAT_HL7V2,
            control_id=header.control_id,
            sending_facility=header.sending_facility,
            sending_application=header.sending_application,
            personnummer=personnummer,
            order_number=order_number,
            kit_code=kit_code,
            observations=observations,
            problems=problems,
            header=header,
        )

    def personnummer(self, pid: Segment, problems: list[str]) -> str | None:
        """PID-3 (repeating): the first identifier that reads as a personnummer."""
        candidates = [self.value(pid, 3, 1, r) for r in range(1, self.repeats(pid, 3) + 1)]
        candidates = [c for c in candidates if c] or [self.value(pid, 2)]
        found: list[str] = []
        for candidate in candidates:
            number = read_personnummer(candidate, found, where="PID-3")
            if number:
                return number
        problems.append(found[0] if found else "no personnummer in PID-3")
        return None

    def order_number(
        self, numbers: list[str], specimen_ids: list[str], problems: list[str]
    ) -> tuple[str | None, str | None]:
        """(order number, kit code) from OBR-2 (or ORC-2) and SPM-2."""
        distinct = dict.fromkeys(n.upper().replace(" ", "") for n in numbers)
        if len(distinct) > 1:
            self.fail(
                "the OBR groups name different orders ("
                + ", ".join(distinct)
                + "): send one message per order"
            )
        return read_order_or_kit(
            numbers[0] if numbers else "", specimen_ids, problems, where="OBR-2"
        )

    def observation(self, obx: Segment, group_time: datetime | None) -> Observation | None:
        position = self.value(obx, 1) or "?"
        status_code = self.value(obx, 11).upper()
        if status_code in _NO_VALUE_STATUSES:
            return None
        status = _RESULT_STATUS.get(status_code)
        if status is None:
            self.fail(f"OBX {position}: OBX-11 result status {status_code!r} is not known")
        code = self.value(obx, 3, 1)
        if not code:
            self.fail(f"OBX {position}: OBX-3 has no observation code")
        value_type = self.value(obx, 2).upper()
        value_text, value_numeric = self.observation_value(obx, value_type)
        if not value_text:
            return None  # a heading line or an empty placeholder: nothing to store
        comment = None
        if len(value_text) > VALUE_TEXT_LENGTH:
            comment, value_text = value_text, value_text[: VALUE_TEXT_LENGTH - 1] + "…"
        ref_range = self.value(obx, 7)
        low, high = parse_range(ref_range)
        observation = Observation(
            code=code,
            name=self.value(obx, 3, 2) or None,
            value_text=value_text,
            value_numeric=value_numeric,
            unit=clip(self.value(obx, 6, 1) or self.value(obx, 6, 2), 30),
            ref_range=clip(ref_range, 100),
            ref_low=low,
            ref_high=high,
            flag=clip(self.value(obx, 8).upper(), 10),
            status=status,
            observed_at=self.time(obx, 14, f"OBX {position}: OBX-14") or group_time,
        )
        observation.comment = comment
        return observation

    def observation_value(self, obx: Segment, value_type: str) -> tuple[str, float | None]:
        """OBX-5 as text and, for a plain number, as a number."""
        if value_type == "SN":
            comparator, first, separator, second = (self.components(obx, 5) + [""] * 4)[:4]
            text = f"{comparator}{first}{separator}{second}".strip()
            exact = comparator in ("", "=") and not separator and not second
            return text, parse_number(first) if exact else None
        if value_type in _CODED_TYPES:
            texts = []
            for repeat in range(1, self.repeats(obx, 5) + 1):
                texts.append(self.value(obx, 5, 2, repeat) or self.value(obx, 5, 1, repeat))
            return ", ".join(t for t in texts if t), None
        texts = []
        for repeat in range(1, self.repeats(obx, 5) + 1):
            parts = self.components(obx, 5, repeat)
            texts.append(self.header.encoding_characters[0].join(parts).strip())
        text = "\n".join(t for t in texts if t).replace("\r", "\n")
        return text, parse_number(text) if value_type in ("NM", "") else None

    def comment(self, nte: Segment) -> str:
        lines = [self.value(nte, 3, 1, r) for r in range(1, self.repeats(nte, 3) + 1)]
        return "\n".join(line for line in lines if line).replace("\r", "\n")

    def time(self, segment: Segment, field: int, name: str) -> datetime | None:
        raw = self.value(segment, field)
        if not raw:
            return None
        known = self.times.get(raw)
        if known is not None:
            return known
        if not _HL7_TIME.match(raw):
            self.fail(f"{name} {raw!r} is not an HL7 date/time (YYYYMMDDHHMM[SS][+ZZZZ])")
        try:
            parsed: datetime = hl7.parse_datetime(raw)
        except ValueError:
            self.fail(f"{name} {raw!r} is not a valid date/time")
        if parsed.tzinfo is None:
            # Swedish labs send local wall-clock time when they send no offset
            parsed = parsed.replace(tzinfo=STOCKHOLM)
        self.times[raw] = parsed = parsed.astimezone(UTC)
        return parsed


ACK_ACCEPT = "AA"
ACK_ERROR = "AE"
ACK_REJECT = "AR"


def build_ack(header: Header, code: str, text: str, *, now: datetime) -> str:
    """Return an HL7 ACK (original mode) for a received message: MSH and MSA.

    MSA-1 is AA (accepted), AE (kept but not filed: unknown order, personnummer
    mismatch) or AR (rejected: the message cannot be read); MSA-3 says why.
    """
    sep = header.field_separator
    encoding = header.encoding_characters
    stamp = now.astimezone(STOCKHOLM).strftime("%Y%m%d%H%M%S%z")
    control_id = header.control_id or ""
    msh = [
        "MSH",
        encoding,
        "EP",  # MSH-3: we answer as EP ...
        header.field(6),  # MSH-4: ... at the facility the lab addressed
        header.field(3),
        header.field(4),
        stamp,
        "",
        f"ACK{encoding[0]}R01{encoding[0]}ACK",
        f"ACK-{control_id}"[:199],
        header.field(11) or "P",
        header.field(12) or "2.5.1",
    ]
    charset = header.field(18)
    if charset:
        msh += ["", "", "", "", "", charset]
    msa = ["MSA", code, control_id, _escape(text, sep, encoding)]
    return sep.join(msh) + "\r" + sep.join(msa) + "\r"


def _escape(text: str, field_separator: str, encoding: str) -> str:
    """Escape free text for an HL7 field (2.10.4): separators become \\F\\, \\S\\ …"""
    component, repetition, escape = list((encoding + "~\\&")[:3])
    subcomponent = encoding[3:4] or "&"
    text = " ".join(text.split())
    pairs = (
        (escape, "E"),
        (field_separator, "F"),
        (component, "S"),
        (subcomponent, "T"),
        (repetition, "R"),
    )
    for char, name in pairs:
        text = text.replace(char, f"{escape}{name}{escape}")
    return text
