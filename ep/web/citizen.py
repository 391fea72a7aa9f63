"""The resident's pages (/): offers, orders, home kits, results, inbox, settings, access log.

Every page but the start, login and language choice needs a logged-in resident
(ep.web.citizen_auth), and every lookup goes through ep.domain with that resident, so
another resident's order, result, kit or message is a 404 however its id is guessed.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, RadioField, StringField, SubmitField
from wtforms.validators import InputRequired

from ep.database import continue_as_writer
from ep.domain import NotFound, residents
from ep.domain import orders as order_service
from ep.domain.purge import AUDIT_MINIMUM_YEARS
from ep.domain.staff_input import row_number
from ep.extensions import db
from ep.identity import InvalidIdentifier, format_personnummer
from ep.models import InboxMessage, Order, Package, Person, SamplingLocation
from ep.notify.texts import inbox_text_in
from ep.timeutil import utcnow
from ep.web import oidc
from ep.web.citizen_auth import (
    DevLoginForm,
    end_session,
    identify_resident,
    login_mode,
    login_required,
    start_session,
)
from ep.web.citizen_chart import trend_chart
from ep.web.formats import lab_text, refresh_language
from ep.web.formats import language as page_language
from ep.web.ratelimit import client_address, limited, resident, typed_personnummer
from ep.web.redirects import safe_next

bp = Blueprint("citizen", __name__)
log = logging.getLogger(__name__)
# session keys: a login begun at the identity provider, and its ID token (for the logout)
OIDC_PENDING = "oidc_login"
OIDC_ID_TOKEN = "oidc_id_token"

LANGUAGE_NAMES = {"sv": "Svenska", "en": "English"}
HOME_KIT = "home"
# results released this recently are "new" on the start page
NEW_RESULTS_DAYS = 30
# when the resident pages were last assessed for the accessibility statement
ACCESSIBILITY_ASSESSED = datetime(2026, 12, 1, 12, tzinfo=UTC)

# the resident's access log in words: by audit action, or by a read's purpose
ACCESS_ACTIONS = {
    "read:patient": _l("Läste dina erbjudanden, beställningar och provsvar"),
    "read:results": _l("Läste provsvaren på beställning %(order)s"),
    "order": _l("Läste beställning %(order)s med provsvar"),
    "read:worklist": _l("Läste ditt provsvar på arbetslistan för kontakt"),
    "contact": _l("Läste ditt telefonnummer för att kontakta dig om beställning %(order)s"),
    "kit-label": _l("Skrev ut etiketten till ditt hemtest, beställning %(order)s"),
    "read:open-orders": _l("Läste dina beställningar vid provtagningen"),
    "read:lab-message": _l("Läste ett provsvar från labbet om dig"),
    "read:unmatched-results": _l("Läste ett provsvar från labbet om dig"),
    "read:result-conflicts": _l("Läste ett provsvar från labbet om dig"),
    "search:patient": _l("Sökte efter dig"),
    "update:order": _l("Ändrade beställning %(order)s"),
    "update:results": _l("Förde in provsvar på beställning %(order)s"),
    "create:offer": _l("Gav dig ett erbjudande om provtagning"),
    "create:person": _l("Lade till dig i Egen provhantering"),
}
ROLE_NAMES = {
    "staff": _l("vårdpersonal"),
    "admin": _l("administratör"),
    "operator": _l("drift"),
}
# a home kit's steps (ep.models.orders.KIT_STEPS), as residents and staff read them
KIT_STEP = {
    "ordered": _l("Beställt"),
    "sent": _l("Skickat till dig"),
    "registered": _l("Registrerat av dig"),
    "received": _l("Mottaget av labbet"),
    "answered": _l("Besvarat"),
}
ORDER_STATUS = {
    "ordered": _l("Beställd, väntar på provtagning"),
    "sampled": _l("Provet är taget"),
    "partial": _l("Några svar har kommit"),
    "resulted": _l("Svar har kommit, granskas"),
    "released": _l("Svar finns"),
    "cancelled": _l("Avbeställd"),
    "expired": _l("Har gått ut"),
}
FLAG_TEXT = {
    "N": _l("Normalt"),
    "L": _l("Lågt"),
    "H": _l("Högt"),
    "LL": _l("Mycket lågt"),
    "HH": _l("Mycket högt"),
    "A": _l("Avvikande"),
    "AA": _l("Mycket avvikande"),
    "POS": _l("Positivt"),
    "NEG": _l("Negativt"),
}
REFUSALS = {
    "offer-not-active": _l("Erbjudandet går inte längre att beställa."),
    "not-eligible": _l("Du kan inte beställa det här provpaketet."),
    "no-home-kit": _l("Det finns inget hemtest för det här provpaketet."),
    "location-required": _l("Välj en provtagningsplats eller hemtest."),
    "address-required": _l("Skriv adressen dit kitet ska skickas: gata, postnummer och ort."),
    "not-cancellable": _l("Beställningen kan inte avbeställas, provet är redan taget."),
    "kit-code-invalid": _l("Koden ska ha 6–40 bokstäver, siffror eller bindestreck."),
    "kit-not-registrable": _l(
        "Koden kan inte registreras. Kontrollera koden och att du har beställt ett hemtest."
    ),
}
SETTINGS_PROBLEMS = {
    ("mobile", "invalid"): _l("Skriv ett mobilnummer, till exempel 070-123 45 67."),
    ("mobile", "required"): _l("Skriv ditt mobilnummer för att få sms."),
    ("email", "invalid"): _l("Skriv en e-postadress, till exempel namn@exempel.se."),
    ("email", "required"): _l("Skriv din e-postadress för att få e-post."),
    ("channel", "invalid"): _l("Välj ett av alternativen."),
    ("language", "invalid"): _l("Välj ett av alternativen."),
}


@dataclass(frozen=True)
class StartPage:
    """What a logged-in resident sees first: what to do next and what is new."""

    offers: list[order_service.Orderable]  # offered by their care unit, not yet ordered
    to_sample: list[Order]  # ordered for a sampling site, waiting for the sample
    kits_to_register: list[Order]  # home kits ordered, code not yet registered
    new_results: list[Order]  # released in the last NEW_RESULTS_DAYS days
    unread: list[InboxMessage]


def start_page(person: Person, *, now: datetime) -> StartPage:
    """The start page from the services the other pages use: one read of the resident's
    orders gives both the ones waiting for them and the recently released ones."""
    orders = order_service.my_orders(db.session(), person=person)
    waiting = [o for o in orders if o.status == "ordered"]
    recent = now - timedelta(days=NEW_RESULTS_DAYS)
    return StartPage(
        offers=[
            item
            for item in order_service.orderable(db.session(), person=person, now=now)
            if item.offer is not None
        ],
        to_sample=[o for o in waiting if not o.home_kit],
        kits_to_register=[o for o in waiting if o.home_kit and o.kit is None],
        new_results=[o for o in orders if o.released_at is not None and o.released_at >= recent],
        unread=[m for m in residents.my_messages(db.session(), person=person) if m.read_at is None],
    )


@dataclass(frozen=True)
class ResultRow:
    """One result as the resident reads it, every text already in their language."""

    name: str
    about: str
    comment: str | None
    note: str | None  # preliminary or corrected
    value: str
    unit: str
    reference: str
    flag: str  # in words: "Högt", never a colour alone
    abnormal: bool
    # what this outcome means and what happens next, as EP.Admin wrote it for the analysis
    meaning: str = ""
    next_step: str = ""


def _translated(mapping: dict) -> dict[str, str]:
    """The lazy texts of ``mapping`` translated once per request (pages list hundreds)."""
    cache = g.setdefault("translated", {})
    if id(mapping) not in cache:
        cache[id(mapping)] = {key: str(text) for key, text in mapping.items()}
    return cache[id(mapping)]


def result_texts() -> dict:
    """The results page's recurring texts, translated once per page (not once per order)."""
    return {
        "columns": [_("Analys"), _("Värde"), _("Enhet"), _("Referensområde"), _("Bedömning")],
        "comment": _("Kommentar:"),
        "meaning": _("Vad svaret betyder:"),
        "next_step": _("Nästa steg:"),
        # formats, filled in with % in the template
        "caption": _("Provsvar för beställning %(number)s"),
        "order": _("Beställning %(number)s"),
        "published": _("Svar publicerat %(when)s"),
        "flags": _translated(FLAG_TEXT),
    }


