"""FHIR R4 JSON lab results → LabReport, read with fhir.resources' R4B models.

fhir.resources dropped plain R4 in 7.0; its R4B models read the R4 lab resources
(Bundle, DiagnosticReport, Observation, Patient, ServiceRequest) unchanged.

Accepted: a Bundle holding a DiagnosticReport and its Observations (and maybe the
Patient and ServiceRequest), or a DiagnosticReport with contained Observations.
- the order number: DiagnosticReport.basedOn (identifier, or the referenced
  ServiceRequest's identifier), else a DiagnosticReport.identifier that is an EP number;
  without one, a home kit's code from the specimen (DiagnosticReport.specimen → Specimen
  identifier or accessionIdentifier) or from basedOn
- the personnummer: the subject's identifier (logical, or the referenced Patient's)
- per Observation: code (NPU preferred, then LOINC), valueQuantity / valueString /
  valueCodeableConcept, referenceRange, interpretation, status preliminary → P,
  final → F, amended/corrected → C, effective[x] (else issued), note
- the control id: Bundle.identifier, else the resource id with its meta.versionId
"""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NoReturn

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from pydantic import ValidationError

from ep.identity import InvalidIdentifier, parse_order_number
from ep.labformats.report import FORMAT_FHIR, LabReport, Observation, ParseError
from ep.labformats.text import (
    check_text_bytes,
    clip,
    decode_text,
    read_order_or_kit,
    read_personnummer,
    strip_transport,
)
from ep.timeutil import STOCKHOLM

NPU_SYSTEMS = ("urn:oid:1.2.752.108.1", "http://npu-terminology.org", "urn:oid:1.2.208.176.2.1")
LOINC_SYSTEM = "http://loinc.org"
PERSONNUMMER_SYSTEMS = (
    "urn:oid:1.2.752.129.2.1.3.1",  # personnummer
    "urn:oid:1.2.752.129.2.1.3.3",  # samordningsnummer
    "http://electronichealth.se/identifier/personnummer",
    "http://electronichealth.se/identifier/samordningsnummer",
)
_STATUS = {"preliminary": "P", "final": "F", "amended": "C", "corrected": "C"}
_MODELS: dict[str, type[Bundle] | type[DiagnosticReport]] = {
    "Bundle": Bundle,
    "DiagnosticReport": DiagnosticReport,
}
# a fhir.resources model of one of several kinds (Bundle, DiagnosticReport, Observation,
# Patient …), read by field name: the reader cannot say which kind before it asks
Resource = Any
# a lab report holds a few dozen resources; tens of thousands would only cost memory
MAX_RESOURCES = 5_000


