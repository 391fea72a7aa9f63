"""The staff pages (/staff): patients, offers, sampling, manual results, worklist, unmatched
and conflicting lab results.

Every page that shows a patient's data logs the read through the domain service it calls,
and the view commits that event together with the response: the page is rendered first,
then committed, and only then sent, so nothing is shown that was not logged.
"""

import re

import segno
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
from flask_babel import lazy_gettext as _l

from ep.database import continue_as_writer
from ep.domain import DomainError, NotFound, desk
from ep.domain.manual_results import TypedResult, default_range, enter_results, is_qualitative
from ep.domain.offers import assign_offer, assignable_packages, check_offer
from ep.domain.orders import OrderRefused, send_kit
from ep.domain.patient_access import read_order, read_patient
from ep.domain.result_conflicts import KEEP, REPLACE, decide_conflict, open_conflicts
from ep.domain.sampling import mark_sampled, open_orders_for
from ep.domain.staff_input import (
    InvalidInput,
    Problems,
    end_of_local_day,
    optional_int,
    parse_date,
    row_number,
)
from ep.domain.unmatched_results import attach_to_order, read_lab_message, unmatched_messages
from ep.domain.worklist import contact_note, held_orders, mark_contacted
from ep.extensions import db
from ep.identity import InvalidIdentifier, format_personnummer
from ep.models import LabMessage, Order, Package, Person
from ep.timeutil import local, utcnow
from ep.web.access import require_role
from ep.web.ratelimit import limited, staff_member

bp = Blueprint("staff", __name__, url_prefix="/staff")

ORDER_STATUS = {
    "ordered": _l("Beställd"),
    "sampled": _l("Provtagen"),
    "partial": _l("Delsvar"),
    "resulted": _l("Besvarad"),
    "released": _l("Svar visas för invånaren"),
    "cancelled": _l("Avbeställd"),
    "expired": _l("Utgången"),
}
OFFER_STATUS = {
    "active": _l("Aktivt"),
    "ordered": _l("Beställt"),
    "expired": _l("Utgånget"),
    "withdrawn": _l("Återkallat"),
}
FLAG_TEXT = {
    "L": _l("Under referensintervallet"),
    "LL": _l("Kritiskt lågt"),
    "H": _l("Över referensintervallet"),
    "HH": _l("Kritiskt högt"),
    "N": _l("Normalt"),
    "A": _l("Avvikande"),
    "AA": _l("Kritiskt avvikande"),
    "POS": _l("Positivt"),
    "NEG": _l("Negativt"),
}

# a home kit's steps (ep.models.orders.KIT_STEPS) as staff read them; the resident's own
# words ("Skickat till dig", "Registrerat av dig") would speak to the nurse
KIT_STEP = {
    "ordered": _l("Beställt"),
    "sent": _l("Skickat"),
    "registered": _l("Registrerat av invånaren"),
    "received": _l("Mottaget av labbet"),
    "answered": _l("Besvarat"),
}
KIT_REFUSALS = {
    "kit-code-invalid": _l("Koden ska ha 6–40 bokstäver, siffror eller bindestreck."),
    "kit-code-taken": _l("Ett annat kit har redan den koden."),
    "kit-not-sendable": _l("Beställningen väntar inte på ett hemtest."),
}


# why IMPORTRESULTS kept a lab message for manual matching, as ep.domain.lab_import words
# it (in English, in the database), read back into the page's language
UNMATCHED_REASONS = (
    (
        re.compile(r"no order in EP has kit (?P<code>\S+)$"),
        _l("Ingen beställning i EP har kit %(code)s"),
    ),
    (
        re.compile(r"no order (?P<number>\S+)( in EP)?$"),
        _l("Beställning %(number)s finns inte i EP"),
    ),
    (
        re.compile(r"the personnummer does not match the one on order (?P<number>\S+)$"),
        _l("Personnumret stämmer inte med det på beställning %(number)s"),
    ),
    (
        re.compile(r"order (?P<number>\S+) is (?P<status>\w+)$"),
        _l("Beställning %(number)s är %(status)s"),
    ),
)


