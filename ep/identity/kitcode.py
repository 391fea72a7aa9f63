"""Home-kit codes: printed under the kit's QR code, typed by the resident, sent by the lab."""

import re

from ep.identity.errors import InvalidIdentifier

# letters, digits and dashes, 6-40 characters
_KIT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{4,38}[A-Z0-9]$")


def parse_kit_code(text: str) -> str:
    """Return the kit code as printed (upper case, no spaces); InvalidIdentifier if malformed."""
    compact = (text or "").strip().upper().replace(" ", "")
    if not _KIT_CODE.match(compact):
        raise InvalidIdentifier("a kit code has 6-40 letters, digits and dashes")
    return compact
