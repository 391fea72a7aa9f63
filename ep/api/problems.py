"""RFC 9457 problem details: every error /api/v1 gives, except HL7 and FHIR answers."""

from http import HTTPStatus

from flask import Response, json, request
from werkzeug.exceptions import HTTPException

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


def http_problem(error: HTTPException) -> Response:
    """An HTTP error as a problem, with the request's validation messages when it has them."""
    return problem(error.code or 500, _detail(error), errors=_errors(error))


def _detail(error: HTTPException) -> str | None:
    data = getattr(error, "data", None) or {}
    if data.get("message"):
        return str(data["message"])
    return error.description


def _errors(error: HTTPException) -> dict | None:
    data = getattr(error, "data", None) or {}
    return data.get("messages") or data.get("errors")