def unmatched_reason(error: str | None) -> tuple[str, str | None]:
    """(text, its language if not the page's): the reason in words, or as the lab's
    import wrote it (English) when it is not one EP words itself."""
    for pattern, text in UNMATCHED_REASONS:
        if match := pattern.match(error or ""):
            found = match.groupdict()
            if "status" in found:
                found["status"] = str(ORDER_STATUS.get(found["status"], found["status"])).lower()
            return str(text) % found, None
    return error or "", "en"


@bp.before_request
def _require_staff():
    require_role("staff")
    # every staff page logs what it shows (PDL) or changes something
    continue_as_writer(db.session())


@bp.context_processor
def _helpers():
    return dict(
        format_personnummer=format_personnummer,
        order_status=lambda status: ORDER_STATUS.get(status, status),
        offer_status=lambda status: OFFER_STATUS.get(status, status),
        kit_step=lambda step: KIT_STEP.get(step, step),
        flag_text=lambda flag: FLAG_TEXT.get(flag, flag or ""),
        unmatched_reason=unmatched_reason,
    )


def translated(error: InvalidInput) -> dict[str, str]:
    """The problems of a form, each in the reader's language."""
    return {name: _(p.message, **p.params) for name, p in error.problems.items()}


def logged_page(template: str, status: int = 200, **context):
    """Render the page, commit the access-log events written for it, then answer."""
    html = render_template(template, **context)
    db.session.commit()
    return html, status


def _invalid_personnummer() -> dict[str, str]:
    return {
        "personnummer": _(
            "Personnumret är inte giltigt. Skriv 12 siffror, till exempel 19121212-1212."
        )
    }


# -- find a patient --


@bp.get("/")
def index():
    """The staff start page: find a patient, the sampling desk, the worklists."""
    return render_template("staff/index.html", errors={}, form={})


@bp.post("/patients")
@limited("StaffLookup", staff_member)
def find_patient():
    """Open the page of the patient the desk search finds: by personnummer, order number or
    kit code; offer to add a resident EP has not met yet."""
    typed = request.form.get("personnummer", "")
    try:
        found = desk.search(db.session(), key=typed, actor=g.actor, now=utcnow())
    except InvalidIdentifier:
        errors = _invalid_personnummer()
        if not desk.looks_like_personnummer(typed):
            errors = {
                "personnummer": _(
                    "Skriv ett personnummer (19121212-1212), ett ordernummer (EP-XXXX-XXXX) "
                    "eller koden på ett hemtest."
                )
            }
        return render_template("staff/index.html", errors=errors, form=request.form), 400
    except desk.UnknownResident as unknown:
        return logged_page(
            "staff/index.html",
            status=404,
            errors={"personnummer": _("Det finns ingen invånare med det personnumret i EP.")},
            form=request.form,
            unknown=unknown.personnummer,
        )
    except NotFound:
        return logged_page(
            "staff/index.html",
            status=404,
            errors={"personnummer": _("Ingen beställning har det ordernumret eller den koden.")},
            form=request.form,
        )
    db.session.commit()  # a search by order number or kit code is logged as such
    anchor = f"order-{found.order.id}" if found.order else None
    return redirect(url_for("staff.patient", person_id=found.person.id, _anchor=anchor))


@bp.post("/residents")
def add_resident():
    """Add a resident who has not logged in yet (personnummer and name), then open them."""
    try:
        person = desk.add_resident(
            db.session(),
            personnummer=request.form.get("personnummer", ""),
            given_name=request.form.get("given_name", ""),
            family_name=request.form.get("family_name", ""),
            actor=g.actor,
            now=utcnow(),
        )
    except InvalidInput as error:
        db.session.rollback()
        return render_template(
            "staff/index.html",
            errors=translated(error),
            form=request.form,
            unknown=request.form.get("personnummer", ""),
        ), 400
    db.session.commit()
    flash(_("%(name)s är tillagd i EP. Nu kan du tilldela ett erbjudande.", name=person.name))
    return redirect(url_for("staff.patient", person_id=person.id, _anchor="assign-offer"))