def result_rows(results, analyses, language: str, texts: dict) -> list[ResultRow]:
    """Resolve results into rows for the results table (names, ranges, flags in words)."""
    flags = texts["flags"]
    rows = []
    for result in results:
        analysis = analyses.get(result.analysis_code)
        flag = residents.derived_flag(result)
        note = None
        if result.status == "P":
            note = _("Preliminärt svar")
        elif result.status == "C":
            note = _("Rättat svar")
        about = meaning = next_step = ""
        abnormal = flag is not None and flag not in ("N", "NEG")
        if analysis is not None:
            about = (analysis.about_en if language == "en" else analysis.about_sv) or ""
            if flag is not None and result.status != "P":  # a preliminary value may change
                outcome = "abnormal" if abnormal else "normal"
                meaning, next_step = analysis.guidance(outcome, language)
        rows.append(
            ResultRow(
                name=analysis.name(language) if analysis else result.analysis_code,
                about=about,
                comment=result.comment,
                note=note,
                value=lab_text(result.value_text),
                unit=result.unit or "",
                reference=lab_text(
                    result.ref_range or (analysis.ref_text if analysis else None) or ""
                ),
                flag=flags.get(flag, flag) if flag else "–",
                abnormal=abnormal,
                meaning=meaning,
                next_step=next_step,
            )
        )
    return rows


