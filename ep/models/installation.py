"""The installation itself: when it was created, so a new one is not red at once."""

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from ep.models.base import Base
from ep.timeutil import utcnow


class Installation(Base):
    """A single row written by `ep init`."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    demo: Mapped[bool] = mapped_column(default=False)
