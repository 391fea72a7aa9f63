"""EP.Admin's catalogue: analyses, packages (release policy, validity, reminders), locations.

Each save takes what the admin typed (strings by field name), reports every problem at
once (InvalidInput), and logs the change with the fields it changed.
"""

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ep.domain.audit import Actor, described, record
from ep.domain.release import parse_policy
from ep.domain.staff_input import N_, Problems, optional_int, parse_decimal
from ep.identity import InvalidIdentifier, parse_hsa_id
from ep.models import Analysis, Package, SamplingLocation, package_analysis
from ep.models.catalogue import GUIDANCE_FIELDS

# a catalogue entry an admin saves
_Entry = TypeVar("_Entry", Analysis, Package, SamplingLocation)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_AGE = 130
MAX_VALIDITY_DAYS = 365
MAX_REMINDER_DAYS = 365
MAX_DELAY_HOURS = 24 * 30


def parse_release_policy(text: str) -> str:
    """Return the canonical policy: immediate, delay:<hours> or contact-positive.

    The release batch's own parser decides what a policy is; an admin may type it
    loosely (case, spaces) but not a delay of zero or of more than a month.
    """
    kind, hours = parse_policy((text or "").lower().replace(" ", ""))
    if kind != "delay":
        return kind
    if not 1 <= hours <= MAX_DELAY_HOURS:
        raise ValueError(text)
    return f"delay:{hours}"


def all_analyses(session: Session) -> list[Analysis]:
    return list(session.scalars(select(Analysis).order_by(Analysis.code)))


def all_packages(session: Session) -> list[Package]:
    return list(session.scalars(select(Package).order_by(Package.code)))


def all_locations(session: Session) -> list[SamplingLocation]:
    return list(session.scalars(select(SamplingLocation).order_by(SamplingLocation.name)))


