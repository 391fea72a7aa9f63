"""Form input that staff and admins type: problems per field, numbers with a decimal comma.

Problems are Swedish source strings marked with ``N_`` and translated where they are
shown (the web's gettext), so the domain stays free of Flask and the messages still reach
the translation catalogue.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from ep.domain import DomainError
from ep.timeutil import STOCKHOLM

# the largest id a row can have (PostgreSQL's integer); a bigger one names no row
MAX_DATABASE_ID = 2**31 - 1
# the dates anyone has reason to type: beyond them Stockholm's midnight, a day more or the
# database's timestamp overflow, so they are refused as input instead
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2199, 12, 31)
_MAX_DIGITS = 18


def N_(message: str) -> str:
    """Mark a Swedish source string for the translation catalogue; translate it when shown."""
    return message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field: a Swedish source message and its parameters."""

    message: str
    params: dict[str, object] = field(default_factory=dict)


class InvalidInput(DomainError):
    """The input has problems, keyed by the form field they belong to."""

    def __init__(self, problems: dict[str, Problem]):
        super().__init__("; ".join(f"{k}: {p.message % p.params}" for k, p in problems.items()))
        self.problems = problems


class Problems:
    """Collects problems while a form is checked, and raises them all at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, Problem] = {}

    def add(self, name: str, message: str, **params: object) -> None:
        self.by_field.setdefault(name, Problem(message, params))

    def raise_any(self) -> None:
        if self.by_field:
            raise InvalidInput(dict(self.by_field))


def parse_decimal(text: str) -> float:
    """Return a number typed with a decimal comma or point; raise ValueError otherwise."""
    cleaned = (text or "").strip().replace("\u2212", "-").replace(" ", "").replace(",", ".")
    if not cleaned or cleaned.count(".") > 1:
        raise ValueError(text)
    body = cleaned.lstrip("+-")
    if not body or not body.replace(".", "", 1).isdigit() or cleaned[-1] == ".":
        raise ValueError(text)
    return float(cleaned)


def format_decimal(value: float) -> str:
    """Show a number the Swedish way: decimal comma, no needless trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def optional_int(
    problems: Problems, name: str, text: str | None, *, low: int = 0, high: int = 10_000
) -> int | None:
    """Return the whole number in ``text`` (None when empty); a problem when it is not one."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.lstrip("-").isdigit():
        problems.add(name, N_("Skriv ett heltal."))
        return None
    # a number of thousands of digits is out of range (and more than int() will read)
    value = int(text) if len(text) <= _MAX_DIGITS else None
    if value is None or not low <= value <= high:
        problems.add(name, N_("Skriv ett tal från %(low)s till %(high)s."), low=low, high=high)
        return None
    return value


def end_of_local_day(day: date) -> datetime:
    """Return the last moment of ``day`` in Stockholm (what "valid until 31 May" means)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=STOCKHOLM) - timedelta(
        microseconds=1
    )


def start_of_local_day(day: date) -> datetime:
    """Return midnight at the start of ``day`` in Stockholm."""
    return datetime.combine(day, time(), tzinfo=STOCKHOLM)


def parse_date(problems: Problems, name: str, text: str | None) -> date | None:
    """Return the ISO date (YYYY-MM-DD) in ``text``, None when empty; a problem otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.add(name, N_("Skriv datumet som ÅÅÅÅ-MM-DD."))
        return None
    if not FIRST_DATE <= day <= LAST_DATE:
        problems.add(
            name,
            N_("Skriv ett datum från %(first)s till %(last)s."),
            first=FIRST_DATE.isoformat(),
            last=LAST_DATE.isoformat(),
        )
        return None
    return day


def row_number(text: str | None) -> int | None:
    """Return the id or page number in ``text`` (1 to MAX_DATABASE_ID), None for anything else.

    For ids and page numbers in query strings and forms: a bigger number names no row
    and would overflow the database's integer.
    """
    text = (text or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_DATABASE_ID else None
