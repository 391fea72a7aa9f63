"""Operator messages (ep.texts): one message, shown in Swedish or English on a page and in
English to machines, with times in Stockholm's and numbers in the reader's notation."""

from datetime import UTC, datetime

from babel.support import NullTranslations

from ep.texts import Code, Number, Quoted, english, english_catalogue, msg, plural_msg, render

SWEDISH = NullTranslations()  # Swedish is the source language: the message ids themselves
FAILED = msg(
    "Senaste körningen misslyckades %(when)s: %(error)s.",
    when=datetime(2026, 12, 1, 5, 57, tzinfo=UTC),
    error=Code("RuntimeError: <b>no</b>"),
)


def test_machines_read_english_with_the_time_in_stockholm_and_its_offset():
    assert english(FAILED) == (
        "The latest run failed at 2026-12-01 06:57:00 +0100: RuntimeError: <b>no</b>."
    )
    summer = msg("Senaste aktivitet: %(when)s.", when=datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    assert english(summer) == "Last activity: 2026-07-01 12:00:00 +0200."


def test_a_swedish_page_shows_code_as_code_escaped_and_the_manuals_english_marked():
    shown = render(
        [Quoted("Configured to warn after 30 minutes inactivity."), FAILED],
        SWEDISH,
        "sv",
        html=True,
    )
    assert shown == (
        '<span lang="en">Configured to warn after 30 minutes inactivity.</span> '
        "Senaste körningen misslyckades 2026-12-01 06:57:00 +0100: "
        "<code>RuntimeError: &lt;b&gt;no&lt;/b&gt;</code>."
    )


def test_an_english_page_needs_no_language_mark_for_the_manuals_words():
    quote = Quoted("Configured to warn after 30 minutes inactivity.")
    assert render(quote, english_catalogue(), "en", html=True) == quote.value


def test_numbers_use_the_readers_decimal_sign_and_plurals_its_forms():
    answered = msg("Databasen svarade på %(ms)s ms.", ms=Number(12.34, "0.0"))
    assert render(answered, SWEDISH, "sv") == "Databasen svarade på 12,3 ms."
    assert english(answered) == "The database answered in 12.3 ms."
    days = [plural_msg("%(num)d dag", "%(num)d dagar", n) for n in (1, 30)]
    assert [render(d, SWEDISH, "sv") for d in days] == ["1 dag", "30 dagar"]
    assert [english(d) for d in days] == ["1 day", "30 days"]
