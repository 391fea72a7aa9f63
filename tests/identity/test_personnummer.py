import re
from datetime import date

import pytest

from ep.identity import InvalidIdentifier, format_personnummer, parse_personnummer
from ep.identity.personnummer import age_on, birth_date, is_samordningsnummer

TODAY = date(2026, 11, 27)


def parse(text):
    return parse_personnummer(text, today=TODAY)


def test_twelve_digits_with_or_without_dash_are_the_same_person():
    assert parse("19121212-1212") == parse("191212121212") == "191212121212"


def test_ten_digits_with_plus_is_the_centenarian_form_of_the_same_person():
    # Tolvan Tolvansson was born in 1912, so his 10-digit form carries a +
    assert parse("121212+1212") == parse("19121212-1212")


def test_ten_digits_with_dash_means_the_most_recent_century_that_has_passed():
    # Folkbokföringslagen §18: with "-" the holder is under 100, so 121212-1212 is a
    # child born in 2012, a different person from 19121212-1212 (who is over 100)
    assert parse("121212-1212") == "201212121212"
    assert parse("1212121212") == "201212121212"


def test_a_samordningsnummer_has_the_day_plus_60():
    number = parse("701063-2391")
    assert number == "197010632391"
    assert is_samordningsnummer(number)
    assert birth_date(number) == date(1970, 10, 3)


def test_it_is_shown_as_eight_digits_dash_four():
    assert format_personnummer(parse("121212+1212")) == "19121212-1212"


def test_age_is_counted_from_the_birth_date():
    assert age_on("200001010008", date(2026, 1, 1)) == 26
    assert age_on("200001010008", date(2025, 12, 31)) == 25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("19121212-1213", "wrong check digit (the last digit would be 2)"),
        ("19121312-1212", "the date in it does not exist"),
        ("19120230-1212", "the date in it does not exist"),
        ("121292-1212", "the date in it does not exist"),
        ("1912121a-1212", "only digits"),
        ("19121212-121", "10 or 12 digits"),
        ("", "personnummer is empty"),
        ("   ", "personnummer is empty"),
        ("20991212-1212", "in the future"),
        ("19121212+1212", "+ is only used with 10 digits"),
    ],
)
def test_invalid_numbers_get_a_clear_message(text, message):
    with pytest.raises(InvalidIdentifier, match=re.escape(message)):
        parse(text)