def parse_fhir(data: bytes) -> LabReport:
    """Read a FHIR R4 JSON Bundle or DiagnosticReport; raise ParseError naming the fault."""
    data = strip_transport(data)
    if not data:
        raise ParseError("empty file: no message in it", format=FORMAT_FHIR)
    try:
        check_text_bytes(data)
    except ParseError as exc:
        raise ParseError(exc.reason, format=FORMAT_FHIR) from None
    text = decode_text(data, None, format=FORMAT_FHIR)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            format=FORMAT_FHIR,
        ) from None
    except RecursionError:
        raise ParseError("JSON nested too deeply for a lab message", format=FORMAT_FHIR) from None
    kind = document.get("resourceType") if isinstance(document, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ParseError(
            f"FHIR resourceType {kind!r} is not accepted: send a Bundle or a DiagnosticReport",
            format=FORMAT_FHIR,
        )
    resources = _count_resources(document)
    if resources > MAX_RESOURCES:
        raise ParseError(
            f"more than {MAX_RESOURCES:,} resources in one message ({resources:,}): "
            "no lab report is that big",
            format=FORMAT_FHIR,
        )
    try:
        resource = model.model_validate(document)
    except RecursionError:
        raise ParseError("JSON nested too deeply for a lab message", format=FORMAT_FHIR) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or kind
        raise ParseError(
            f"not a valid FHIR R4 {kind}: {where}: {first['msg']} ({exc.error_count()} problem(s))",
            format=FORMAT_FHIR,
        ) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # fhir.resources itself trips over some shapes a validator should refuse
        raise ParseError(
            f"not a valid FHIR R4 {kind}: {type(exc).__name__} while reading it",
            format=FORMAT_FHIR,
        ) from None
    return _Reader(resource).report()


class _Reader:
    def __init__(self, resource: Resource) -> None:
        self.root = resource
        self.index: dict[str, Resource] = {}
        if resource.get_resource_type() == "Bundle":
            for entry in resource.entry or []:
                if entry.resource is None:
                    continue
                res = entry.resource
                if entry.fullUrl:
                    self.index[entry.fullUrl] = res
                if res.id:
                    self.index[f"{res.get_resource_type()}/{res.id}"] = res
            self.reports = [
                r for r in self.index.values() if r.get_resource_type() == "DiagnosticReport"
            ]
            self.reports = list({id(r): r for r in self.reports}.values())
        else:
            self.reports = [resource]

    def fail(self, reason: str) -> NoReturn:
        raise ParseError(reason, format=FORMAT_FHIR)

    def resolve(self, reference: Resource, container: Resource = None) -> Resource:
        """Return the resource a Reference points to, inside this message, or None."""
        if reference is None or not reference.reference:
            return None
        target = reference.reference
        if target.startswith("#") and container is not None:
            for res in container.contained or []:
                if res.id == target[1:]:
                    return res
            return None
        return self.index.get(target) or self.index.get("/".join(target.split("/")[-2:]))

    def report(self) -> LabReport:
        if not self.reports:
            self.fail("the Bundle holds no DiagnosticReport")
        problems: list[str] = []
        order_numbers = [n for r in self.reports if (n := self.order_number(r))]
        distinct = dict.fromkeys(order_numbers)
        if len(distinct) > 1:
            self.fail(
                "the DiagnosticReports name different orders ("
                + ", ".join(distinct)
                + "): send one order per message"
            )
        first = self.reports[0]
        order_number, kit_code = read_order_or_kit(
            order_numbers[0] if order_numbers else "",
            [code for r in self.reports for code in self.specimen_ids(r)],
            problems,
            where="DiagnosticReport.basedOn",
        )
        observations: list[Observation] = []
        for report in self.reports:
            for reference in report.result or []:
                resource = self.resolve(reference, report)
                if resource is None:
                    self.fail(
                        f"DiagnosticReport.result {reference.reference!r} is not in the message"
                    )
                observation = self.observation(resource, report)
                if observation is not None:
                    observations.append(observation)
        if not observations:
            self.fail("no results: no final, preliminary or corrected Observation with a value")
        return LabReport(
            format=FORMAT_FHIR,
            control_id=self.control_id(),
            sending_facility=self.performer(first),
            personnummer=self.personnummer(first, problems),
            order_number=order_number,
            kit_code=kit_code,
            observations=observations,
            problems=problems,
        )

    def control_id(self) -> str | None:
        root = self.root
        if root.get_resource_type() == "Bundle" and root.identifier and root.identifier.value:
            system = root.identifier.system
            return f"{system}|{root.identifier.value}" if system else root.identifier.value
        if not root.id:
            return None
        control_id = f"{root.get_resource_type()}/{root.id}"
        if root.meta and root.meta.versionId:
            control_id += f"/_history/{root.meta.versionId}"
        return control_id

    def specimen_ids(self, report: Resource) -> list[str]:
        """The identifiers of the report's specimens: a home kit's code is one of them."""
        found: list[str] = []
        for reference in report.specimen or []:
            if reference.identifier and reference.identifier.value:
                found.append(reference.identifier.value)
            specimen = self.resolve(reference, report)
            for identifier in getattr(specimen, "identifier", None) or []:
                if identifier.value:
                    found.append(identifier.value)
            accession = getattr(specimen, "accessionIdentifier", None)
            if accession is not None and accession.value:
                found.append(accession.value)
        return found

    def order_number(self, report: Resource) -> str | None:
        for based_on in report.basedOn or []:
            value: str | None = based_on.identifier.value if based_on.identifier else None
            if value:
                return value.strip()
            request = self.resolve(based_on, report)
            for identifier in getattr(request, "identifier", None) or []:
                value = identifier.value
                if value:
                    return value.strip()
        for identifier in report.identifier or []:
            try:
                return parse_order_number(identifier.value or "")
            except InvalidIdentifier:
                continue
        return None

    def personnummer(self, report: Resource, problems: list[str]) -> str | None:
        subject = report.subject
        identifiers = []
        if subject is not None and subject.identifier is not None:
            identifiers.append(subject.identifier)
        patient = self.resolve(subject, report)
        identifiers += getattr(patient, "identifier", None) or []
        preferred = [i for i in identifiers if i.system in PERSONNUMMER_SYSTEMS]
        chosen = (preferred or identifiers or [None])[0]
        return read_personnummer(
            chosen.value if chosen else None, problems, where="DiagnosticReport.subject"
        )

    def performer(self, report: Resource) -> str | None:
        for reference in report.performer or []:
            organization = self.resolve(reference, report)
            name = getattr(organization, "name", None)
            identifier = reference.identifier.value if reference.identifier else None
            found = name or reference.display or identifier
            if found:
                return clip(found, 100)
        return None

    def observation(self, resource: Resource, report: Resource) -> Observation | None:
        if resource.get_resource_type() != "Observation":
            self.fail(f"DiagnosticReport.result points to a {resource.get_resource_type()}")
        status = _STATUS.get(resource.status)
        if status is None:
            return None  # registered, cancelled, entered-in-error: no value to store
        code, name = self.code(resource)
        value_text, value_numeric, unit = self.value(resource)
        if not value_text:
            return None
        ref_range, low, high = self.reference_range(resource)
        flag = None
        for concept in resource.interpretation or []:
            codes = [c.code for c in concept.coding or [] if c.code]
            if codes:
                flag = codes[0].upper()
                break
        notes = [n.text for n in resource.note or [] if n.text]
        return Observation(
            code=code,
            name=name,
            value_text=value_text,
            value_numeric=value_numeric,
            unit=clip(unit, 30),
            ref_range=clip(ref_range, 100),
            ref_low=low,
            ref_high=high,
            flag=clip(flag, 10),
            status=status,
            observed_at=_as_utc(
                resource.effectiveDateTime
                or (resource.effectivePeriod.start if resource.effectivePeriod else None)
                or resource.issued
                or report.effectiveDateTime
            ),
            comment="\n".join(notes) or None,
        )

    def code(self, resource: Resource) -> tuple[str, str | None]:
        concept = resource.code
        codings = [c for c in (concept.coding if concept else None) or [] if c.code]
        if not codings:
            self.fail(f"Observation {resource.id or ''}: code has no coding with a code".strip())
        ranked = sorted(
            codings,
            key=lambda c: 0 if c.system in NPU_SYSTEMS else 1 if c.system == LOINC_SYSTEM else 2,
        )
        chosen = ranked[0]
        return chosen.code.strip(), concept.text or chosen.display

    def value(self, resource: Resource) -> tuple[str, float | None, str | None]:
        quantity = resource.valueQuantity
        if quantity is not None and quantity.value is not None:
            shown = _plain(quantity.value)
            comparator = quantity.comparator or ""
            numeric = None if comparator else float(quantity.value)
            return f"{comparator}{shown}", numeric, quantity.unit or quantity.code
        if resource.valueString:
            return resource.valueString.strip(), None, None
        concept = resource.valueCodeableConcept
        if concept is not None:
            codings = concept.coding or []
            text = concept.text or next(
                (c.display or c.code for c in codings if c.display or c.code), None
            )
            return (text or "").strip(), None, None
        if resource.valueInteger is not None:
            return str(resource.valueInteger), float(resource.valueInteger), None
        if resource.valueBoolean is not None:
            return ("true" if resource.valueBoolean else "false"), None, None
        return "", None, None

    def reference_range(self, resource: Resource) -> tuple[str | None, float | None, float | None]:
        for ref in resource.referenceRange or []:
            low = ref.low.value if ref.low is not None else None
            high = ref.high.value if ref.high is not None else None
            if ref.text:
                text = ref.text
            elif low is not None and high is not None:
                text = f"{_plain(low)}-{_plain(high)}"
            elif high is not None:
                text = f"<{_plain(high)}"
            elif low is not None:
                text = f">{_plain(low)}"
            else:
                continue
            return (
                text,
                None if low is None else float(low),
                None if high is None else float(high),
            )
        return None, None, None


def _count_resources(document: dict[str, Any]) -> int:
    """Bundle entries and contained resources, counted before the models are built."""
    count = 0
    for key in ("entry", "contained"):
        items = document.get(key)
        if isinstance(items, list):
            count += len(items)
            for item in items:
                inner = item.get("resource") if isinstance(item, dict) else None
                if isinstance(inner, dict) and isinstance(inner.get("contained"), list):
                    count += len(inner["contained"])
    return count


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _as_utc(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=STOCKHOLM)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=STOCKHOLM).astimezone(UTC)
    return None
