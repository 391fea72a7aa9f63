"""EP.Admin's catalogue pages (/EP.Admin): packages, analyses, sampling locations, audit log.

The users pages are another blueprint on the same prefix (ep/web/admin.py); this one
has its own name, ``admin_catalogue``, and checks the admin role the same way.
"""

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from ep.database import continue_as_writer
from ep.domain.audit_search import parse_cursor, search_audit
from ep.domain.catalogue import (
    all_analyses,
    all_locations,
    all_packages,
    save_analysis,
    save_location,
    save_package,
    set_location_active,
)
from ep.domain.staff_input import (
    N_,
    InvalidInput,
    Problems,
    parse_date,
    row_number,
    start_of_local_day,
)
from ep.extensions import db
from ep.identity import InvalidIdentifier, format_personnummer, parse_hsa_id, parse_personnummer
from ep.models import Analysis, Package, SamplingLocation
from ep.models.catalogue import GUIDANCE_FIELDS
from ep.timeutil import utcnow
from ep.web import audit_words
from ep.web.access import require_role
from ep.web.staff import logged_page, translated

bp = Blueprint("admin_catalogue", __name__, url_prefix="/EP.Admin")


@bp.before_request
def _require_admin():
    require_role("admin")
    continue_as_writer(db.session())  # as the other EP.Admin pages (ep.web.admin)


@bp.context_processor
def _helpers():
    # the users pages are the operator helper's blueprint; link them when they are there
    return dict(
        format_personnummer=format_personnummer,
        users_pages="admin" in current_app.blueprints,
        audit_action=audit_words.action_text,
        audit_object=audit_words.object_text,
        audit_details=audit_words.details_text,
    )


def _edit_page(model, item_id, *, kind, values, save, template, what, back, context=None):
    """Add (no id) or change one catalogue item: show its form, save it, or show the problems.

    ``values(current)`` fills the form, ``save(current)`` saves what was posted (raising
    InvalidInput), and ``context(current)`` adds what else the template needs.
    """
    current = db.session.get(model, item_id) if item_id else None
    if item_id and current is None:
        abort(404)
    form, errors, status = values(current), {}, 200
    if request.method == "POST":
        try:
            saved = save(current)
        except InvalidInput as error:
            db.session.rollback()
            form, errors, status = request.form, translated(error), 400
        else:
            db.session.commit()
            flash(_("%(what)s %(name)s är sparat.", what=what, name=saved.code))
            return redirect(url_for(back))
    extra = context(current) if context else {}
    return render_template(template, form=form, errors=errors, **{kind: current}, **extra), status


# -- packages --


@bp.get("/packages")
def packages():
    """Every package with its analyses and release policy."""
    return render_template("admin/catalogue/packages.html", packages=all_packages(db.session()))


def _package_values(package: Package | None) -> dict:
    if package is None:
        return {"order_validity_days": "30", "release_policy": "immediate", "active": "1"}
    values = {
        name: "" if getattr(package, name) is None else str(getattr(package, name))
        for name in (
            "code name_sv name_en instructions_sv instructions_en min_age max_age "
            "order_validity_days release_policy remind_offer_after_days "
            "remind_expiring_within_days remind_kit_after_days"
        ).split()
    }
    for flag in ("home_kit", "generally_available", "active"):
        values[flag] = "1" if getattr(package, flag) else ""
    return values


def _package_context(package: Package | None) -> dict:
    if request.method == "POST":
        chosen = request.form.getlist("analyses")
    else:
        chosen = [a.code for a in package.analyses] if package else []
    return dict(analyses=all_analyses(db.session()), chosen=chosen)


@bp.route("/packages/new", methods=["GET", "POST"])
@bp.route("/packages/<int:package_id>", methods=["GET", "POST"])
def package(package_id: int | None = None):
    """Add or change a package: names, instructions, analyses, rules."""
    return _edit_page(
        Package,
        package_id,
        kind="package",
        values=_package_values,
        save=lambda current: save_package(
            db.session(),
            current,
            request.form,
            request.form.getlist("analyses"),
            actor=g.actor,
            now=utcnow(),
        ),
        template="admin/catalogue/package_form.html",
        what=_("Provpaketet"),
        back="admin_catalogue.packages",
        context=_package_context,
    )


# -- analyses --


@bp.get("/analyses")
def analyses():
    """Every analysis with its unit and reference range."""
    return render_template("admin/catalogue/analyses.html", analyses=all_analyses(db.session()))