# -- forms (labels are written in the templates, where they are translated) --


class PostForm(FlaskForm):
    """A form that is only a button: the CSRF token is its whole content."""


class LanguageForm(FlaskForm):
    lang = HiddenField()
    next = HiddenField()


class OrderForm(FlaskForm):
    where = RadioField(validators=[InputRequired(message=_l("Välj var du vill lämna provet."))])
    # checked by the service, and only for a home kit
    address = StringField()
    submit = SubmitField()


class KitForm(FlaskForm):
    code = StringField(validators=[InputRequired(message=_l("Skriv koden som står på kitet."))])
    submit = SubmitField()


class SettingsForm(FlaskForm):
    # WTForms takes bare values as choices too; types-WTForms declares only pairs
    channel = RadioField(choices=["", "sms", "email"], default="")  # type: ignore[list-item]
    mobile = StringField()
    email = StringField()
    language = RadioField(choices=list(LANGUAGE_NAMES))  # type: ignore[arg-type]  # as above
    submit = SubmitField()


# -- every request --


@bp.before_app_request
def _identify():
    if request.blueprint == "citizen":
        identify_resident()


@bp.before_request
def _changes_as_writer():
    # a form that changes something (an order, a cancellation, the settings, a login)
    if request.method == "POST":
        continue_as_writer(db.session())


@bp.app_context_processor
def _helpers():
    return {
        "person": g.get("person"),
        "login_mode": login_mode,
        "order_status": order_status,
        "access_text": access_text,
        "access_role": access_role,
        "kit_step_labels": lambda: {step: str(label) for step, label in KIT_STEP.items()},
        "result_rows": result_rows,
        "result_texts": result_texts,
        "language_names": LANGUAGE_NAMES,
        "format_personnummer": format_personnummer,
        "unread_messages": lambda: residents.unread_count(db.session(), person=g.person),
        # (subject, body) in the page's language, whichever language it was written in
        "message_text": lambda m: inbox_text_in(m.subject, m.body, page_language()),
    }


def order_status(order: Order) -> str:
    """The order's status in words; a home kit not yet at the lab says where the kit is
    ("Skickat till dig"), as "Beställd, väntar på provtagning" would not."""
    if order.home_kit and order.status == "ordered":
        return str(KIT_STEP[order.kit_step or "ordered"])
    return str(ORDER_STATUS.get(order.status, order.status))


def _not_found(function, **kwargs):
    """Call a domain lookup for the logged-in resident; 404 when it is not theirs."""
    try:
        return function(db.session(), person=g.person, **kwargs)
    except NotFound:
        abort(404)


