"""Route ids: the URL converter matches exactly the ids a row can have, so any other number
finds no route (404), also where a path has one rule per method."""

import re

from hypothesis import given
from hypothesis import strategies as st

from ep.web import _numbers_up_to


@given(largest=st.integers(min_value=1, max_value=10**12), number=st.integers(0, 10**13))
def test_the_pattern_matches_exactly_one_to_the_largest(largest, number):
    pattern = re.compile(f"(?:{_numbers_up_to(largest)})")
    assert bool(pattern.fullmatch(str(number))) == (1 <= number <= largest)


def test_a_leading_zero_is_no_id():
    assert re.fullmatch(f"(?:{_numbers_up_to(2**31 - 1)})", "07") is None
