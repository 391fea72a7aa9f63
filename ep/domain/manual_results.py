"""Results typed in by staff for labs that are not connected to EP.

Values are checked the way a careful colleague would: a number (decimal comma or point)
in the analysis's own unit, a reference range that reads ``low–high``, ``<x`` or ``>x``,
and for a qualitative analysis (no unit) Positiv or Negativ. The values are then stored
by the same service the lab import uses, so manual and imported results look alike.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ep.domain import DomainError
from ep.domain.audit import Actor, record
from ep.domain.patient_access import acting_user
from ep.domain.results import record_results
from ep.domain.staff_input import N_, Problems, format_decimal, parse_decimal
from ep.labformats import Observation
from ep.models import Analysis, Order, Result

# orders whose sample is taken and whose results may be entered (or completed)
ENTERABLE_STATUSES = ("sampled", "partial", "resulted")
QUALITATIVE = {
    "positiv": ("Positiv", "POS"),
    "positive": ("Positiv", "POS"),
    "pos": ("Positiv", "POS"),
    "negativ": ("Negativ", "NEG"),
    "negative": ("Negativ", "NEG"),
    "neg": ("Negativ", "NEG"),
}
_RANGE = re.compile(r"^\s*([-+]?[\d.,]+)\s*(?:-|–|—|till)\s*([-+]?[\d.,]+)\s*$")
_BOUND = re.compile(r"^\s*([<>]=?)\s*([-+]?[\d.,]+)\s*$")


@dataclass(frozen=True)
class TypedResult:
    """What staff typed for one analysis."""

    value: str = ""
    unit: str = ""
    ref_range: str = ""


def is_qualitative(analysis: Analysis) -> bool:
    """A qualitative analysis (no unit, no numeric range) is answered Positiv or Negativ."""
    return analysis.unit is None and analysis.ref_low is None and analysis.ref_high is None


def default_range(analysis: Analysis) -> str:
    """The analysis's default reference range as staff would type it."""
    if analysis.ref_text:
        return analysis.ref_text
    if analysis.ref_low is not None and analysis.ref_high is not None:
        return f"{format_decimal(analysis.ref_low)}–{format_decimal(analysis.ref_high)}"
    if analysis.ref_high is not None:
        return f"<{format_decimal(analysis.ref_high)}"
    if analysis.ref_low is not None:
        return f">{format_decimal(analysis.ref_low)}"
    return ""


def parse_reference_range(text: str) -> tuple[float | None, float | None]:
    """Return (low, high) of ``4,0–6,0``, ``<3,0`` or ``>60``; ValueError when unreadable."""
    text = (text or "").strip()
    if not text:
        return None, None
    match = _RANGE.match(text)
    if match:
        low, high = parse_decimal(match[1]), parse_decimal(match[2])
        if low > high:
            raise ValueError(text)
        return low, high
    match = _BOUND.match(text)
    if match:
        bound = parse_decimal(match[2])
        return (None, bound) if match[1].startswith("<") else (bound, None)
    raise ValueError(text)


def numeric_flag(value: float, low: float | None, high: float | None) -> str:
    """HL7 table 0078: L below the range, H above it, N within it."""
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N"


def _observation(
    analysis: Analysis, typed: TypedResult, problems: Problems, now: datetime
) -> Observation | None:
    code = analysis.code
    if is_qualitative(analysis):
        answer = QUALITATIVE.get(typed.value.strip().lower())
        if answer is None:
            problems.add(f"value-{code}", N_("Skriv Positiv eller Negativ."))
            return None
        value_text, flag = answer
        return Observation(
            code=code,
            name=analysis.name_sv,
            value_text=value_text,
            value_numeric=None,
            unit=None,
            ref_range=typed.ref_range.strip() or default_range(analysis) or None,
            ref_low=None,
            ref_high=None,
            flag=flag,
            status="F",
            observed_at=now,
            comment=None,
        )
    value = low = high = None
    try:
        value = parse_decimal(typed.value)
    except ValueError:
        problems.add(f"value-{code}", N_("Skriv ett tal, till exempel 5,4."))
    unit = typed.unit.strip()
    if not unit:
        problems.add(f"unit-{code}", N_("Ange enheten."))
    elif analysis.unit and unit != analysis.unit:
        problems.add(
            f"unit-{code}",
            N_("Analysen anges i %(unit)s; räkna om värdet till den enheten."),
            unit=analysis.unit,
        )
    ref_range = typed.ref_range.strip()
    try:
        low, high = parse_reference_range(ref_range)
    except ValueError:
        problems.add(
            f"range-{code}",
            N_("Skriv referensintervallet som 4,0–6,0, <3,0 eller >60 (lägsta värdet först)."),
        )
    if value is None or f"value-{code}" in problems.by_field:
        return None
    return Observation(
        code=code,
        name=analysis.name_sv,
        value_text=format_decimal(value),
        value_numeric=value,
        unit=unit or None,
        ref_range=ref_range or None,
        ref_low=low,
        ref_high=high,
        flag=numeric_flag(value, low, high),
        status="F",
        observed_at=now,
        comment=None,
    )


def enter_results(
    session: Session,
    *,
    order: Order,
    typed: dict[str, TypedResult],
    actor: Actor,
    now: datetime,
) -> list[Result]:
    """Check and store the results staff typed for ``order`` (by analysis code); log it.

    An analysis left empty is skipped; at least one must be given. Raises InvalidInput
    with the problem of each field (``value-<code>``, ``unit-<code>``, ``range-<code>``),
    or DomainError when the order is not sampled.
    """
    if order.status not in ENTERABLE_STATUSES:
        raise DomainError(f"order {order.number} has no sample to enter results for")
    problems = Problems()
    observations = []
    for analysis in order.package.analyses:
        entry = typed.get(analysis.code, TypedResult())
        if not entry.value.strip():
            continue
        observation = _observation(analysis, entry, problems, now)
        if observation is not None:
            observations.append(observation)
    if not observations and not problems.by_field:
        problems.add("results", N_("Skriv in minst ett provsvar."))
    problems.raise_any()
    results = record_results(
        session,
        order=order,
        observations=observations,
        now=now,
        entered_by=acting_user(session, actor),
    )
    record(
        session,
        actor,
        "update:results",
        now=now,
        patient=order.person.personnummer,
        object_type="order",
        object_id=order.number,
        details="entered by hand: " + ", ".join(o.code for o in observations),
    )
    return results