def own_page(action: str, template: str, *, of_order: Order | None = None, **context) -> str:
    """Render a page of the resident's own orders or results, then log their read of it
    (PDL) and commit that before the page is answered: no event, no page (a 500).
    ``of_order``: the page is of that one order, else of all the resident's.

    The page's own reads end first, and the event is written in a short transaction of its
    own that asks for the write lock from the start (BEGIN IMMEDIATE on SQLite, where one
    connection writes at a time): the lock is held for one INSERT, not for the page's
    queries and template, and no transaction reads and then writes, which in SQLite's WAL
    mode fails at once when another resident's event was committed in between.
    """
    html = render_template(template, **context)
    read = residents.own_read(g.person, action, client_addr=_client_ip(), order=of_order)
    continue_as_writer(db.session())  # the page changed nothing: its reads end here
    residents.record_own_read(db.session(), read, now=utcnow())
    db.session.commit()
    return html


# -- public pages --


@bp.get("/")
def start():
    """The start page: for a logged-in resident what to do next and what is new,
    for anyone else what EP is and the packages anyone eligible can order."""
    if g.person is not None:
        overview = start_page(g.person, now=utcnow())
        return own_page("read:own-start", "citizen/overview.html", start=overview)
    packages = db.session.scalars(
        select(Package).where(Package.active, Package.generally_available).order_by(Package.code)
    ).all()
    return render_template("citizen/start.html", packages=packages)


# -- what a Swedish public e-service must say about itself --


def _owner() -> dict:
    config = current_app.config["EP"]
    return {
        "owner": config["ServiceOwner"] or _("Regionen"),
        "contact": config["ServiceContactEmail"],
        "dpo": config["DataProtectionOfficerEmail"],
    }


def _years(days: int) -> int:
    return max(1, round(days / 365.25))


@bp.get("/tillganglighet")
def accessibility():
    """Tillgänglighetsredogörelse, after DIGG's model (lag 2018:1937, DOS-lagen)."""
    return render_template(
        "citizen/accessibility.html", assessed=ACCESSIBILITY_ASSESSED, **_owner()
    )


@bp.get("/personuppgifter")
def privacy():
    """How EP handles personal data (GDPR articles 13 and 14); retention from the config."""
    config = current_app.config["EP"]
    years = {
        "orders": _years(config["RetainOrdersDays"]),
        "notifications": _years(config["RetainNotificationsDays"]),
        "audit": max(_years(config["RetainAuditEventsDays"]), AUDIT_MINIMUM_YEARS),
    }
    return render_template("citizen/privacy.html", years=years, **_owner())


@bp.get("/kakor")
def cookies():
    """The cookies EP sets (lag 2022:482 om elektronisk kommunikation, 9 kap. 28 §)."""
    return render_template(
        "citizen/cookies.html", cookie_name=current_app.config["SESSION_COOKIE_NAME"]
    )


@bp.route("/login", methods=["GET", "POST"])
@limited("Login", typed_personnummer)
def login():
    """Log in: to the region's identity provider, the dev form, or where the proxy is."""
    target = safe_next(request.values.get("next"), url_for("citizen.start"))
    if g.person is not None:
        return redirect(target)
    if login_mode() == "oidc":
        return _begin_oidc_login(target)
    if login_mode() != "dev":
        return render_template("citizen/login_header.html"), 401
    form = DevLoginForm()
    if form.validate_on_submit():
        try:
            person = residents.login_person(
                db.session(), personnummer=form.personnummer.data, now=utcnow()
            )
        except InvalidIdentifier:
            form.personnummer.errors.append(
                _("Skriv ett giltigt personnummer med 12 siffror, ÅÅÅÅMMDD-NNNN.")
            )
        else:
            start_session(person)
            db.session.commit()
            return redirect(target)
    elif form.is_submitted() and not form.personnummer.errors:
        form.personnummer.errors.append(_("Skriv ditt personnummer."))
    return render_template("citizen/login.html", form=form, next=target)


