"""EP.Admin (/EP.Admin): users and their roles.

The operations manual's step 2: an operator's HSA-ID is added here and given the role
Operator. Every change goes through ep.domain.users, which writes the audit event. The
catalogue pages are another blueprint on the same prefix (ep/web/admin_catalogue.py).
"""

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
from ep.domain import DomainError
from ep.domain.users import add_user, find_user, find_users, grant_role, revoke_role, set_active
from ep.extensions import db
from ep.identity import InvalidIdentifier, parse_hsa_id
from ep.models.people import ROLES
from ep.timeutil import utcnow
from ep.web.access import require_role

bp = Blueprint("admin", __name__, url_prefix="/EP.Admin")

ADMIN_ROLE = "admin"


@bp.before_request
def _admins_only():
    require_role(ADMIN_ROLE)
    # the audit log's pages log their reads, the users' pages change users
    continue_as_writer(db.session())


@bp.context_processor
def _layout():
    return dict(
        roles=ROLES,
        role_label=role_label,
        catalogue="admin_catalogue" in current_app.blueprints,
    )


def role_label(role: str) -> str:
    labels = {
        "staff": _("Vårdpersonal"),
        "admin": _("Administratör"),
        "operator": _("Operatör"),
        "integration": _("Integration"),
    }
    return labels.get(role, role)


@bp.get("/")
def users():
    """The users with roles and whether active, a page at a time, searched by HSA-ID or name."""
    text = request.args.get("q", "").strip()[:200]
    after = request.args.get("after", "")[:40]
    found, more = find_users(db.session(), text=text, after=after)
    return render_template(
        "admin/users/list.html",
        users=found,
        text=text,
        after=after,
        next_after=found[-1].hsa_id if more else None,
    )


@bp.route("/users/new", methods=["GET", "POST"])
def add():
    """Add a user: HSA-ID (validated), name, roles, care unit."""
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        hsa_id = form.get("hsa_id", "")
        try:
            hsa_id = parse_hsa_id(hsa_id)
        except InvalidIdentifier:
            errors["hsa_id"] = _(
                "Ange ett HSA-id: SE, ett organisationsnummer med 10 siffror, bindestreck "
                "och bokstäver eller siffror, t.ex. SE2321000016-1234."
            )
        care_unit = form.get("care_unit_hsa_id", "").strip()
        if care_unit:
            try:
                care_unit = parse_hsa_id(care_unit)
            except InvalidIdentifier:
                errors["care_unit_hsa_id"] = _("Vårdenhetens HSA-id är inte giltigt.")
        name = form.get("name", "").strip()
        if not name:
            errors["name"] = _("Ange användarens namn.")
        roles = [role for role in form.getlist("roles") if role in ROLES]
        if not errors:
            if find_user(db.session(), hsa_id) is not None:
                errors["hsa_id"] = _(
                    "Det finns redan en användare med HSA-id %(hsa_id)s.", hsa_id=hsa_id
                )
        if not errors:
            try:
                user = add_user(
                    db.session(),
                    hsa_id=hsa_id,
                    name=name,
                    roles=roles,
                    care_unit_hsa_id=care_unit or None,
                    care_unit_name=form.get("care_unit_name", "").strip() or None,
                    actor=g.actor,
                    now=utcnow(),
                )
            except DomainError as exc:
                db.session.rollback()
                errors["form"] = str(exc)
            else:
                db.session.commit()
                flash(_("Användaren %(hsa_id)s är tillagd.", hsa_id=user.hsa_id), "success")
                return redirect(url_for("admin.user", hsa_id=user.hsa_id))
    status = 400 if errors else 200
    return render_template("admin/users/add.html", form=form, errors=errors), status


def _user_or_404(hsa_id: str):
    try:
        user = find_user(db.session(), hsa_id)
    except InvalidIdentifier:
        user = None
    if user is None:
        abort(404)
    return user


@bp.get("/users/<hsa_id>")
def user(hsa_id: str):
    """One user: roles to change, activate or deactivate."""
    return render_template("admin/users/user.html", user=_user_or_404(hsa_id))


@bp.post("/users/<hsa_id>/roles")
def change_roles(hsa_id: str):
    """Give the user exactly the roles ticked in the form."""
    found = _user_or_404(hsa_id)
    wanted = {role for role in request.form.getlist("roles") if role in ROLES}
    if found.id == g.user.id and ADMIN_ROLE not in wanted:
        flash(_("Du kan inte ta bort din egen administratörsroll."), "error")
        return redirect(url_for("admin.user", hsa_id=found.hsa_id))
    now = utcnow()
    changed = False
    for role in ROLES:
        if role in wanted:
            changed |= grant_role(db.session(), found, role, actor=g.actor, now=now)
        else:
            changed |= revoke_role(db.session(), found, role, actor=g.actor, now=now)
    db.session.commit()
    if changed:
        flash(_("Rollerna för %(hsa_id)s är ändrade.", hsa_id=found.hsa_id), "success")
    return redirect(url_for("admin.user", hsa_id=found.hsa_id))


@bp.post("/users/<hsa_id>/active")
def change_active(hsa_id: str):
    """Deactivate (every request by the user is refused from now on) or activate again."""
    found = _user_or_404(hsa_id)
    active = request.form.get("active") == "1"
    if found.id == g.user.id and not active:
        flash(_("Du kan inte inaktivera dig själv."), "error")
        return redirect(url_for("admin.user", hsa_id=found.hsa_id))
    if set_active(db.session(), found, active, actor=g.actor, now=utcnow()):
        db.session.commit()
        message = (
            _("%(hsa_id)s är aktiverad.", hsa_id=found.hsa_id)
            if active
            else _("%(hsa_id)s är inaktiverad.", hsa_id=found.hsa_id)
        )
        flash(message, "success")
    return redirect(url_for("admin.user", hsa_id=found.hsa_id))