def _text(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def _required(problems: Problems, form: Mapping[str, str], name: str) -> str:
    value = _text(form, name)
    if not value:
        problems.add(name, N_("Fältet måste fyllas i."))
    return value


def _code(
    problems: Problems,
    form: Mapping[str, str],
    model: type[_Entry],
    current: _Entry | None,
    session: Session,
) -> str:
    code = _required(problems, form, "code")
    if code and not _CODE.match(code):
        problems.add("code", N_("Koden får bara innehålla bokstäver A–Z, siffror, punkt och -."))
    elif code:
        taken = session.scalar(select(model.id).where(model.code == code))
        if taken is not None and (current is None or taken != current.id):
            problems.add("code", N_("Koden används redan."))
    return code


def _optional_decimal(problems: Problems, form: Mapping[str, str], name: str) -> float | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        return parse_decimal(text)
    except ValueError:
        problems.add(name, N_("Skriv ett tal, till exempel 5,4."))
        return None


def _apply(obj: object, values: dict[str, Any]) -> list[str]:
    changed = [name for name, value in values.items() if getattr(obj, name, None) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def _save(
    session: Session,
    obj: _Entry | None,
    model: type[_Entry],
    values: dict[str, Any],
    *,
    kind: str,
    actor: Actor,
    now: datetime,
    also: Callable[[_Entry], list[str] | None] | None = None,
) -> _Entry:
    """Apply ``values`` (and ``also(obj)``, which returns a package's analyses when it
    changed them, else None); log one event naming the fields that changed."""
    is_new = obj is None
    if obj is None:
        obj = model()
        session.add(obj)
    changed = _apply(obj, values)
    session.flush()
    analyses = also(obj) if also is not None else None
    if analyses is not None:
        changed.append("analyses")
    if is_new or changed:
        record(
            session,
            actor,
            f"catalogue:{'add' if is_new else 'update'}-{kind}",
            now=now,
            object_type=kind,
            object_id=obj.code,
            # field names and codes, which every page words in its reader's language
            details=described("fields", fields=changed, analyses=analyses),
        )
    return obj


def save_analysis(
    session: Session,
    analysis: Analysis | None,
    form: Mapping[str, str],
    *,
    actor: Actor,
    now: datetime,
) -> Analysis:
    """Add (``analysis`` None) or change an analysis; raise InvalidInput on problems."""
    problems = Problems()
    values: dict[str, Any] = dict(
        code=_code(problems, form, Analysis, analysis, session),
        name_sv=_required(problems, form, "name_sv"),
        name_en=_required(problems, form, "name_en"),
        unit=_text(form, "unit") or None,
        ref_low=_optional_decimal(problems, form, "ref_low"),
        ref_high=_optional_decimal(problems, form, "ref_high"),
        ref_text=_text(form, "ref_text") or None,
        about_sv=_text(form, "about_sv") or None,
        about_en=_text(form, "about_en") or None,
        **{name: _text(form, name) or None for name in GUIDANCE_FIELDS},
    )
    low, high = values["ref_low"], values["ref_high"]
    if low is not None and high is not None and low > high:
        problems.add("ref_high", N_("Den övre gränsen måste vara minst lika stor som den undre."))
    problems.raise_any()
    return _save(session, analysis, Analysis, values, kind="analysis", actor=actor, now=now)


def save_package(
    session: Session,
    package: Package | None,
    form: Mapping[str, str],
    analysis_codes: list[str],
    *,
    actor: Actor,
    now: datetime,
) -> Package:
    """Add (``package`` None) or change a package and its analyses; InvalidInput on problems."""
    problems = Problems()
    values: dict[str, Any] = dict(
        code=_code(problems, form, Package, package, session),
        name_sv=_required(problems, form, "name_sv"),
        name_en=_required(problems, form, "name_en"),
        instructions_sv=_text(form, "instructions_sv"),
        instructions_en=_text(form, "instructions_en"),
        home_kit=bool(form.get("home_kit")),
        generally_available=bool(form.get("generally_available")),
        min_age=optional_int(problems, "min_age", form.get("min_age"), high=MAX_AGE),
        max_age=optional_int(problems, "max_age", form.get("max_age"), high=MAX_AGE),
        order_validity_days=optional_int(
            problems,
            "order_validity_days",
            form.get("order_validity_days"),
            low=1,
            high=MAX_VALIDITY_DAYS,
        ),
        remind_offer_after_days=optional_int(
            problems,
            "remind_offer_after_days",
            form.get("remind_offer_after_days"),
            low=1,
            high=MAX_REMINDER_DAYS,
        ),
        remind_expiring_within_days=optional_int(
            problems,
            "remind_expiring_within_days",
            form.get("remind_expiring_within_days"),
            low=1,
            high=MAX_REMINDER_DAYS,
        ),
        remind_kit_after_days=optional_int(
            problems,
            "remind_kit_after_days",
            form.get("remind_kit_after_days"),
            low=1,
            high=MAX_REMINDER_DAYS,
        ),
        active=bool(form.get("active")),
    )
    if values["order_validity_days"] is None and "order_validity_days" not in problems.by_field:
        problems.add("order_validity_days", N_("Fältet måste fyllas i."))
    low, high = values["min_age"], values["max_age"]
    if low is not None and high is not None and low > high:
        problems.add("max_age", N_("Den övre åldersgränsen måste vara minst den undre."))
    try:
        values["release_policy"] = parse_release_policy(_text(form, "release_policy"))
    except ValueError:
        problems.add(
            "release_policy",
            N_("Välj immediate, delay:<timmar> (till exempel delay:24) eller contact-positive."),
        )
    by_code = {a.code: a for a in all_analyses(session)}
    chosen = [by_code[code] for code in dict.fromkeys(analysis_codes) if code in by_code]
    if not chosen:
        problems.add("analyses", N_("Välj minst en analys."))
    problems.raise_any()
    return _save(
        session,
        package,
        Package,
        values,
        kind="package",
        actor=actor,
        now=now,
        also=lambda saved: _set_analyses(session, saved, chosen),
    )


def _set_analyses(session: Session, package: Package, chosen: list[Analysis]) -> list[str] | None:
    """Give ``package`` these analyses in this order; their codes, or None if unchanged."""
    if [a.code for a in package.analyses] == [a.code for a in chosen]:
        return None
    package.analyses = chosen
    session.flush()
    # the secondary insert leaves every position at its default; keep the chosen order
    for position, analysis in enumerate(chosen):
        session.execute(
            update(package_analysis)
            .where(
                package_analysis.c.package_id == package.id,
                package_analysis.c.analysis_id == analysis.id,
            )
            .values(position=position)
        )
    session.expire(package, ["analyses"])
    return [a.code for a in chosen]


def save_location(
    session: Session,
    location: SamplingLocation | None,
    form: Mapping[str, str],
    *,
    actor: Actor,
    now: datetime,
) -> SamplingLocation:
    """Add (``location`` None) or change a sampling location; InvalidInput on problems."""
    problems = Problems()
    care_unit = _text(form, "care_unit_hsa_id") or None
    if care_unit:
        try:
            care_unit = parse_hsa_id(care_unit)
        except InvalidIdentifier:
            problems.add(
                "care_unit_hsa_id", N_("Skriv ett HSA-id, till exempel SE2321000016-VC01.")
            )
    values: dict[str, Any] = dict(
        code=_code(problems, form, SamplingLocation, location, session),
        name=_required(problems, form, "name"),
        address=_text(form, "address"),
        city=_text(form, "city"),
        opening_hours=_text(form, "opening_hours"),
        care_unit_hsa_id=care_unit,
    )
    problems.raise_any()
    return _save(session, location, SamplingLocation, values, kind="location", actor=actor, now=now)


def set_location_active(
    session: Session, location: SamplingLocation, active: bool, *, actor: Actor, now: datetime
) -> bool:
    """Open or close a sampling location for new orders; return False if nothing changed."""
    if location.active == active:
        return False
    location.active = active
    record(
        session,
        actor,
        f"catalogue:{'activate' if active else 'deactivate'}-location",
        now=now,
        object_type="location",
        object_id=location.code,
    )
    session.flush()
    return True
