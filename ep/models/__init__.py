"""EP's data model: SQLAlchemy 2.0 typed models, one module per domain."""

from ep.models.audit import AuditEvent
from ep.models.base import Base, UTCDateTime
from ep.models.batches import BatchHeartbeat, BatchRun
from ep.models.catalogue import Analysis, Package, SamplingLocation, package_analysis
from ep.models.installation import Installation
from ep.models.integration import ApiIdempotency, MllpListener
from ep.models.notify import InboxMessage, Notification
from ep.models.orders import Kit, Offer, Order
from ep.models.people import Person, User, UserRole
from ep.models.results import LabMessage, Result
from ep.models.web import RateLimitCounter, WebSession

__all__ = [
    "Analysis",
    "ApiIdempotency",
    "AuditEvent",
    "Base",
    "BatchHeartbeat",
    "BatchRun",
    "InboxMessage",
    "Installation",
    "Kit",
    "LabMessage",
    "MllpListener",
    "Notification",
    "Offer",
    "Order",
    "Package",
    "Person",
    "RateLimitCounter",
    "Result",
    "SamplingLocation",
    "User",
    "UserRole",
    "UTCDateTime",
    "WebSession",
    "package_analysis",
]
