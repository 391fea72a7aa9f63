"""Operator messages, made once and shown in their reader's language.

A health-check message is made where no request is at hand (``ep check``, the batch
runner's history, a page), so it is kept as a Swedish message id (the catalogues' source
language) with its values, and rendered where it is shown: in the request's language on
the OmniqOperator pages and in their JSON, in English for the outputs that machines and
scripts read (``ep check``, ``ep batch status``, logs). Those stay English whatever a page
shows: monitors match their text, the runbook quotes it, and the manual's own message is
English in its Swedish original too.

Values are rendered with the message: a nested Text in the same language, a time in
Europe/Stockholm with its offset, a Number with the reader's decimal sign; a Code (a
command, file, host or error from a driver) and a Quoted (words quoted as written) are
the same in every language.
"""

import gettext
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Protocol

from babel.numbers import format_decimal
from markupsafe import Markup, escape

from ep.timeutil import format_local

OPERATOR_CATALOGUE = Path(__file__).resolve().parent / "translations" / "operator"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # Stockholm wall-clock time and its offset


@dataclass(frozen=True)
class Text:
    """A message id (Swedish) and the values for its ``%(name)s`` placeholders."""

    msgid: str
    values: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None  # the plural message id; ``count`` chooses
    count: int | None = None


@dataclass(frozen=True)
class Code:
    """A command, setting, file, host or driver error: shown as written, as code."""

    value: str


@dataclass(frozen=True)
class Quoted:
    """Words quoted as written in ``language``, such as the operations manual's message."""

    value: str
    language: str = "en"


@dataclass(frozen=True)
class Number:
    """A decimal number in the reader's notation (``pattern``: babel's, e.g. ``0.0``)."""

    value: float
    pattern: str = "0"


# a message: a Text, a quotation, a plain str (shown as it is), or sentences joined by a space
Message = Text | Quoted | str | Sequence[Text | Quoted | str]


def msg(msgid: str, **values: object) -> Text:
    """A message to translate (the keyword the operator catalogue is extracted by)."""
    return Text(msgid, values)


def plural_msg(singular: str, plural: str, count: int, **values: object) -> Text:
    """A message whose form follows ``count`` (available to it as ``%(num)d``)."""
    return Text(singular, {"num": count, **values}, plural=plural, count=count)


class Catalogue(Protocol):
    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


def render(message: object, catalogue: Catalogue, language: str, *, html: bool = False) -> str:
    """``message`` in ``language``; with ``html``, escaped Markup with codes marked up."""
    if isinstance(message, Text):
        if message.plural is not None and message.count is not None:
            wording = catalogue.ngettext(message.msgid, message.plural, message.count)
        else:
            wording = catalogue.gettext(message.msgid)
        values = {  # whole numbers stay numbers, for %(num)d
            name: value if isinstance(value, int) else render(value, catalogue, language, html=html)
            for name, value in message.values.items()
        }
        if html:
            return escape(wording) % values if values else escape(wording)
        return wording % values if values else wording
    if isinstance(message, Code):
        return Markup("<code>{}</code>").format(message.value) if html else message.value
    if isinstance(message, Quoted):
        if html and message.language != language:
            # WCAG 3.1.2: a passage in another language says which
            return Markup('<span lang="{}">{}</span>').format(message.language, message.value)
        return escape(message.value) if html else message.value
    if isinstance(message, Number):
        shown = format_decimal(message.value, message.pattern, locale=language)
        return escape(shown) if html else shown
    if isinstance(message, datetime):
        shown = format_local(message, TIME_FORMAT)
        return escape(shown) if html else shown
    if isinstance(message, list | tuple):
        parts = [render(part, catalogue, language, html=html) for part in message]
        return Markup(" ").join(parts) if html else " ".join(parts)
    return escape(message) if html else str(message)


@cache
def english_catalogue() -> gettext.NullTranslations:
    """The operator catalogue's English (compiled by `make translations`)."""
    # the standard library reads the .mo file as babel.support.Translations.load would,
    # without importing babel.dates (~8 ms of CPU), which an all-OK `ep check` or `ep batch
    # status` then never needs (a Number's locale data brings it in, format_decimal)
    return gettext.translation("messages", OPERATOR_CATALOGUE, ["en"], fallback=True)


def english(message: object) -> str:
    """``message`` as the machine outputs carry it: plain English text."""
    return render(message, english_catalogue(), "en")
