class InvalidIdentifier(ValueError):
    """An identifier that is not valid; the message is one line a person can act on."""
