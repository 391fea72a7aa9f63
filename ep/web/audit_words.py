"""The access log in the reader's language: what happened, to what, and its details.

The log keeps codes (``update:order``) and, for its details, a key with values
(ep.domain.audit.described); EP.Admin's page words them here. Details kept as plain text
(rows written before, in English; lists of order numbers; a provider's error) are shown
as they were written, marked as English.
"""

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ep.domain.audit import description
from ep.identity import format_personnummer
from ep.timeutil import local
from ep.web.staff import unmatched_reason

ACTIONS = {
    "read:patient": _l("Läste patientsidan"),
    "read:results": _l("Läste provsvar"),
    "read:order": _l("Läste beställning med provsvar"),
    "read:contact": _l("Läste kontaktuppgifter för att ringa upp"),
    "read:kit-label": _l("Skrev ut etikett till hemtest"),
    "read:worklist": _l("Läste arbetslistan STI-positiva"),
    "read:open-orders": _l("Läste öppna beställningar vid provtagningen"),
    "read:lab-message": _l("Läste ett labbmeddelande"),
    "read:unmatched-results": _l("Läste listan över omatchade provsvar"),
    "read:result-conflicts": _l("Läste listan över motstridiga provsvar"),
    "read:lab-report": _l("Läste en labbrapport (API)"),
    "create:lab-report": _l("Lämnade en labbrapport (API)"),
    "lab_message.attach": _l("Kopplade ett labbmeddelande till en beställning"),
    "search:patient": _l("Sökte efter patient"),
    "search:audit-log": _l("Sökte i åtkomstloggen"),
    "update:order": _l("Ändrade beställning"),
    "update:results": _l("Förde in provsvar"),
    "update:result-conflict-keep": _l("Behöll det tidigare provsvaret"),
    "update:result-conflict-replace": _l("Ersatte provsvaret med det nya"),
    "create:offer": _l("Gav ett erbjudande"),
    "create:person": _l("Lade till invånare"),
    "read:own-start": _l("Läste sin startsida med beställningar och nya provsvar"),
    "read:own-results": _l("Läste sina provsvar"),
    "read:own-orders": _l("Läste sina beställningar"),
    "read:own-order": _l("Läste sin beställning med provsvar"),
    "login": _l("Loggade in"),
    "logout": _l("Loggade ut"),
    "order:place": _l("Beställde"),
    "order:cancel": _l("Avbeställde"),
    "kit:register": _l("Registrerade hemtest"),
    "person:settings": _l("Ändrade sina inställningar"),
    "user:add": _l("Lade till användare"),
    "user:grant": _l("Gav en roll"),
    "user:revoke": _l("Tog bort en roll"),
    "user:activate": _l("Aktiverade användare"),
    "user:deactivate": _l("Inaktiverade användare"),
    "catalogue:add-package": _l("Lade till provpaket"),
    "catalogue:update-package": _l("Ändrade provpaket"),
    "catalogue:add-analysis": _l("Lade till analys"),
    "catalogue:update-analysis": _l("Ändrade analys"),
    "catalogue:add-location": _l("Lade till provtagningsplats"),
    "catalogue:update-location": _l("Ändrade provtagningsplats"),
    "catalogue:activate-location": _l("Öppnade provtagningsplats"),
    "catalogue:deactivate-location": _l("Stängde provtagningsplats"),
}
OBJECTS = {
    "order": _l("Beställning"),
    "person": _l("Invånare"),
    "lab_message": _l("Labbmeddelande"),
    "kit": _l("Hemtest"),
    "offer": _l("Erbjudande"),
    "location": _l("Provtagningsplats"),
    "user": _l("Användare"),
    "package": _l("Paket"),
    "analysis": _l("Analys"),
}
DETAILS = {
    "contacted": _l("Kontakt per %(how)s %(at)s, svaret visas."),
    "contacted-note": _l("Kontakt per %(how)s %(at)s, svaret visas. Anteckning: %(note)s"),
    "sampled": _l("Provet är taget"),
    "kit-sent": _l("Kit %(kit)s skickat"),
    "none-open": _l("Inga öppna beställningar"),
    "not-found": _l("Finns inte i EP"),
    "order-number": _l("Ordernummer %(key)s"),
    "order-number-not-found": _l("Ordernummer %(key)s: finns inte"),
    "kit-code": _l("Kitkod %(key)s"),
    "kit-code-not-found": _l("Kitkod %(key)s: finns inte"),
    "added-at-desk": _l("Tillagd av personal före invånarens första inloggning"),
    "patient-page": _l("Erbjudanden, beställningar och provsvar"),
    "entered-by-hand": _l("Införda för hand: %(analyses)s"),
    "offer": _l("%(package)s till och med %(until)s"),
    "offer-months": _l("%(package)s till och med %(until)s, igen efter %(months)s månader"),
    "conflict-kept": _l("%(analysis)s: behöll %(current)s, inte %(new)s"),
    "conflict-replaced": _l("%(analysis)s: %(new)s ersätter %(current)s"),
    "attached": _l(
        "Kopplat till beställning %(order)s (%(results)s svar), var omatchat: %(reason)s"
    ),
    "roles": _l("Roller: %(roles)s"),
    "role": _l("Roll: %(role)s"),
    "settings": _l("Kanal: %(channel)s, språk: %(language)s"),
    "lab-report": _l("Labbmeddelandet: %(status)s"),
    "lab-report-order": _l("Labbmeddelandet: %(status)s, beställning %(order)s"),
    "fields": _l("Fält: %(fields)s"),
    "fields-analyses": _l("Fält: %(fields)s. Analyserna nu: %(analyses)s"),
}
# the words a detail's values are kept as codes for
VALUE_WORDS = {
    "how": {"phone": _l("telefon"), "visit": _l("besök"), "video": _l("videosamtal")},
    "role": {"staff": _l("vårdpersonal"), "admin": _l("administratör"), "operator": _l("drift")},
    "channel": {"sms": _l("sms"), "email": _l("e-post"), "inbox": _l("bara inkorgen")},
    "language": {"sv": _l("svenska"), "en": _l("engelska")},
    "status": {
        "imported": _l("importerat"),
        "duplicate": _l("dubblett"),
        "unmatched": _l("omatchat"),
        "rejected": _l("avvisat"),
    },
}
VALUE_WORDS["roles"] = VALUE_WORDS["role"]
# the catalogue's fields (ep.domain.catalogue), as EP.Admin's forms call them
VALUE_WORDS["fields"] = {
    "code": _l("kod"),
    "name": _l("namn"),
    "name_sv": _l("namn på svenska"),
    "name_en": _l("namn på engelska"),
    "unit": _l("enhet"),
    "ref_low": _l("undre referensgräns"),
    "ref_high": _l("övre referensgräns"),
    "ref_text": _l("referens som text"),
    "about_sv": _l("förklaring på svenska"),
    "about_en": _l("förklaring på engelska"),
    "abnormal_meaning_sv": _l("vad ett avvikande svar betyder, på svenska"),
    "abnormal_meaning_en": _l("vad ett avvikande svar betyder, på engelska"),
    "abnormal_next_sv": _l("nästa steg vid avvikande svar, på svenska"),
    "abnormal_next_en": _l("nästa steg vid avvikande svar, på engelska"),
    "normal_meaning_sv": _l("vad ett normalt svar betyder, på svenska"),
    "normal_meaning_en": _l("vad ett normalt svar betyder, på engelska"),
    "normal_next_sv": _l("nästa steg vid normalt svar, på svenska"),
    "normal_next_en": _l("nästa steg vid normalt svar, på engelska"),
    "instructions_sv": _l("instruktioner på svenska"),
    "instructions_en": _l("instruktioner på engelska"),
    "home_kit": _l("hemtest"),
    "generally_available": _l("kan beställas utan erbjudande"),
    "min_age": _l("lägsta ålder"),
    "max_age": _l("högsta ålder"),
    "order_validity_days": _l("giltighetstid"),
    "release_policy": _l("svarspolicy"),
    "remind_offer_after_days": _l("påminnelse om erbjudande"),
    "remind_expiring_within_days": _l("påminnelse före utgång"),
    "remind_kit_after_days": _l("påminnelse om hemtest"),
    "active": _l("aktivt"),
    "analyses": _l("analyser"),
    "address": _l("adress"),
    "city": _l("ort"),
    "opening_hours": _l("öppettider"),
    "care_unit_hsa_id": _l("vårdenhetens HSA-id"),
}
SEARCH_FILTERS = {
    "patient": _l("patient %(value)s"),
    "user": _l("användare %(value)s"),
    "since": _l("från %(value)s"),
    "until": _l("före %(value)s"),
}


