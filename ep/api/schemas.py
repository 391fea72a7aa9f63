"""The shapes /api/v1 reads and writes (marshmallow): the OpenAPI document is made from them."""

from marshmallow import Schema, fields, validate

from ep.models.orders import ORDER_STATUSES
from ep.models.results import LAB_MESSAGE_STATUSES


class Problem(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Not Found"})
    status = fields.Integer(required=True, metadata={"example": 404})
    detail = fields.String(metadata={"example": "no order EP-7K3M-9QX1"})
    instance = fields.String(metadata={"example": "/api/v1/orders/EP-7K3M-9QX1"})
    errors = fields.Dict(
        metadata={"description": "Which input was wrong, by location and field (422)."}
    )


class OrdersQuery(Schema):
    personnummer = fields.String(
        required=True,
        metadata={
            "description": "The resident's personnummer or samordningsnummer, 10 or 12 "
            "digits, with or without - or +.",
            "example": "19121212-1212",
        },
    )


class Analysis(Schema):
    code = fields.String(required=True, metadata={"example": "NPU27300"})
    name = fields.String(required=True, metadata={"example": "B-HbA1c"})


class Package(Schema):
    code = fields.String(required=True, metadata={"example": "DIABETES"})
    name = fields.String(required=True, metadata={"example": "Diabetes, årskontroll"})


class Order(Schema):
    orderNumber = fields.String(required=True, metadata={"example": "EP-7K3M-9QX1"})
    status = fields.String(required=True, metadata={"enum": list(ORDER_STATUSES)})
    package = fields.Nested(Package, required=True)
    analyses = fields.List(fields.Nested(Analysis), required=True)
    homeKit = fields.Boolean(required=True)
    kitCode = fields.String(allow_none=True, required=True)
    samplingLocationCode = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Where the resident chose to be sampled."},
    )
    orderedAt = fields.AwareDateTime(required=True)
    expiresAt = fields.AwareDateTime(required=True)
    sampledAt = fields.AwareDateTime(allow_none=True, required=True)
    sampledAtLocationCode = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Where the sample was taken, as a sampling system reported."},
    )


class OrderList(Schema):
    personnummer = fields.String(required=True, metadata={"example": "191212121212"})
    orders = fields.List(fields.Nested(Order), required=True)


class SampledRequest(Schema):
    sampledAt = fields.AwareDateTime(
        required=True,
        metadata={"description": "When the sample was taken (with a UTC offset)."},
    )
    samplingLocationCode = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"example": "VC-TOLVAN"},
    )


class LabReport(Schema):
    id = fields.Integer(required=True)
    status = fields.String(
        required=True,
        metadata={
            "enum": list(LAB_MESSAGE_STATUSES),
            "description": "imported: filed on its order; duplicate: its control id came "
            "before; unmatched: kept for staff to match by hand; rejected: cannot be read.",
        },
    )
    format = fields.String(required=True, metadata={"enum": ["hl7v2", "fhir", "unknown"]})
    controlId = fields.String(allow_none=True, required=True)
    orderNumber = fields.String(allow_none=True, required=True)
    receivedAt = fields.AwareDateTime(required=True)
    detail = fields.String(allow_none=True, required=True)


# the lab report bodies are not marshmallow: an HL7 v2 message is text, a FHIR Bundle
# is FHIR's own JSON; the OpenAPI document describes them as such
OPERATION_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "const": "OperationOutcome"},
        "id": {"type": "string"},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {
                        "type": "string",
                        "enum": ["fatal", "error", "warning", "information"],
                    },
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                },
            },
        },
    },
}
FHIR_BUNDLE = {
    "type": "object",
    "description": "A FHIR R4 Bundle (or DiagnosticReport) with the DiagnosticReport and "
    "its Observations; Bundle.identifier is the control id.",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
}
HL7_MESSAGE = {
    "type": "string",
    "description": "One HL7 v2 ORU^R01 message, segments separated by carriage returns; "
    "MSH-10 is the control id.",
}
