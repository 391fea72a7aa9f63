"""The OmniqOperator blueprint: HealthCheckStatus, the detail page and metrics.

Every page needs a verified operator certificate (ep.web.access.require_role). The plain
HealthCheckStatus says only ``OK`` or ``ERROR``; the detail page, the JSON and the metrics
carry the messages, for the same verified operators.

The detail page and its JSON are in the request's language, messages included (ep.texts);
HealthCheckStatus's two words are the manual's, and the metrics are for Prometheus.
"""

from collections.abc import Sequence

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import Row, select
from sqlalchemy.exc import SQLAlchemyError

from ep.batches.spine import SPINE
from ep.database import Reads
from ep.healthcheck.checks import Report, evaluate
from ep.healthcheck.formats import health_json, prometheus
from ep.models import BatchRun
from ep.texts import render
from ep.timeutil import utcnow
from ep.web.access import require_role

bp = Blueprint("operator", __name__, url_prefix="/OmniqOperator")
RECENT_RUNS = 5
HEALTH_JSON = "application/health+json"
# what each check is about, beside its key (the key is the JSON's and the metrics' name)
COMPONENTS = {
    "database": _l("Databasen"),
    "installation": _l("Installationen"),
    "mllpListener": _l("MLLP-mottagare"),
    "walArchive": _l("WAL-arkivering"),
    "notifications": _l("Aviseringar"),
    "labInbox": _l("Labbinkorgen"),
    "serverCertificate": _l("Servercertifikatet"),
    "trustedCa": _l("Betrodda CA-certifikat"),
    "crl": _l("Spärrlistan"),
}


def say(message: object) -> str:
    """``message`` (ep.texts) as plain text in this request's language."""
    return render(message, get_translations(), str(get_locale()))


def shown(message: object) -> Markup:
    """``message`` (ep.texts) for a page: this request's language, codes marked up."""
    return Markup(render(message, get_translations(), str(get_locale()), html=True))


def operator_session() -> Reads:
    """This request's reads on the operator engine (made in create_app).

    On PostgreSQL that engine saves HealthCheckStatus three round trips of five
    (ep.database.operator_engine): no pool_pre_ping, no BEGIN, no ROLLBACK. A
    pooled connection the database dropped is instead retried once by the first read (the
    role check) and by the database check (ep.database.execute_retrying_once).
    """
    reads = g.get("operator_session")
    if reads is None:
        reads = g.operator_session = Reads(current_app.extensions["ep_operator_engine"])
    return reads


@bp.before_request
def _operators_only():
    require_role("operator", session=operator_session())


@bp.teardown_request
def _close_operator_session(_exc):
    reads = g.pop("operator_session", None)
    if reads is not None:
        reads.close()


@bp.after_request
def _never_cached(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _report(*, detail: bool) -> Report:
    return evaluate(operator_session(), current_app.config["EP"], now=utcnow(), detail=detail)


@bp.get("/Operator/HealthCheckStatus")
def health_check_status():
    """OK with 200, or ERROR with HealthCheckErrorStatusCode (operations manual, section 2)."""
    report = _report(detail=False)
    operator_session().rollback()  # nothing to keep; end the read transaction at once
    if report.ok:
        return Response("OK", status=200, mimetype="text/plain")
    status = current_app.config["EP"]["HealthCheckErrorStatusCode"]
    return Response("ERROR", status=status, mimetype="text/plain")


@bp.get("/")
def detail():
    """Every check with status, message, last activity and threshold; recent runs; reruns."""
    now = utcnow()
    report = _report(detail=True)
    wanted = request.accept_mimetypes.best_match(["text/html", HEALTH_JSON, "application/json"])
    if wanted in (HEALTH_JSON, "application/json"):
        response = jsonify(health_json(report, now=now, say=say))
        response.mimetype = HEALTH_JSON
        if not report.ok:  # a monitor reading the JSON sees the same status code
            response.status_code = current_app.config["EP"]["HealthCheckErrorStatusCode"]
        return response
    runs = _recent_runs()
    # a run its check finds stopped is shown so in the runs table too
    stopped = {check.component: check.stopped for check in report.checks if check.stopped}
    operator_session().rollback()
    return render_template(
        "operator/detail.html",
        report=report,
        runs=runs,
        stopped=stopped,
        batches=SPINE,
        components=COMPONENTS,
        shown=shown,
        now=now,
        database_unreachable=g.get("database_unreachable", False),
    )


@bp.get("/metrics")
def metrics():
    """Prometheus text: a gauge per check, the last success time per batch."""
    report = _report(detail=True)
    operator_session().rollback()
    return Response(
        prometheus(report), mimetype="text/plain", content_type="text/plain; version=0.0.4"
    )


def _recent_runs() -> dict[str, Sequence[Row]] | None:
    """The latest runs of each batch (an indexed LIMIT query each); None without a database.

    Plain rows with the model's attribute names, not ORM objects: the view rolls back
    before rendering, which would expire objects and reload each run one by one.
    """
    try:
        return {
            spec.name: operator_session()
            .execute(
                select(*BatchRun.__table__.columns)
                .where(BatchRun.batch == spec.name)
                .order_by(BatchRun.started_at.desc(), BatchRun.id.desc())
                .limit(RECENT_RUNS)
            )
            .all()
            for spec in SPINE
        }
    except SQLAlchemyError:
        operator_session().rollback()
        return None
