"""Notifications to residents: one small interface over the transports.

A transport is a module with ``send(message, config) -> str | None`` (the provider's
reference, if any). It raises TransientDeliveryError when trying again later may work
(provider 5xx, timeout, refused connection) and PermanentDeliveryError when this message
can never go (invalid number or address). The in-app inbox is not a transport: it is
written by ``ep.domain.notifications.queue_notification`` for every notification.
"""

from dataclasses import dataclass


class DeliveryError(Exception):
    """A message could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """The provider failed this time (5xx, timeout, refused): retry later."""


class PermanentDeliveryError(DeliveryError):
    """This message can never go (bad number or address, a 4xx refusal)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """What a transport needs: content-free texts, the address and the idempotency key."""

    dedupe_key: str
    recipient: str | None
    language: str
    subject: str
    body: str
