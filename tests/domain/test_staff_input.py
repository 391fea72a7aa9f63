from datetime import date

import pytest

from ep.domain.catalogue import parse_release_policy
from ep.domain.manual_results import numeric_flag, parse_reference_range
from ep.domain.staff_input import end_of_local_day, format_decimal, parse_decimal


@pytest.mark.parametrize(
    "typed, number",
    [("5,4", 5.4), ("5.4", 5.4), (" 48 ", 48.0), ("-1,5", -1.5), ("0,05", 0.05), ("1 200", 1200)],
)
def test_numbers_are_read_with_a_decimal_comma_or_point(typed, number):
    assert parse_decimal(typed) == number


@pytest.mark.parametrize("typed", ["", "abc", "5,4,1", "5.4.1", "1e3", "5,", ",", "--1", "5 mmol"])
def test_anything_but_a_plain_number_is_refused(typed):
    with pytest.raises(ValueError):
        parse_decimal(typed)


def test_numbers_are_shown_with_a_decimal_comma_without_needless_zeros():
    assert [format_decimal(v) for v in (5.4, 48.0, 0.05, 1200.0)] == ["5,4", "48", "0,05", "1200"]


@pytest.mark.parametrize(
    "typed, bounds",
    [
        ("4,0–6,0", (4.0, 6.0)),
        ("4.0-6.0", (4.0, 6.0)),
        ("27 - 42", (27.0, 42.0)),
        ("<3,0", (None, 3.0)),
        ("> 60", (60.0, None)),
        ("", (None, None)),
    ],
)
def test_reference_ranges_read_as_staff_write_them(typed, bounds):
    assert parse_reference_range(typed) == bounds


@pytest.mark.parametrize("typed", ["6–4", "normal", "4–", "<", "4,0–6,0–8,0"])
def test_a_reversed_or_unreadable_reference_range_is_refused(typed):
    with pytest.raises(ValueError):
        parse_reference_range(typed)


def test_a_value_is_flagged_low_high_or_normal_against_its_range():
    assert numeric_flag(3.9, 4.0, 6.0) == "L"
    assert numeric_flag(6.1, 4.0, 6.0) == "H"
    assert numeric_flag(4.0, 4.0, 6.0) == "N"
    assert numeric_flag(3.5, None, 3.0) == "H"


@pytest.mark.parametrize(
    "typed, policy",
    [
        ("immediate", "immediate"),
        (" Contact-Positive ", "contact-positive"),
        ("delay:24", "delay:24"),
        ("delay: 048", "delay:48"),
    ],
)
def test_release_policies_are_read_in_their_canonical_form(typed, policy):
    assert parse_release_policy(typed) == policy


@pytest.mark.parametrize("typed", ["", "later", "delay:", "delay:0", "delay:-1", "delay:1.5"])
def test_unknown_release_policies_are_refused(typed):
    with pytest.raises(ValueError):
        parse_release_policy(typed)


def test_valid_until_a_day_means_until_midnight_in_stockholm_also_in_summer():
    assert end_of_local_day(date(2026, 7, 1)).isoformat() == "2026-07-01T23:59:59.999999+02:00"
    assert end_of_local_day(date(2026, 12, 1)).isoformat() == "2026-12-01T23:59:59.999999+01:00"