def _patient_page(person_id: int, *, errors=None, form=None, status=200):
    try:
        patient = read_patient(db.session(), person_id=person_id, actor=g.actor, now=utcnow())
    except NotFound:
        abort(404)
    return logged_page(
        "staff/patient.html",
        status=status,
        patient=patient,
        packages=assignable_packages(db.session()),
        errors=errors or {},
        form=form or {},
    )


@bp.get("/patients/<int:person_id>")
def patient(person_id: int):
    """The patient's offers, orders and results, and the form to assign an offer."""
    return _patient_page(person_id)


@bp.post("/patients/<int:person_id>/offers")
def assign(person_id: int):
    """Assign an offer of a package to the patient."""
    person = db.session.get(Person, person_id) or abort(404)
    now = utcnow()
    problems = Problems()
    valid_until = parse_date(problems, "valid_until", request.form.get("valid_until"))
    valid_until = end_of_local_day(valid_until) if valid_until else None
    recurrence = optional_int(
        problems, "recurrence_months", request.form.get("recurrence_months"), high=10_000
    )
    package_id = row_number(request.form.get("package"))
    package = db.session.get(Package, package_id) if package_id else None
    check_offer(
        problems, package=package, valid_until=valid_until, recurrence_months=recurrence, now=now
    )
    try:
        problems.raise_any()
        offer = assign_offer(
            db.session(),
            person=person,
            package=package,
            valid_until=valid_until,
            recurrence_months=recurrence,
            actor=g.actor,
            now=now,
        )
    except InvalidInput as error:
        db.session.rollback()
        return _patient_page(person_id, errors=translated(error), form=request.form, status=400)
    db.session.commit()
    flash(_("Erbjudandet om %(package)s är tilldelat.", package=offer.package.name_sv))
    return redirect(url_for("staff.patient", person_id=person_id))


# -- at the sampling site --


@bp.get("/sampling")
def sampling():
    """The sampling desk: find a resident's open orders by personnummer."""
    return render_template("staff/sampling.html", errors={}, form={}, person=None)


@bp.post("/sampling")
@limited("StaffLookup", staff_member)
def find_open_orders():
    """Show the open orders of the resident with the personnummer typed."""
    typed = request.form.get("personnummer", "")
    try:
        orders = open_orders_for(db.session(), personnummer=typed, actor=g.actor, now=utcnow())
    except InvalidIdentifier:
        errors = _invalid_personnummer()
        return render_template(
            "staff/sampling.html", errors=errors, form=request.form, person=None
        ), 400
    person = orders[0].person if orders else None
    return logged_page(
        "staff/sampling.html",
        errors={},
        form=request.form,
        person=person,
        orders=orders,
        searched=True,
    )


@bp.post("/orders/<int:order_id>/sampled")
def sampled(order_id: int):
    """Mark an order sampled."""
    order = db.session.get(Order, order_id) or abort(404)
    try:
        mark_sampled(db.session(), order=order, actor=g.actor, now=utcnow())
    except DomainError:
        db.session.rollback()
        flash(_("Beställningen väntar inte på provtagning och kunde inte markeras."), "error")
        return redirect(url_for("staff.sampling"))
    db.session.commit()
    flash(_("Beställning %(number)s är markerad som provtagen.", number=order.number))
    return redirect(url_for("staff.sampling"))


# -- home kits --


def kit_url(code: str) -> str:
    """The resident's kit page with the code filled in: what the kit's QR code opens."""
    root = current_app.config["EP"]["PublicUrl"] or request.url_root
    return root.rstrip("/") + url_for("citizen.kit", code=code)


