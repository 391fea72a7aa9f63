"""The demo installation: catalogue, sampling locations, a resident and staff users.

Loading is idempotent: every row is found by its natural key first, so `ep init --demo`
run a second time changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain.audit import Actor
from ep.domain.demo_history import load_demo_history
from ep.domain.users import add_user, find_user
from ep.models import Analysis, Offer, Package, Person, SamplingLocation

DEMO_PERSONNUMMER = "191212121212"


@dataclass(frozen=True)
class DemoUser:
    hsa_id: str
    name: str
    roles: tuple[str, ...]
    care_unit_hsa_id: str | None = None
    care_unit_name: str | None = None


DEMO_CARE_UNIT = ("SE2321000016-VC01", "Vårdcentralen Tolvåsen")
DEMO_USERS = (
    DemoUser("SE2321000016-EPS1", "Sara Sjöberg", ("staff",), *DEMO_CARE_UNIT),
    DemoUser("SE2321000016-EPA1", "Adam Alm", ("admin",)),
    DemoUser("SE2321000016-EPO1", "Olle Operatör", ("operator",)),
    # a function certificate's system: a sampling or lab system calling /api/v1
    DemoUser("SE2321000016-EPI1", "Provtagningssystem (demo)", ("integration",)),
)

ANALYSES = (
    # code, name_sv, name_en, unit, ref_low, ref_high, ref_text, about_sv, about_en
    (
        "NPU27300",
        "B-HbA1c",
        "B-HbA1c",
        "mmol/mol",
        27,
        42,
        None,
        "Långtidssocker: visar medelvärdet av blodsockret de senaste 6–8 veckorna.",
        "Long-term blood sugar: the average blood glucose over the last 6–8 weeks.",
    ),
    (
        "NPU02192",
        "P-Glukos",
        "P-Glucose",
        "mmol/L",
        4.0,
        6.0,
        None,
        "Blodsocker vid provtagningstillfället.",
        "Blood sugar at the time of sampling.",
    ),
    (
        "NPU03577",
        "P-TSH",
        "P-TSH",
        "mIE/L",
        0.4,
        4.0,
        None,
        "Sköldkörtelstimulerande hormon: visar hur sköldkörteln arbetar.",
        "Thyroid-stimulating hormone: shows how the thyroid gland is working.",
    ),
    (
        "NPU01685",
        "P-PK(INR)",
        "P-PT(INR)",
        "INR",
        2.0,
        3.0,
        None,
        "Blodets levringsförmåga; målvärdet vid behandling med Waran är oftast 2–3.",
        "How quickly the blood clots; the target with warfarin is usually 2–3.",
    ),
    (
        "NPU08669",
        "P-PSA",
        "P-PSA",
        "µg/L",
        None,
        3.0,
        "<3,0",
        "Prostataspecifikt antigen, ett protein som bildas i prostatan.",
        "Prostate-specific antigen, a protein made by the prostate gland.",
    ),
    (
        "21613-5",
        "Klamydia (C. trachomatis) DNA",
        "Chlamydia (C. trachomatis) DNA",
        None,
        None,
        None,
        "Negativ",
        "Visar om du har en klamydiainfektion.",
        "Shows whether you have a chlamydia infection.",
    ),
    (
        "24111-7",
        "Gonorré (N. gonorrhoeae) DNA",
        "Gonorrhoea (N. gonorrhoeae) DNA",
        None,
        None,
        None,
        "Negativ",
        "Visar om du har en gonorréinfektion.",
        "Shows whether you have a gonorrhoea infection.",
    ),
)

# what a result means and the next step, by outcome (EP.Admin keeps these per analysis)
GUIDANCE = {
    "21613-5": {
        "abnormal_meaning_sv": "Provet visar att du har klamydia. Det är vanligt och går bra "
        "att behandla.",
        "abnormal_meaning_en": "The test shows that you have chlamydia. It is common and easy "
        "to treat.",
        "abnormal_next_sv": "Behandlingen är gratis. Vårdpersonal har kontaktat dig för att "
        "ordna behandling och smittspårning: enligt smittskyddslagen ska de du har haft sex "
        "med få veta och testa sig. Ha inte sex förrän du är behandlad. Ring mottagningen om "
        "du inte har fått tid för behandling.",
        "abnormal_next_en": "Treatment is free. Care staff have contacted you to arrange "
        "treatment and contact tracing: under the Communicable Diseases Act, the people you "
        "have had sex with must be told and tested. Do not have sex until you have been "
        "treated. Call the clinic if you have not been given a time for treatment.",
        "normal_meaning_sv": "Provet visar ingen klamydia.",
        "normal_meaning_en": "The test shows no chlamydia.",
        "normal_next_sv": "Du behöver inte göra något. Testa dig igen om du har haft sex utan "
        "kondom med en ny partner.",
        "normal_next_en": "You do not need to do anything. Test again if you have had sex "
        "without a condom with a new partner.",
    },
    "NPU27300": {
        "abnormal_meaning_sv": "Ditt långtidsblodsocker ligger utanför referensintervallet. "
        "Ett högt värde kan betyda att blodsockret har varit högt de senaste månaderna.",
        "abnormal_meaning_en": "Your long-term blood sugar is outside the reference range. A "
        "high value can mean that your blood sugar has been high over the last months.",
        "abnormal_next_sv": "Kontakta din vårdcentral inom några veckor för att prata om "
        "värdet. Sök vård samma dag om du är mycket törstig, kissar ofta eller känner dig sjuk.",
        "abnormal_next_en": "Contact your health centre within a few weeks to talk about the "
        "value. Seek care the same day if you are very thirsty, pass water often or feel ill.",
        "normal_meaning_sv": "Ditt långtidsblodsocker ligger inom referensintervallet.",
        "normal_meaning_en": "Your long-term blood sugar is within the reference range.",
        "normal_next_sv": "Du behöver inte göra något nu.",
        "normal_next_en": "You do not need to do anything now.",
    },
}

PACKAGES: tuple[dict[str, Any], ...] = (
    dict(
        code="DIABETES",
        name_sv="Diabeteskontroll",
        name_en="Diabetes check-up",
        analyses=("NPU27300", "NPU02192"),
        instructions_sv="Kom fastande: ät och drick inget utom vatten efter kl. 22 kvällen före.",
        instructions_en="Come fasting: nothing but water after 10 pm the evening before.",
        order_validity_days=30,
        release_policy="immediate",
        remind_offer_after_days=14,
        remind_expiring_within_days=7,
    ),
    dict(
        code="THYROID",
        name_sv="Sköldkörtel",
        name_en="Thyroid",
        analyses=("NPU03577",),
        instructions_sv="Ingen förberedelse behövs.",
        instructions_en="No preparation is needed.",
        order_validity_days=30,
        release_policy="immediate",
        remind_offer_after_days=14,
        remind_expiring_within_days=7,
    ),
    dict(
        code="PK-WARAN",
        name_sv="PK/Waran",
        name_en="PT/warfarin",
        analyses=("NPU01685",),
        instructions_sv="Ta provet innan du tar dagens dos Waran.",
        instructions_en="Take the test before today's dose of warfarin.",
        order_validity_days=14,
        release_policy="immediate",
        remind_offer_after_days=7,
        remind_expiring_within_days=3,
    ),
    dict(
        code="PSA",
        name_sv="PSA-prov",
        name_en="PSA test",
        analyses=("NPU08669",),
        instructions_sv="Undvik cykling och hård fysisk ansträngning två dygn före provet.",
        instructions_en="Avoid cycling and hard exercise for two days before the test.",
        order_validity_days=30,
        release_policy="delay:24",
        remind_offer_after_days=14,
        remind_expiring_within_days=7,
    ),
    dict(
        code="STI-HOME",
        name_sv="Klamydia och gonorré hemtest",
        name_en="Chlamydia and gonorrhoea home test",
        analyses=("21613-5", "24111-7"),
        instructions_sv=(
            "Beställ testet, ta provet hemma enligt instruktionen i förpackningen och "
            "registrera kitets kod här. Skicka provet samma dag."
        ),
        instructions_en=(
            "Order the test, take the sample at home as the leaflet in the pack says and "
            "register the kit's code here. Post the sample the same day."
        ),
        home_kit=True,
        generally_available=True,
        min_age=15,
        max_age=29,
        order_validity_days=60,
        release_policy="contact-positive",
        remind_kit_after_days=14,
    ),
)

LOCATIONS = (
    (
        "VC-TOLVASEN",
        "Vårdcentralen Tolvåsen, provtagning",
        "Tolvvägen 12",
        "Tolvåsen",
        "Mån–fre 7.30–16.00",
        DEMO_CARE_UNIT[0],
    ),
    (
        "PROV-CITY",
        "Provtagningen City",
        "Drottninggatan 1",
        "Stockholm",
        "Mån–fre 7.00–18.00, lör 9.00–13.00",
        "SE2321000016-PC01",
    ),
    (
        "NARA-SODER",
        "Närakuten Söder, provtagning",
        "Södergatan 40",
        "Södertälje",
        "Alla dagar 8.00–20.00",
        "SE2321000016-NS01",
    ),
)


def load_demo(session: Session, *, now: datetime, history: bool = False) -> list[str]:
    """Load what is missing of the demo data; return a line for each thing added.

    ``history``: also two years of the demo resident's released results, so "Mina
    provsvar" shows a trend (`ep init --demo` loads it; tests that count rows do not).
    """
    added: list[str] = []
    analyses = {}
    for code, name_sv, name_en, unit, low, high, ref_text, about_sv, about_en in ANALYSES:
        analysis = session.scalar(select(Analysis).where(Analysis.code == code))
        if analysis is None:
            analysis = Analysis(
                code=code,
                name_sv=name_sv,
                name_en=name_en,
                unit=unit,
                ref_low=low,
                ref_high=high,
                ref_text=ref_text,
                about_sv=about_sv,
                about_en=about_en,
            )
            session.add(analysis)
            added.append(f"analysis {code} {name_sv}")
        analyses[code] = analysis

    for code, guidance in GUIDANCE.items():
        analysis = analyses[code]
        if not any(getattr(analysis, name) for name in guidance):
            for name, text in guidance.items():
                setattr(analysis, name, text)

    packages = {}
    for spec in PACKAGES:
        spec = dict(spec)
        codes = spec.pop("analyses")
        package = session.scalar(select(Package).where(Package.code == spec["code"]))
        if package is None:
            package = Package(**spec, created_at=now)
            package.analyses = [analyses[c] for c in codes]
            session.add(package)
            added.append(f"package {spec['code']} {spec['name_sv']}")
        packages[spec["code"]] = package

    for code, name, address, city, hours, unit in LOCATIONS:
        if session.scalar(select(SamplingLocation).where(SamplingLocation.code == code)) is None:
            session.add(
                SamplingLocation(
                    code=code,
                    name=name,
                    address=address,
                    city=city,
                    opening_hours=hours,
                    care_unit_hsa_id=unit,
                )
            )
            added.append(f"sampling location {name}")

    person = session.scalar(select(Person).where(Person.personnummer == DEMO_PERSONNUMMER))
    if person is None:
        person = Person(
            personnummer=DEMO_PERSONNUMMER,
            given_name="Tolvan",
            family_name="Tolvansson",
            mobile="+46701234567",
            email="tolvan@example.invalid",
            channel="sms",
            language="sv",
            created_at=now,
        )
        session.add(person)
        added.append("resident 19121212-1212 Tolvan Tolvansson")
    session.flush()

    actor = Actor.system("ep init --demo")
    staff = None
    for demo in DEMO_USERS:
        user = find_user(session, demo.hsa_id)
        if user is None:
            user = add_user(
                session,
                hsa_id=demo.hsa_id,
                name=demo.name,
                roles=demo.roles,
                care_unit_hsa_id=demo.care_unit_hsa_id,
                care_unit_name=demo.care_unit_name,
                actor=actor,
                now=now,
            )
            added.append(f"user {demo.hsa_id} {demo.name} ({', '.join(demo.roles)})")
        if "staff" in demo.roles:
            staff = user

    assert staff is not None  # DEMO_USERS has a staff user
    for code, recurrence in (("DIABETES", 3), ("PK-WARAN", None)):
        package = packages[code]
        exists = session.scalar(
            select(Offer.id).where(Offer.person_id == person.id, Offer.package_id == package.id)
        )
        if exists is None:
            session.add(
                Offer(
                    person_id=person.id,
                    package_id=package.id,
                    assigned_by_id=staff.id,
                    valid_from=now,
                    valid_until=now + timedelta(days=90),
                    recurrence_months=recurrence,
                    status="active",
                    created_at=now,
                )
            )
            added.append(f"offer of {code} to Tolvan Tolvansson")
    session.flush()
    if history:
        added += load_demo_history(session, person=person, staff=staff, now=now)
    return added
