"""Service functions: plain functions over a Session, no Flask imports.

Services flush; the caller (a view or a Click command) commits once per unit of work.
"""


class DomainError(Exception):
    """A request the domain refuses, worded for the person who made it."""


class NotFound(DomainError):
    """The thing asked for does not exist (or is not the caller's to see)."""