# what a resident is told when a login at the identity provider did not succeed
LOGIN_FAILURES = {
    oidc.CANCELLED: (
        _l("Inloggningen avbröts"),
        _l("Du avbröt inloggningen. Du är inte inloggad."),
        400,
    ),
    oidc.ASSURANCE: (
        _l("Inloggningen räcker inte"),
        _l(
            "Du loggade in på ett sätt som inte räcker för att se provsvar. "
            "Logga in med BankID, Freja+ eller en annan e-legitimation."
        ),
        403,
    ),
    oidc.UNAVAILABLE: (
        _l("Inloggningen fungerar inte just nu"),
        _l("Inloggningstjänsten svarar inte just nu. Försök igen om en stund."),
        503,
    ),
    oidc.REFUSED: (
        _l("Inloggningen misslyckades"),
        _l("Inloggningen kunde inte slutföras. Börja om från startsidan och logga in igen."),
        400,
    ),
}


def _client_ip() -> str:
    # behind nginx, the resident's address rather than the proxy's (as the rate limits see it)
    return client_address().removeprefix("address:")


def _callback_url() -> str:
    # EP is served over https; the provider holds this exact address for EP's client
    return url_for("citizen.login_callback", _external=True, _scheme="https")


def _login_failed(failure: oidc.LoginFailed):
    """Log and audit a failed login; tell the resident in words, never a stack trace."""
    log.warning(
        "resident login failed (%s) from %s: %s", failure.reason, client_address(), failure.detail
    )
    db.session.rollback()
    residents.record_login_failure(
        db.session(),
        personnummer=failure.personnummer,
        reason=failure.reason,
        detail=failure.detail,
        client_addr=_client_ip(),
        now=utcnow(),
    )
    db.session.commit()
    title, text, status = LOGIN_FAILURES[failure.reason]
    return render_template("citizen/login_failed.html", title=title, text=text), status


def _begin_oidc_login(target: str):
    try:
        url, pending = oidc.begin(
            current_app.config["EP"], redirect_uri=_callback_url(), language=get_locale().language
        )
    except oidc.LoginFailed as failure:
        return _login_failed(failure)
    session[OIDC_PENDING] = {**pending, "next": target}
    return redirect(url)


@bp.get("/login/callback")
@limited("Login", None, methods=("GET",))
def login_callback():
    """The identity provider sends the resident back here, logged in or not."""
    if login_mode() != "oidc":
        abort(404)
    config = current_app.config["EP"]
    pending = session.pop(OIDC_PENDING, None)
    now = utcnow()
    try:
        login = oidc.finish(
            config,
            arguments=request.args,
            pending=pending,
            redirect_uri=_callback_url(),
            now=int(now.timestamp()),
        )
        personnummer = login.claims.get(config["OidcPersonnummerClaim"])
        if not isinstance(personnummer, str):
            raise oidc.LoginFailed(
                oidc.REFUSED, f"the ID token has no {config['OidcPersonnummerClaim']} claim"
            )
        try:
            person = residents.login_verified_resident(
                db.session(),
                personnummer=personnummer,
                given_name=str(login.claims.get("given_name") or ""),
                family_name=str(login.claims.get("family_name") or ""),
                how=f"OpenID Connect, acr {login.claims.get('acr')}",
                client_addr=_client_ip(),
                now=now,
            )
        except InvalidIdentifier as exc:
            raise oidc.LoginFailed(oidc.REFUSED, f"the personnummer claim: {exc}") from None
    except oidc.LoginFailed as failure:
        return _login_failed(failure)
    start_session(person)
    session[OIDC_ID_TOKEN] = login.id_token  # the hint for the provider's logout
    db.session.commit()
    log.info("resident %s logged in (acr %s)", person.id, login.claims.get("acr"))
    return redirect(pending["next"])


@bp.post("/logout")
def logout():
    """Log out of EP and, with OpenID Connect, of the identity provider too."""
    if not PostForm().validate_on_submit():
        return redirect(url_for("citizen.start"))
    id_token = session.get(OIDC_ID_TOKEN)
    person = g.person
    end_session()
    if person is not None:
        residents.record_session_event(
            db.session(),
            person=person,
            action="logout",
            client_addr=_client_ip(),
            now=utcnow(),
        )
        db.session.commit()
    flash(_("Du är utloggad."), "info")
    if login_mode() == "oidc":
        config = current_app.config["EP"]
        back = config["OidcPostLogoutRedirect"] or url_for(
            "citizen.start", _external=True, _scheme="https"
        )
        provider_logout = oidc.logout_url(config, id_token=id_token, post_logout_redirect=back)
        if provider_logout:
            return redirect(provider_logout)
    return redirect(url_for("citizen.start"))


