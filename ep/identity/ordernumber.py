"""EP order numbers: short, readable aloud, with a check character (Luhn mod 32).

The form is ``EP-XXXX-XXXX``: seven random characters from Crockford's base32 alphabet
(no I, L, O, U) and a check character, so a mistyped or misread character is caught at
the sampling site and in lab messages before it can match someone else's order.
"""

import secrets

from stdnum import luhn

from ep.identity.errors import InvalidIdentifier

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
PREFIX = "EP"
RANDOM_LENGTH = 7


def new_order_number() -> str:
    """Return a new random order number with its check character."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return _shown(body + luhn.calc_check_digit(body, alphabet=ALPHABET))


def parse_order_number(text: str) -> str:
    """Return the canonical form of an order number; raise InvalidIdentifier if invalid."""
    shown = (text or "").strip()
    compact = shown.upper().replace("-", "").replace(" ", "").translate(_READ_AS)
    # the prefix is optional when typed, so strip it only where it is one: a body may
    # itself begin with "EP"
    if len(compact) == len(PREFIX) + RANDOM_LENGTH + 1 and compact.startswith(PREFIX):
        compact = compact[len(PREFIX) :]
    if len(compact) != RANDOM_LENGTH + 1 or any(c not in ALPHABET for c in compact):
        raise InvalidIdentifier(f"{shown}: not an EP order number (EP-XXXX-XXXX)")
    try:
        luhn.validate(compact, alphabet=ALPHABET)
    except Exception:
        raise InvalidIdentifier(f"{shown}: the check character does not match") from None
    return _shown(compact)


def _shown(compact: str) -> str:
    return f"{PREFIX}-{compact[:4]}-{compact[4:]}"
