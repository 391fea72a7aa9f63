"""RFC 9457 problem details: every error /api/v1 gives, except HL7 and FHIR answers."""

from http import HTTPStatus

from flask import Response, json, request

PROBLEM_JSON = "application/problem+json"
API_PATH = "/api/v1/"


def wants_problem(path: str) -> bool:
    """Errors under /api/v1 are problem+json (the OpenAPI document and docs page too)."""
    return path.startswith(API_PATH) or path == API_PATH.rstrip("/")


def problem(status: int, detail: str | None = None, *, errors: dict | None = None) -> Response:
    """A problem+json response: the HTTP status's phrase as title, ``detail`` saying why."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers["Cache-Control"] = "no-store"
    return response