@bp.post("/language")
def language():
    """Switch language; remembered in the session and, when logged in, on the resident."""
    form = LanguageForm()
    if form.validate_on_submit() and form.lang.data in LANGUAGE_NAMES:
        session["lang"] = form.lang.data
        if g.person is not None:
            g.person.language = form.lang.data
            db.session.commit()
    return redirect(safe_next(form.next.data, url_for("citizen.start")))


# -- offers and ordering --


@bp.get("/offers")
@login_required
def offers():
    items = order_service.orderable(db.session(), person=g.person, now=utcnow())
    return render_template("citizen/offers.html", items=items)


def _order_form(item, locations) -> OrderForm:
    form = OrderForm()
    # values only: the labels (with address and opening hours) are in the template
    choices = [str(location.id) for location in locations]
    if item.package.home_kit:
        choices.append(HOME_KIT)
    form.where.choices = choices  # type: ignore[assignment]  # bare values, as SettingsForm's
    return form


@bp.route("/order/<int:package_id>", methods=["GET", "POST"])
@login_required
def order(package_id: int):
    """Order a package: choose a sampling location or a home kit."""
    offer_id = row_number(request.args.get("offer"))
    now = utcnow()
    item = _not_found(
        order_service.find_orderable, package_id=package_id, offer_id=offer_id, now=now
    )
    locations = order_service.active_locations(db.session())
    form = _order_form(item, locations)
    if request.method == "GET" and item.package.home_kit:
        form.address.data = order_service.last_delivery_address(db.session(), person=g.person)
    if form.validate_on_submit():
        location = None
        if form.where.data != HOME_KIT:
            location = db.session.get(SamplingLocation, int(form.where.data))
        try:
            placed = order_service.place_order(
                db.session(),
                person=g.person,
                package=item.package,
                offer=item.offer,
                location=location,
                home_kit=form.where.data == HOME_KIT,
                delivery_address=form.address.data,
                now=now,
            )
        except order_service.OrderRefused as exc:
            db.session.rollback()
            field = form.address if exc.reason == "address-required" else form.where
            field.errors = [REFUSALS[exc.reason]]
        else:
            db.session.commit()
            flash(_("Tack! Din beställning är klar."), "success")
            return redirect(url_for("citizen.order_detail", order_id=placed.id))
    return render_template(
        "citizen/order.html",
        item=item,
        form=form,
        locations=locations,
        expires_days=item.package.order_validity_days,
        home_kit_value=HOME_KIT,
    )


@bp.get("/orders")
@login_required
def orders():
    return own_page(
        "read:own-orders",
        "citizen/orders.html",
        orders=order_service.my_orders(db.session(), person=g.person),
        can_cancel=order_service.can_cancel,
    )


@bp.get("/orders/<int:order_id>")
@login_required
def order_detail(order_id: int):
    placed = _not_found(order_service.get_order, order_id=order_id)
    results = residents.order_results(db.session(), person=g.person, order=placed)
    return own_page(
        "read:own-order",
        "citizen/order_detail.html",
        of_order=placed,
        order=placed,
        results=results,
        can_cancel=order_service.can_cancel(placed),
        analyses=residents.analyses_for(db.session(), results),
    )


