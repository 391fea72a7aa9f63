import pytest

from ep.identity import InvalidIdentifier, parse_hsa_id


def test_a_valid_hsa_id_is_kept_upper_cased():
    assert parse_hsa_id(" se2321000016-15cq ") == "SE2321000016-15CQ"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "HSA-ID is empty"),
        ("SE123-1", "not an HSA-ID"),
        ("2321000016-1234", "not an HSA-ID"),
        ("SE2321000016", "not an HSA-ID"),
        ("SE2321000016-12 34", "not an HSA-ID"),
        ("SE2321000016-" + "A" * 19, "at most 31 characters"),
    ],
)
def test_invalid_hsa_ids_get_a_clear_message(text, message):
    with pytest.raises(InvalidIdentifier, match=message):
        parse_hsa_id(text)
