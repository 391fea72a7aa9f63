"""Personnummer and samordningsnummer, on top of python-stdnum.

stdnum validates the format, the birth date and the Luhn check digit; what it lacks is
the samordningsnummer (birth day + 60) and a century chosen against an explicit date, so
those are wrapped here. EP stores 12 digits and shows ``YYYYMMDD-NNNN``.
"""

from datetime import date

from stdnum import luhn
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.se import personnummer as stdnum_personnummer

from ep.identity.errors import InvalidIdentifier

SAMORDNING_DAY_OFFSET = 60


def parse_personnummer(text: str, *, today: date | None = None) -> str:
    """Return the 12-digit form of a personnummer or samordningsnummer.

    Accepts 10 or 12 digits, with or without ``-``; a 10-digit number with ``+`` belongs
    to someone 100 or older. Raises InvalidIdentifier with a message naming the problem.
    """
    shown = (text or "").strip()
    if not shown:
        raise InvalidIdentifier("personnummer is empty")
    compact = stdnum_personnummer.compact(shown)
    digits = compact.replace("-", "").replace("+", "")
    if not digits.isdigit():
        raise InvalidIdentifier(f"{shown}: a personnummer has only digits and - or +")
    if len(digits) not in (10, 12):
        raise InvalidIdentifier(f"{shown}: a personnummer has 10 or 12 digits, not {len(digits)}")
    separator = compact[-5]
    if separator == "+" and len(digits) == 12:
        raise InvalidIdentifier(f"{shown}: + is only used with 10 digits")

    day = int(digits[-6:-4])
    samordning = day > SAMORDNING_DAY_OFFSET
    as_birth_date = digits
    if samordning:
        as_birth_date = f"{digits[:-6]}{day - SAMORDNING_DAY_OFFSET:02d}{digits[-4:]}"
    birth = _birth_date(as_birth_date, separator, today or date.today(), shown)

    try:
        luhn.validate(digits[-10:])
    except InvalidChecksum:
        expected = luhn.calc_check_digit(digits[-10:-1])
        raise InvalidIdentifier(
            f"{shown}: wrong check digit (the last digit would be {expected})"
        ) from None

    century = f"{birth.year // 100:02d}"
    return century + digits[-10:]


def _birth_date(digits: str, separator: str, today: date, shown: str) -> date:
    try:
        if len(digits) == 12:
            born = stdnum_personnummer.get_birth_date(f"{digits[:8]}-{digits[8:]}")
        else:
            year, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
            century = today.year // 100
            if year > today.year % 100:
                century -= 1
            if separator == "+":
                century -= 1
            born = date(century * 100 + year, month, day)
    except (InvalidComponent, InvalidFormat, InvalidLength, ValueError):
        raise InvalidIdentifier(f"{shown}: the date in it does not exist") from None
    if born > today:
        raise InvalidIdentifier(f"{shown}: the birth date is in the future")
    return born


def is_samordningsnummer(personnummer: str) -> bool:
    """Return whether a 12-digit number is a samordningsnummer (day + 60)."""
    return int(personnummer[6:8]) > SAMORDNING_DAY_OFFSET


def birth_date(personnummer: str) -> date:
    """Return the birth date of a 12-digit personnummer or samordningsnummer."""
    day = int(personnummer[6:8])
    if day > SAMORDNING_DAY_OFFSET:
        day -= SAMORDNING_DAY_OFFSET
    return date(int(personnummer[0:4]), int(personnummer[4:6]), day)


def age_on(personnummer: str, when: date) -> int:
    """Return the age in whole years on ``when``."""
    born = birth_date(personnummer)
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def format_personnummer(personnummer: str) -> str:
    """Show a 12-digit number as ``YYYYMMDD-NNNN``."""
    return f"{personnummer[:8]}-{personnummer[8:]}"