@bp.post("/orders/<int:order_id>/kit")
def send_home_kit(order_id: int):
    """Record that a home kit with this code is posted to the resident; show its label."""
    order = db.session.get(Order, order_id) or abort(404)
    try:
        send_kit(
            db.session(),
            order=order,
            code=request.form.get("code", ""),
            actor=g.actor,
            now=utcnow(),
        )
    except OrderRefused as refused:
        db.session.rollback()
        errors = {"code": str(KIT_REFUSALS.get(refused.reason, refused.reason))}
        return _patient_page(order.person_id, errors=errors, form=request.form, status=400)
    db.session.commit()
    return redirect(url_for("staff.kit_label", order_id=order_id))


@bp.get("/orders/<int:order_id>/kit")
def kit_label(order_id: int):
    """The kit's label to print: its code and a QR code opening the resident's kit page."""
    order, _results = read_order(
        db.session(), order_id=order_id, actor=g.actor, now=utcnow(), purpose="kit-label"
    )
    if order.kit is None:
        abort(404)
    qr = segno.make(kit_url(order.kit.code), error="m")
    # inline SVG: no script, no image request, prints sharp at any size
    svg = qr.svg_inline(scale=5, title=order.kit.code)
    return logged_page("staff/kit_label.html", order=order, qr_svg=svg)


# -- results typed by hand --


def _results_page(order_id: int, *, errors=None, form=None, status=200):
    try:
        order, results = read_order(
            db.session(), order_id=order_id, actor=g.actor, now=utcnow(), purpose="order"
        )
    except NotFound:
        abort(404)
    rows = [
        dict(
            analysis=analysis,
            qualitative=is_qualitative(analysis),
            default_range=default_range(analysis),
        )
        for analysis in order.package.analyses
    ]
    return logged_page(
        "staff/results_form.html",
        status=status,
        order=order,
        results=results,
        rows=rows,
        errors=errors or {},
        form=form,
    )


@bp.get("/orders/<int:order_id>/results")
def results_form(order_id: int):
    """The form to type in the results of a sampled order."""
    return _results_page(order_id)


@bp.post("/orders/<int:order_id>/results")
def save_results(order_id: int):
    """Check and store the typed results."""
    order = db.session.get(Order, order_id) or abort(404)
    typed = {
        analysis.code: TypedResult(
            value=request.form.get(f"value-{analysis.code}", ""),
            unit=request.form.get(f"unit-{analysis.code}", ""),
            ref_range=request.form.get(f"range-{analysis.code}", ""),
        )
        for analysis in order.package.analyses
    }
    try:
        enter_results(db.session(), order=order, typed=typed, actor=g.actor, now=utcnow())
    except InvalidInput as error:
        db.session.rollback()
        return _results_page(order_id, errors=translated(error), form=request.form, status=400)
    except DomainError:
        db.session.rollback()
        errors = {"results": _("Beställningen är inte provtagen; svar kan inte föras in.")}
        return _results_page(order_id, errors=errors, form=request.form, status=409)
    db.session.commit()
    flash(_("Provsvaren för %(number)s är sparade.", number=order.number))
    return redirect(url_for("staff.patient", person_id=order.person_id))


# -- the STI-positive worklist --


@bp.get("/worklist")
def worklist():
    """Positive results held until the resident has been contacted."""
    entries = held_orders(db.session(), actor=g.actor, now=utcnow())
    return logged_page("staff/worklist.html", entries=entries)


def _contact_page(order: Order, *, errors=None, form=None, status=200):
    if not order.held_for_contact or order.contacted_at is not None:
        flash(_("Beställningen finns inte längre på arbetslistan."), "error")
        return redirect(url_for("staff.worklist"))
    form = form or {"when": local(utcnow()).strftime("%Y-%m-%dT%H:%M"), "how": "phone"}
    return render_template(
        "staff/contact.html", order=order, errors=errors or {}, form=form
    ), status


@bp.get("/worklist/<int:order_id>/contacted")
def contact_form(order_id: int):
    """Ask first: how and when the resident was contacted, then release the result."""
    try:
        order, _results = read_order(
            db.session(), order_id=order_id, actor=g.actor, now=utcnow(), purpose="contact"
        )
    except NotFound:
        abort(404)
    page = _contact_page(order)
    db.session.commit()  # the read of the name and number to call is logged
    return page


