"""/api/v1: the machine-to-machine side, for sampling systems and labs.

JSON, described by an OpenAPI 3.1 document made from the code (flask-smorest and
apispec) at /api/v1/openapi.json, with a documentation page at /api/v1/docs served from
installed packages (Swagger UI from flask-swagger-ui; no CDN).

Who may call: a SITHS function certificate whose HSA-ID is an active user with role
``integration`` (ep.web.access: tls or header mode, CRL, deactivation). Errors are RFC
9457 problem+json, except the lab report answers, which are HL7 ACKs or FHIR
OperationOutcomes.
"""

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask, render_template, request, send_from_directory, url_for
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from ep.api.problems import http_problem, wants_problem
from ep.api.views import INTEGRATION_ROLE, blp
from ep.extensions import csrf
from ep.web.errors import answer_errors

API_PREFIX = "/api/v1"
SWAGGER_UI_FOLDER = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
STATIC_FOLDER = Path(__file__).resolve().parent / "static"
# Swagger UI sets style attributes from its script; everything else stays as strict as
# on EP's own pages
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class _Api(Api):
    def _register_error_handlers(self):
        # flask-smorest would answer every error of the whole app with its own JSON;
        # EP answers problem+json under /api/v1 only (init_api), and leaves its pages be
        pass


docs = Blueprint(
    "api_docs_ui",
    __name__,
    url_prefix=f"{API_PREFIX}/docs",
    template_folder="templates",
    static_folder=str(SWAGGER_UI_FOLDER),
    static_url_path="/swagger-ui",
)


@docs.get("/")
def docs_page():
    response = render_template(
        "api_docs.html",
        spec_url=url_for("api-docs.openapi_json"),
        swagger_ui=url_for("api_docs_ui.static", filename=""),
        init_script=url_for("api_docs_ui.ep_script", filename="api-docs.js"),
    )
    return response, 200, {"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}


@docs.get("/ep/<path:filename>")
def ep_script(filename):
    return send_from_directory(STATIC_FOLDER, filename)


def init_api(app: Flask) -> None:
    """Register /api/v1, its OpenAPI document and its documentation page."""
    app.config.update(
        API_TITLE="EP integration API",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "For sampling systems and laboratories. Every call needs a SITHS "
                    "function certificate (mutual TLS) whose HSA-ID is an EP user with role "
                    f"`{INTEGRATION_ROLE}`. Errors are RFC 9457 problem+json."
                )
            },
            "components": {
                "securitySchemes": {
                    "functionCertificate": {
                        "type": "mutualTLS",
                        "description": "SITHS function certificate; its HSA-ID (subject "
                        "serialNumber) must be an active EP user with role integration.",
                    }
                }
            },
            "security": [{"functionCertificate": []}],
        },
    )
    api = _Api(app)
    csrf.exempt(blp)  # no cookies here: the certificate is the credential
    api.register_blueprint(blp)
    app.register_blueprint(docs)

    # the codes EP's error pages explain come here through ep.web.errors; the rest directly
    answer_errors(app, wants_problem, http_problem)

    @app.errorhandler(HTTPException)
    def _any_http_error(error: HTTPException):
        if not wants_problem(request.path):
            return error  # EP's pages keep their own answers
        return http_problem(error)
