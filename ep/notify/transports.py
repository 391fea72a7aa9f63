"""The transports by name, as NotificationChannel and a resident's preference name them."""

from types import ModuleType

from ep.notify import file, sms, smtp

TRANSPORTS: dict[str, ModuleType] = {"file": file, "smtp": smtp, "sms": sms}


def transport(name: str) -> ModuleType:
    """Return the transport module for ``name`` (file, smtp or sms)."""
    try:
        return TRANSPORTS[name]
    except KeyError:
        raise ValueError(f"unknown notification transport {name!r}") from None
