"""Identifiers EP trusts: personnummer, HSA-ID, order numbers (and, later, certificates)."""

from ep.identity.errors import InvalidIdentifier
from ep.identity.hsaid import parse_hsa_id
from ep.identity.kitcode import parse_kit_code
from ep.identity.ordernumber import new_order_number, parse_order_number
from ep.identity.personnummer import format_personnummer, parse_personnummer

__all__ = [
    "InvalidIdentifier",
    "format_personnummer",
    "new_order_number",
    "parse_hsa_id",
    "parse_kit_code",
    "parse_order_number",
    "parse_personnummer",
]