def _analysis_values(analysis: Analysis | None) -> dict:
    if analysis is None:
        return {}
    names = "code name_sv name_en unit ref_low ref_high ref_text about_sv about_en".split()
    names += GUIDANCE_FIELDS
    values = {}
    for name in names:
        value = getattr(analysis, name)
        if isinstance(value, float):
            value = f"{value:g}".replace(".", ",")
        values[name] = "" if value is None else str(value)
    return values


@bp.route("/analyses/new", methods=["GET", "POST"])
@bp.route("/analyses/<int:analysis_id>", methods=["GET", "POST"])
def analysis(analysis_id: int | None = None):
    """Add or change an analysis."""
    return _edit_page(
        Analysis,
        analysis_id,
        kind="analysis",
        values=_analysis_values,
        save=lambda current: save_analysis(
            db.session(), current, request.form, actor=g.actor, now=utcnow()
        ),
        template="admin/catalogue/analysis_form.html",
        what=_("Analysen"),
        back="admin_catalogue.analyses",
    )


# -- sampling locations --


@bp.get("/locations")
def locations():
    """Every sampling location, open or closed."""
    return render_template("admin/catalogue/locations.html", locations=all_locations(db.session()))


def _location_values(location: SamplingLocation | None) -> dict:
    if location is None:
        return {}
    names = "code name address city opening_hours care_unit_hsa_id".split()
    return {name: getattr(location, name) or "" for name in names}


@bp.route("/locations/new", methods=["GET", "POST"])
@bp.route("/locations/<int:location_id>", methods=["GET", "POST"])
def location(location_id: int | None = None):
    """Add or change a sampling location."""
    return _edit_page(
        SamplingLocation,
        location_id,
        kind="location",
        values=_location_values,
        save=lambda current: save_location(
            db.session(), current, request.form, actor=g.actor, now=utcnow()
        ),
        template="admin/catalogue/location_form.html",
        what=_("Provtagningsstället"),
        back="admin_catalogue.locations",
    )


@bp.post("/locations/<int:location_id>/active")
def location_active(location_id: int):
    """Open or close a sampling location for new orders."""
    current = db.session.get(SamplingLocation, location_id) or abort(404)
    active = request.form.get("active") == "1"
    set_location_active(db.session(), current, active, actor=g.actor, now=utcnow())
    db.session.commit()
    if active:
        flash(_("%(name)s tar emot beställningar igen.", name=current.name))
    else:
        flash(_("%(name)s är stängt för nya beställningar.", name=current.name))
    return redirect(url_for("admin_catalogue.locations"))


# -- the PDL access log --


@bp.route("/audit", methods=["GET", "POST"])
def audit():
    """Search the access log by patient, user and time (POST keeps personnummer out of URLs)."""
    if request.method == "GET":
        return render_template("admin/catalogue/audit.html", form={}, errors={}, result=None)
    form = request.form
    problems = Problems()
    personnummer = hsa_id = None
    if form.get("personnummer", "").strip():
        try:
            personnummer = parse_personnummer(form["personnummer"])
        except InvalidIdentifier:
            problems.add("personnummer", N_("Personnumret är inte giltigt."))
    if form.get("hsa_id", "").strip():
        try:
            hsa_id = parse_hsa_id(form["hsa_id"])
        except InvalidIdentifier:
            problems.add("hsa_id", N_("Skriv ett HSA-id, till exempel SE2321000016-VC01."))
    since = parse_date(problems, "since", form.get("since"))
    until = parse_date(problems, "until", form.get("until"))
    if since and until and since > until:
        problems.add("until", N_("Slutdatumet måste vara samma dag som startdatumet eller senare."))
    page = row_number(form.get("page")) or 1
    try:
        problems.raise_any()
    except InvalidInput as error:
        errors = translated(error)
        return render_template("admin/catalogue/audit.html", form=form, errors=errors), 400
    result = search_audit(
        db.session(),
        personnummer=personnummer,
        hsa_id=hsa_id,
        since=start_of_local_day(since) if since else None,
        until=start_of_local_day(until + timedelta(days=1)) if until else None,
        page=page,
        after=parse_cursor(form.get("after")),
        before=parse_cursor(form.get("before")),
        actor=g.actor,
        now=utcnow(),
    )
    return logged_page("admin/catalogue/audit.html", form=form, errors={}, result=result)