@bp.route("/orders/<int:order_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(order_id: int):
    """Cancel an order: the page asks first, the form on it cancels."""
    placed = _not_found(order_service.get_order, order_id=order_id)
    if request.method == "GET":
        if not order_service.can_cancel(placed):
            return redirect(url_for("citizen.order_detail", order_id=order_id))
        return render_template("citizen/cancel.html", order=placed)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        order_service.cancel_order(db.session(), person=g.person, order=placed, now=utcnow())
    except order_service.OrderRefused as exc:
        db.session.rollback()
        flash(REFUSALS[exc.reason], "error")
    else:
        db.session.commit()
        flash(_("Beställningen %(number)s är avbeställd.", number=placed.number), "success")
    return redirect(url_for("citizen.order_detail", order_id=order_id))


@bp.route("/kit", methods=["GET", "POST"])
@login_required
@limited("KitCode", resident)
def kit():
    """Register a home kit by the code printed on it; the kit's QR code fills it in."""
    form = KitForm()
    if request.method == "GET" and request.args.get("code"):
        form.code.data = request.args["code"][:40]
    if form.validate_on_submit():
        try:
            registered = order_service.register_kit(
                db.session(), person=g.person, code=form.code.data, now=utcnow()
            )
        except order_service.OrderRefused as exc:
            db.session.rollback()
            form.code.errors = [REFUSALS[exc.reason]]
        else:
            db.session.commit()
            flash(_("Kitet %(code)s är registrerat på dig.", code=registered.code), "success")
            placed = order_service.order_of_kit(db.session(), person=g.person, kit=registered)
            return redirect(url_for("citizen.order_detail", order_id=placed.id))
    return render_template("citizen/kit.html", form=form)


# -- results --


@bp.get("/results")
@login_required
def results():
    overview = residents.my_results(db.session(), person=g.person)
    return own_page(
        "read:own-results",
        "citizen/results.html",
        overview=overview,
        charts={t.code: trend_chart(t) for t in overview.trends},
    )


@bp.get("/results/print")
@login_required
def results_print():
    overview = residents.my_results(db.session(), person=g.person)
    return own_page(
        "read:own-results",
        "citizen/results_print.html",
        overview=overview,
        charts={},
        printed_at=utcnow(),
    )


# -- inbox --


@bp.get("/inbox")
@login_required
def inbox():
    return render_template(
        "citizen/inbox.html", messages=residents.my_messages(db.session(), person=g.person)
    )


@bp.get("/inbox/<int:message_id>")
@login_required
def message(message_id: int):
    """Read a message; opening it marks it read (as in any mail program)."""
    continue_as_writer(db.session())
    found = _not_found(residents.get_message, message_id=message_id)
    if residents.mark_read(db.session(), person=g.person, message=found, now=utcnow()):
        db.session.commit()
    return render_template("citizen/message.html", message=found)


# -- settings and the access log --


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    person = g.person
    form = SettingsForm()
    if request.method == "GET":
        form.channel.data = person.channel or ""
        form.mobile.data = person.mobile or ""
        form.email.data = person.email or ""
        form.language.data = person.language
    elif form.validate_on_submit():
        try:
            residents.update_settings(
                db.session(),
                person=person,
                channel=form.channel.data or None,
                mobile=form.mobile.data,
                email=form.email.data,
                language=form.language.data,
                now=utcnow(),
            )
        except residents.SettingsRefused as exc:
            db.session.rollback()
            for name, reason in exc.problems.items():
                getattr(form, name).errors = [SETTINGS_PROBLEMS[(name, reason)]]
        else:
            session["lang"] = person.language
            refresh_language()  # the confirmation in the language just chosen
            db.session.commit()
            flash(_("Dina inställningar är sparade."), "success")
            return redirect(url_for("citizen.settings"))
    return render_template("citizen/settings.html", form=form)


@bp.get("/access-log")
@login_required
def access_log():
    """Vem har tittat på mina uppgifter: who, from which care unit, what, by day."""
    return render_template(
        "citizen/access_log.html",
        days=residents.access_log_by_day(db.session(), person=g.person),
        printing=request.args.get("print") == "1",
        printed_at=utcnow(),
    )


def access_text(line: residents.Access) -> str:
    """What a line of the access log did, in words a resident reads."""
    order = line.object_id if line.object_type == "order" else None
    purpose = line.action.partition(":")[2]
    if line.action in ACCESS_ACTIONS:
        text = ACCESS_ACTIONS[line.action]
    elif line.action.startswith("read:") and purpose in ACCESS_ACTIONS:
        text = ACCESS_ACTIONS[purpose]
    else:
        text = (
            _l("Läste dina uppgifter")
            if line.action.startswith("read")
            else _l("Ändrade dina uppgifter")
        )
    if order and "%(order)s" in str(text):
        return str(text) % {"order": order}
    return str(text).replace(" %(order)s", "")


def access_role(line: residents.Access) -> str:
    return ", ".join(str(ROLE_NAMES[r]) for r in line.roles if r in ROLE_NAMES) or str(
        ROLE_NAMES["staff"]
    )
