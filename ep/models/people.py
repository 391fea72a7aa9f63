"""Residents (Person) and the region's staff, admins and operators (User)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep.models.base import Base
from ep.timeutil import utcnow

ROLES = ("staff", "admin", "operator", "integration")
CHANNELS = ("sms", "email")
LANGUAGES = ("sv", "en")


class Person(Base):
    """A resident, identified by personnummer or samordningsnummer (12 digits)."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    personnummer: Mapped[str] = mapped_column(String(12), unique=True)
    given_name: Mapped[str] = mapped_column(String(100), default="")
    family_name: Mapped[str] = mapped_column(String(100), default="")
    mobile: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    # sms | email; None means the in-app inbox only
    channel: Mapped[str | None] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(2), default="sv")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class User(Base):
    """A staff member, admin or operator, identified by HSA-ID from a SITHS certificate."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    hsa_id: Mapped[str] = mapped_column(String(31), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    care_unit_hsa_id: Mapped[str | None] = mapped_column(String(31))
    care_unit_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    role_rows: Mapped[list["UserRole"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> set[str]:
        return {row.role for row in self.role_rows}

    def has_role(self, role: str) -> bool:
        return self.active and role in self.roles


class UserRole(Base):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))

    user: Mapped[User] = relationship(back_populates="role_rows")
