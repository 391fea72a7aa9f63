import pytest
from stdnum import luhn

from ep.identity import InvalidIdentifier, new_order_number, parse_order_number
from ep.identity.ordernumber import ALPHABET


def test_a_new_order_number_reads_back_as_itself():
    for _ in range(200):
        number = new_order_number()
        assert number.startswith("EP-") and len(number) == 12
        assert parse_order_number(number) == number


def test_it_is_read_leniently_as_people_type_it():
    number = new_order_number()
    typed = number.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert parse_order_number(typed) == number


def test_every_single_mistyped_character_is_caught():
    number = new_order_number()
    compact = number.replace("EP-", "").replace("-", "")
    for position, original in enumerate(compact):
        for replacement in ALPHABET:
            if replacement == original:
                continue
            typo = compact[:position] + replacement + compact[position + 1 :]
            with pytest.raises(InvalidIdentifier, match="check character"):
                parse_order_number(typo)


def test_a_body_that_begins_with_ep_is_not_mistaken_for_the_prefix():
    body = "EP3M9Q2"
    compact = body + luhn.calc_check_digit(body, alphabet=ALPHABET)
    assert parse_order_number(compact) == f"EP-{compact[:4]}-{compact[4:]}"
    assert parse_order_number(f"EP{compact}") == f"EP-{compact[:4]}-{compact[4:]}"


@pytest.mark.parametrize("text", ["", "EP-123", "EP-UUUU-UUUU", "hello world"])
def test_what_is_not_an_order_number_is_refused(text):
    with pytest.raises(InvalidIdentifier, match="not an EP order number"):
        parse_order_number(text)