def action_text(action: str) -> str:
    """What the user did, in words; an action EP has no words for as its code."""
    return str(ACTIONS.get(action, action))


def object_text(object_type: str | None) -> str:
    return str(OBJECTS.get(object_type, object_type)) if object_type else ""


def _value(name: str, value: object) -> str:
    if value is None or value == [] or value == "":
        return "–"
    if isinstance(value, list):
        return ", ".join(_value(name, each) for each in value)
    words = VALUE_WORDS.get(name, {})
    if value in words:
        return str(words[str(value)])
    if name in ("at", "since", "until") and isinstance(value, str) and "T" in value:
        return local(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
    if name == "patient":
        return format_personnummer(str(value))
    if name == "reason":
        return unmatched_reason(str(value))[0]
    return str(value)


def _search_text(kept: dict) -> str:
    filters = [
        str(text) % {"value": _value(name, kept[name])}
        for name, text in SEARCH_FILTERS.items()
        if kept.get(name)
    ]
    return _(
        "%(filters)s; sida %(page)s",
        filters=", ".join(filters) or _("inget filter"),
        page=kept.get("page", 1),
    )


def details_text(details: str | None) -> tuple[str, str | None]:
    """(text, its language if not the page's): the details in the reader's words, or as
    they were written (in English) when they were not kept as a key with values."""
    kept = description(details)
    if kept is None:
        return details or "", "en" if details else None
    key = kept.pop("text")
    if key == "audit-search":
        return _search_text(kept), None
    if key == "contacted" and kept.get("note"):
        key = "contacted-note"
    elif key == "offer" and kept.get("months"):
        key = "offer-months"
    elif key == "lab-report" and kept.get("order"):
        key = "lab-report-order"
    elif key == "fields" and kept.get("analyses"):
        key = "fields-analyses"
    text = DETAILS.get(key)
    if text is None:
        return f"{key} {kept}", "en"
    return str(text) % {name: _value(name, value) for name, value in kept.items()}, None
