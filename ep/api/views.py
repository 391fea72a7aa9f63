"""/api/v1 endpoints: orders for sampling systems, lab reports for labs.

Each view parses, calls one service and answers; ``answered`` commits the unit of work
(with its PDL events) and keeps the answer for an Idempotency-Key in the same
transaction, so what a system was told and what EP stored never part.
"""

import logging
import re
from functools import wraps

from flask import Response, current_app, g, json, request, url_for
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError

from ep.api import schemas
from ep.api.problems import PROBLEM_JSON, problem
from ep.database import begin_writing
from ep.domain import DomainError, NotFound
from ep.domain.integration import (
    AlreadySampled,
    api_origin,
    hl7_ack,
    keep_answer,
    read_lab_report,
    read_order_by_number,
    receive_lab_message,
    record_lab_report_received,
    report_sampled,
    request_fingerprint,
    stored_answer,
    system_actor,
)
from ep.domain.sampling import open_orders_for
from ep.extensions import db
from ep.identity import InvalidIdentifier, parse_personnummer
from ep.labformats import FORMAT_FHIR, FORMAT_HL7V2, ParseError
from ep.labformats.text import sniff_format
from ep.timeutil import utcnow
from ep.web.access import AccessRefused, NoCertificate, authorize, log_refusal
from ep.web.ratelimit import per_certificate

log = logging.getLogger(__name__)

INTEGRATION_ROLE = "integration"
HL7_V2 = "application/hl7-v2"
FHIR_JSON = "application/fhir+json"
LAB_REPORT_TYPES = {HL7_V2: FORMAT_HL7V2, FHIR_JSON: FORMAT_FHIR}
# IETF draft-ietf-httpapi-idempotency-key-header: an opaque string; printable ASCII here
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"
# what a refusal of the domain is in HTTP, most specific first
REFUSALS = (
    (InvalidIdentifier, 400),
    (NotFound, 404),
    (AlreadySampled, 409),
    (DomainError, 422),
)

blp = Blueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    description="Orders for sampling systems and lab reports for laboratories.",
)

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Any unique string (a UUID): a repeat with the same key and the same "
    "request gets the first answer again and changes nothing; the same key with another "
    "request is 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def _problem_responses(*codes: int):
    """Document the problem+json answers an endpoint can give."""

    def decorate(view):
        for code in codes:
            view = blp.alt_response(code, schema=schemas.Problem, content_type=PROBLEM_JSON)(view)
        return view

    return decorate


@blp.before_request
def _integration_systems_only():
    """A function certificate of an active user with role integration, or 401/403."""
    request.max_content_length = current_app.config["EP"]["LabMaxFileBytes"]
    try:
        authorize(INTEGRATION_ROLE)
    except NoCertificate as exc:
        log_refusal(INTEGRATION_ROLE, str(exc))
        return problem(401, "a client certificate (SITHS function certificate) is required")
    except AccessRefused as exc:
        log_refusal(INTEGRATION_ROLE, str(exc))
        return problem(403)
    g.actor = system_actor(g.user, client_addr=request.remote_addr)
    # end the read of the user: a change begins as a writer (begin_writing), and the rate
    # limit's counter is written on a connection of its own, which on SQLite (WAL) a read
    # still open here would keep this session from writing after
    db.session.rollback()


@blp.errorhandler(429)
def _too_many_calls(error):
    # Flask-Limiter adds Retry-After to this response (ep.web.ratelimit logs the breach)
    return problem(
        429, f"at most {error.description} for this certificate: call again after Retry-After"
    )