@bp.post("/worklist/<int:order_id>/contacted")
def contacted(order_id: int):
    """Mark the resident contacted, with the contact note, which releases the held result."""
    order = db.session.get(Order, order_id) or abort(404)
    now = utcnow()
    try:
        contact = contact_note(
            how=request.form.get("how", ""),
            when=request.form.get("when", ""),
            note=request.form.get("note", ""),
            now=now,
        )
        mark_contacted(db.session(), order=order, contact=contact, actor=g.actor, now=now)
    except InvalidInput as error:
        return _contact_page(order, errors=translated(error), form=request.form, status=400)
    except DomainError:
        db.session.rollback()
        flash(_("Beställningen finns inte längre på arbetslistan."), "error")
        return redirect(url_for("staff.worklist"))
    db.session.commit()
    flash(_("Kontakten är registrerad och svaret för %(number)s visas nu.", number=order.number))
    return redirect(url_for("staff.worklist"))


# -- unmatched lab results --


@bp.get("/unmatched")
def unmatched():
    """Lab results IMPORTRESULTS could not match to an order."""
    now = utcnow()
    messages = unmatched_messages(db.session(), actor=g.actor, now=now)
    conflicts = open_conflicts(db.session(), actor=g.actor, now=now)
    return logged_page("staff/unmatched.html", messages=messages, conflicts=conflicts)


def _message_page(message_id: int, *, errors=None, form=None, status=200):
    try:
        message, text, observations = read_lab_message(
            db.session(), message_id=message_id, actor=g.actor, now=utcnow()
        )
    except NotFound:
        abort(404)
    return logged_page(
        "staff/unmatched_message.html",
        status=status,
        message=message,
        text=text,
        observations=observations,
        errors=errors or {},
        form=form or {},
    )


@bp.get("/unmatched/<int:message_id>")
def unmatched_message(message_id: int):
    """What an unmatched message said, and the form to attach it to an order."""
    return _message_page(message_id)


@bp.post("/unmatched/<int:message_id>")
def attach(message_id: int):
    """Attach the unmatched message to the order staff name."""
    message = db.session.get(LabMessage, message_id) or abort(404)
    if message.status != "unmatched" or message.resolved_at is not None:
        flash(_("Provsvaret är redan kopplat till en beställning."), "error")
        return redirect(url_for("staff.unmatched"))
    try:
        order, _results = attach_to_order(
            db.session(),
            message=message,
            order_number=request.form.get("order_number", ""),
            confirmed_other_patient=bool(request.form.get("confirm_patient")),
            actor=g.actor,
            now=utcnow(),
        )
    except InvalidInput as error:
        db.session.rollback()
        return _message_page(message_id, errors=translated(error), form=request.form, status=400)
    except DomainError:
        db.session.rollback()
        errors = {"order_number": _("Provsvaret kunde inte kopplas till den beställningen.")}
        return _message_page(message_id, errors=errors, form=request.form, status=409)
    db.session.commit()
    flash(_("Provsvaret är kopplat till beställning %(number)s.", number=order.number))
    return redirect(url_for("staff.unmatched"))


@bp.post("/conflicts/<int:result_id>")
def decide(result_id: int):
    """Keep the value shown, or let the conflicting final value replace it."""
    decision = request.form.get("decision", "")
    if decision not in (KEEP, REPLACE):
        abort(400)
    try:
        result = decide_conflict(
            db.session(), result_id=result_id, decision=decision, actor=g.actor, now=utcnow()
        )
    except NotFound:
        abort(404)
    except DomainError:
        db.session.rollback()
        flash(_("Någon annan har redan avgjort det provsvaret."), "error")
        return redirect(url_for("staff.unmatched"))
    db.session.commit()
    if decision == KEEP:
        flash(_("Det tidigare värdet står kvar för %(number)s.", number=result.order.number))
    else:
        flash(
            _(
                "Det nya värdet gäller nu för %(number)s och visas för invånaren.",
                number=result.order.number,
            )
        )
    return redirect(url_for("staff.unmatched"))
