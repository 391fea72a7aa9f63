"""HSA-ID: the national identifier of staff in Swedish health care (from SITHS)."""

import re

from ep.identity.errors import InvalidIdentifier

HSA_ID_MAX_LENGTH = 31
_HSA_ID = re.compile(r"SE\d{10}-[A-Za-z0-9]+")


def parse_hsa_id(text: str) -> str:
    """Return a valid HSA-ID (``SE`` + organisation number + ``-`` + suffix), upper-cased.

    Raises InvalidIdentifier with a message naming the problem.
    """
    value = (text or "").strip().upper()
    if not value:
        raise InvalidIdentifier("HSA-ID is empty")
    if len(value) > HSA_ID_MAX_LENGTH:
        raise InvalidIdentifier(f"{value}: an HSA-ID has at most {HSA_ID_MAX_LENGTH} characters")
    if not _HSA_ID.fullmatch(value):
        raise InvalidIdentifier(
            f"{value}: not an HSA-ID (SE, a 10-digit organisation number, -, letters or "
            "digits, e.g. SE2321000016-1234)"
        )
    return value