def answered(view):
    """Commit the view's unit of work; honour an Idempotency-Key while doing so.

    A domain refusal becomes a problem and nothing of it is kept; an answer to a request
    with a key is stored with the change, and given again for a repeat.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        session = db.session()
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST":
            begin_writing(session)
        if key is not None and request.method == "POST":
            if not IDEMPOTENCY_KEY.match(key):
                return problem(400, "Idempotency-Key must be 1-255 printable ASCII characters")
            fingerprint = request_fingerprint(request.method, request.path, request.get_data())
            earlier = stored_answer(session, client_hsa_id=g.user.hsa_id, key=key)
            if earlier is not None:
                return _replay(earlier, fingerprint)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except (InvalidIdentifier, DomainError) as exc:
            session.rollback()
            status = next(code for kind, code in REFUSALS if isinstance(exc, kind))
            return problem(status, str(exc))
        except BaseException:
            session.rollback()
            raise
        if key is not None and request.method == "POST":
            keep_answer(
                session,
                client_hsa_id=g.user.hsa_id,
                key=key,
                fingerprint=fingerprint,
                status_code=response.status_code,
                content_type=response.content_type,
                location=response.headers.get("Location"),
                body=response.get_data(),
                now=utcnow(),
            )
        try:
            session.commit()
        except IntegrityError:
            # the same key, at the same moment, from another request of this system:
            # that one's answer stands (its change was kept, this one's was not)
            session.rollback()
            earlier = stored_answer(session, client_hsa_id=g.user.hsa_id, key=key)
            if earlier is None:
                raise
            return _replay(earlier, fingerprint)
        return response

    return wrapper


def _replay(earlier, fingerprint: str) -> Response:
    if earlier.request_sha256 != fingerprint:
        return problem(
            422, "this Idempotency-Key was used for another request: use a new key for it"
        )
    response = Response(earlier.body, status=earlier.status_code, content_type=earlier.content_type)
    if earlier.location:
        response.headers["Location"] = earlier.location
    response.headers[REPLAYED_HEADER] = "true"
    return response


RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before calling again.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def _rate_limited(view):
    """At most ApiRateLimit calls per function certificate, over every endpoint together."""
    view = per_certificate("ApiRateLimit", scope="api")(view)
    return blp.alt_response(
        429,
        schema=schemas.Problem,
        content_type=PROBLEM_JSON,
        description="Too many calls with this certificate (ApiRateLimit, and for lab reports "
        "ApiLabReportRateLimit): wait as Retry-After says.",
        headers=RETRY_AFTER_HEADER,
    )(view)


# -- orders: sampling systems --


@blp.route("/orders")
@_problem_responses(400, 401, 403, 422)
@_rate_limited
@answered
@blp.arguments(schemas.OrdersQuery, location="query")
@blp.response(200, schemas.OrderList)
def orders(args):
    """The resident's orders waiting for sampling

    Soonest expiry first. The lookup is written to the PDL log with the calling system
    as actor, also when the resident has no orders.
    """
    number = parse_personnummer(args["personnummer"])
    found = open_orders_for(db.session(), personnummer=number, actor=g.actor, now=utcnow())
    return {"personnummer": number, "orders": [_order(order) for order in found]}


@blp.route("/orders/<string:order_number>")
@_problem_responses(400, 401, 403, 404)
@_rate_limited
@answered
@blp.response(200, schemas.Order)
def order(order_number):
    """One order: package, analyses, status, kit code

    The read is written to the PDL log with the calling system as actor.
    """
    found = read_order_by_number(db.session(), number=order_number, actor=g.actor, now=utcnow())
    return _order(found)


@blp.route("/orders/<string:order_number>/sampled", methods=["POST"])
@blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
@_problem_responses(400, 401, 403, 404, 409, 413, 422)
@_rate_limited
@answered
@blp.arguments(schemas.SampledRequest)
@blp.response(200, schemas.Order)
def sampled(args, order_number):
    """Report that the sample was taken

    Idempotent: the same time and sampling location again answers 200 and changes
    nothing; another time or place for an order sampled before is 409. The change is
    written to the PDL log with the calling system as actor.
    """
    done = report_sampled(
        db.session(),
        number=order_number,
        sampled_at=args["sampledAt"],
        location_code=args["samplingLocationCode"],
        actor=g.actor,
        now=utcnow(),
    )
    return _order(done.order)


def _order(order) -> dict:
    return {
        "orderNumber": order.number,
        "status": order.status,
        "package": {"code": order.package.code, "name": order.package.name_sv},
        "analyses": [{"code": a.code, "name": a.name_sv} for a in order.package.analyses],
        "homeKit": order.home_kit,
        "kitCode": order.kit.code if order.kit else None,
        "samplingLocationCode": order.location.code if order.location else None,
        "orderedAt": order.ordered_at,
        "expiresAt": order.expires_at,
        "sampledAt": order.sampled_at,
        "sampledAtLocationCode": order.sampled_location.code if order.sampled_location else None,
    }


# -- lab reports: laboratories --

LAB_REPORT_BODY = {
    "required": True,
    "content": {
        HL7_V2: {"schema": schemas.HL7_MESSAGE},
        FHIR_JSON: {"schema": schemas.FHIR_BUNDLE},
    },
}
STORED = (
    "Stored. HL7: the ACK says AA (imported, or a duplicate of one received before) or AE "
    "(kept for staff to match by hand). FHIR: an OperationOutcome says the same."
)
REJECTED = (
    "Stored but rejected: it cannot be read; the ACK (AR) or OperationOutcome says why. "
    "problem+json: an Idempotency-Key reused for another request."
)
LOCATION_HEADER = {
    "Location": {
        "description": "Where the report's status can be read.",
        "schema": {"type": "string"},
    }
}


@blp.route("/lab-reports", methods=["POST"])
@blp.doc(parameters=[IDEMPOTENCY_PARAMETER], requestBody=LAB_REPORT_BODY)
@_problem_responses(400, 401, 403, 413, 415, 422)
@_rate_limited
@per_certificate("ApiLabReportRateLimit", scope="api-lab-reports")
@answered
@blp.response(
    201,
    schemas.HL7_MESSAGE,
    content_type=HL7_V2,
    description=STORED,
    headers=LOCATION_HEADER,
)
@blp.response(
    201,
    schemas.OPERATION_OUTCOME,
    content_type=FHIR_JSON,
    description=STORED,
    headers=LOCATION_HEADER,
)
@blp.response(
    422,
    schemas.HL7_MESSAGE,
    content_type=HL7_V2,
    description=REJECTED,
    headers=LOCATION_HEADER,
)
@blp.response(
    422,
    schemas.OPERATION_OUTCOME,
    content_type=FHIR_JSON,
    description=REJECTED,
    headers=LOCATION_HEADER,
)
def lab_reports():
    """Deliver a lab report (HL7 v2 ORU^R01 or a FHIR R4 Bundle)

    The report takes the same road as a file in the lab inbox: matched to its order by
    order number with the personnummer cross-checked, corrections supersede, STI
    positives are held for staff, what cannot be matched is kept for staff, what cannot
    be read is kept as rejected, and a control id (MSH-10, Bundle.identifier) that came
    before is a duplicate, not imported again. It is stored before the answer is sent.
    """
    declared = LAB_REPORT_TYPES.get(request.mimetype)
    if declared is None:
        return problem(415, f"send {HL7_V2} (ORU^R01) or {FHIR_JSON} (a Bundle)")
    data = request.get_data()
    try:
        sniffed = sniff_format(data)
    except ParseError:
        sniffed = declared  # unreadable: the pipeline keeps it as rejected, with the reason
    if sniffed != declared:
        return problem(
            400, f"the body is {sniffed}, but Content-Type says {request.mimetype}: nothing kept"
        )
    now = utcnow()
    received = receive_lab_message(db.session(), data, origin=api_origin(g.user.hsa_id), now=now)
    record_lab_report_received(db.session(), received, actor=g.actor, now=now)
    status = 422 if received.status == "rejected" else 201
    location = url_for("api.lab_report", message_id=received.message_id)
    if declared == FORMAT_HL7V2:
        ack, encoding = hl7_ack(received, now=now)
        response = Response(
            ack.encode(encoding, "replace"),
            status=status,
            content_type=f"{HL7_V2}; charset={encoding}",
        )
    else:
        response = Response(
            json.dumps(_operation_outcome(received)), status=status, content_type=FHIR_JSON
        )
    response.headers["Location"] = location
    return response


OUTCOME = {
    "imported": ("information", "informational", "imported"),
    "duplicate": ("warning", "duplicate", "received before: not imported again"),
    "unmatched": ("warning", "not-found", "kept for staff to match by hand"),
    "rejected": ("error", "invalid", "rejected: it cannot be read"),
}


def _operation_outcome(received) -> dict:
    severity, code, text = OUTCOME[received.status]
    detail = f"lab report {received.message_id}: {text}"
    if received.error and received.status != "duplicate":
        detail += f" ({received.error})"
    return {
        "resourceType": "OperationOutcome",
        "id": str(received.message_id),
        "issue": [{"severity": severity, "code": code, "diagnostics": detail}],
    }


@blp.route("/lab-reports/<int:message_id>")
@_problem_responses(401, 403, 404)
@_rate_limited
@answered
@blp.response(200, schemas.LabReport)
def lab_report(message_id):
    """The status of a lab report this system delivered

    Reports other systems delivered are 404 here. The read is written to the PDL log.
    """
    message = read_lab_report(db.session(), message_id=message_id, actor=g.actor, now=utcnow())
    return {
        "id": message.id,
        "status": message.status,
        "format": message.format,
        "controlId": message.control_id,
        "orderNumber": message.order_number,
        "receivedAt": message.received_at,
        "detail": message.error,
    }
