"""Numbers, dates and opening hours written the way the page's language writes them.

Lab values and reference ranges arrive as the lab wrote them ("5,8", "2,0-3,0", "Negativ"),
and a sampling site's opening hours are typed in Swedish by the region ("Mån–fre
7.30–16.00"). An English page must not show "5,8", "Negativ" or "Mån–fre", so they are
rewritten for the page's language here; anything these functions do not recognise (a lab's
free-text value or comment) is left as it was written.
"""

import re
from datetime import date, datetime, time
from functools import cache, lru_cache

from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.dates import get_day_names
from babel.numbers import get_decimal_symbol
from flask import g, has_request_context
from flask_babel import format_datetime, format_time, get_locale, refresh
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ep.timeutil import local

# a decimal number inside a lab's text: "5,8", "<0.5", "2,0-3,0"
DECIMAL = re.compile(r"(?<![\d.,])(\d+)[.,](\d+)(?![\d.,])")
# opening hours as the region types them: day names, "alla dagar", times like 7.30 or 7:30
CLOCK = re.compile(r"\b([01]?\d|2[0-3])[.:]([0-5]\d)\b")
DAYS_SV = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")
DAY = re.compile(r"\b(mån|tis|ons|tors?|fre|lör|sön)(dag(ar)?)?\b", re.IGNORECASE)
DAY_WORDS = {
    "alla dagar": _l("alla dagar"),
    "vardagar": _l("vardagar"),
    "helger": _l("helger"),
    "stängt": _l("stängt"),
}
# a qualitative value is the result itself, not a name: the lab's words for it (HL7's
# NEG^Negativ, FHIR's "Negativ") written in the page's language, whatever their case
QUALITATIVE = {
    "negativ": _l("Negativ"),
    "positiv": _l("Positiv"),
    "ej påvisad": _l("Ej påvisad"),
    "påvisad": _l("Påvisad"),
}
DAY_WORD = re.compile(r"\b(" + "|".join(DAY_WORDS) + r")\b", re.IGNORECASE)


_LANGUAGE = "ep_page_language"  # where language() keeps it in flask.g


def language() -> str:
    """The page's language ("sv" or "en"), looked up once per request: a results page asks
    for it for each of its few hundred numbers and dates, and each look-up through
    Flask-Babel's request context cost more than the number's own formatting."""
    if not has_request_context():
        return str(get_locale() or "sv")
    chosen = g.get(_LANGUAGE)
    if chosen is None:
        chosen = g.setdefault(_LANGUAGE, str(get_locale() or "sv"))
    return chosen


def refresh_language() -> None:
    """Flask-Babel's refresh: the rest of this request is in the language just chosen."""
    refresh()
    g.pop(_LANGUAGE, None)


# A results page writes a few hundred numbers and dates: each language's decimal sign and
# each day's text are looked up once per process, not once per value (the look-ups through
# Babel's locale data were a fifth of the page's time)
@cache
def _decimal_symbol(locale: str) -> str:
    return get_decimal_symbol(locale)


@lru_cache(maxsize=4096)
def _day_text(day: date, length: str, locale: str) -> str:
    return babel_format_date(day, length, locale=locale)


def number_text(text: str | None) -> str:
    """``text`` with each decimal number written with the page language's decimal sign."""
    if not text:
        return text or ""
    symbol = _decimal_symbol(language())
    return DECIMAL.sub(lambda m: f"{m.group(1)}{symbol}{m.group(2)}", text)


def lab_text(text: str | None) -> str:
    """A lab's value or reference range in the page's language: a qualitative value in its
    words ("Negativ" → "Negative"), decimal numbers with the page's decimal sign."""
    word = QUALITATIVE.get((text or "").strip().casefold())
    return str(word) if word is not None else number_text(text)


def date_text(value: date | None, length: str = "long") -> str:
    """A day as people write it: "31 december 2026" / "December 31, 2026" (a moment's day in
    Stockholm)."""
    if value is None:
        return ""
    day = local(value).date() if isinstance(value, datetime) else value
    return _day_text(day, length, language())


def datetime_text(value: datetime | None) -> str:
    """A moment as people write it: "31 december 2026 kl. 00:13" / "... at 12:13 AM"."""
    if value is None:
        return ""
    return _("%(date)s kl. %(time)s", date=date_text(value), time=format_time(value, "short"))


def month_text(value: datetime) -> str:
    """A month for a chart's axis: "dec. 2026" / "Dec 2026"."""
    return format_datetime(value, "MMM y")


def _clock(match: re.Match, locale: str) -> str:
    return babel_format_time(time(int(match.group(1)), int(match.group(2))), "short", locale=locale)


def opening_hours_text(text: str | None) -> str:
    """The region's Swedish opening hours in the page's language: day names from the
    locale's calendar, times in its clock ("Mån–fre 7.30–16.00" → "Mon–Fri 7:30 AM–4:00 PM")."""
    if not text:
        return ""
    locale = language()
    if locale == "sv":
        return text
    names = get_day_names("abbreviated", locale=locale)

    def day(match: re.Match) -> str:
        return names[DAYS_SV.index(match.group(1).lower()[:3])]

    def word(match: re.Match) -> str:
        translated = str(DAY_WORDS[match.group(1).lower()])
        return translated[0].upper() + translated[1:] if match.group(1)[0].isupper() else translated

    text = DAY_WORD.sub(word, text)
    text = DAY.sub(day, text)
    return CLOCK.sub(lambda m: _clock(m, locale), text)
