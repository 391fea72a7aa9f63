"""The catalogue: analyses, sampling packages and sampling locations (EP.Admin)."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep.models.base import Base
from ep.timeutil import utcnow

# immediate | delay:<hours> | contact-positive
RELEASE_POLICIES = ("immediate", "delay", "contact-positive")

package_analysis = Table(
    "package_analysis",
    Base.metadata,
    Column("package_id", ForeignKey("package.id", ondelete="CASCADE"), primary_key=True),
    # indexed on its own too (the primary key leads with package_id): deleting an
    # analysis looks up the packages that hold it
    Column("analysis_id", ForeignKey("analysis.id"), primary_key=True, index=True),
    Column("position", Integer, nullable=False, default=0),
)


class Analysis(Base):
    """One lab analysis, by NPU (or LOINC) code."""

    __tablename__ = "analysis"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name_sv: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(30))
    ref_low: Mapped[float | None]
    ref_high: Mapped[float | None]
    # a range that is not two numbers, e.g. "Negativ" or "<4.0"
    ref_text: Mapped[str | None] = mapped_column(String(100))
    # a plain-language line for residents: what the analysis measures
    about_sv: Mapped[str | None] = mapped_column(Text)
    about_en: Mapped[str | None] = mapped_column(Text)
    # what a result means and what happens next, by outcome: "abnormal" is a positive or
    # out-of-range value, "normal" a negative or in-range one (GUIDANCE_FIELDS)
    abnormal_meaning_sv: Mapped[str | None] = mapped_column(Text)
    abnormal_meaning_en: Mapped[str | None] = mapped_column(Text)
    abnormal_next_sv: Mapped[str | None] = mapped_column(Text)
    abnormal_next_en: Mapped[str | None] = mapped_column(Text)
    normal_meaning_sv: Mapped[str | None] = mapped_column(Text)
    normal_meaning_en: Mapped[str | None] = mapped_column(Text)
    normal_next_sv: Mapped[str | None] = mapped_column(Text)
    normal_next_en: Mapped[str | None] = mapped_column(Text)

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_sv

    def guidance(self, outcome: str, language: str) -> tuple[str, str]:
        """(what it means, the next step) for ``outcome`` (abnormal | normal); '' if unset."""
        suffix = "en" if language == "en" else "sv"
        meaning, next_step = (
            getattr(self, f"{outcome}_{part}_{suffix}", None) or "" for part in ("meaning", "next")
        )
        return meaning, next_step


GUIDANCE_FIELDS = tuple(
    f"{outcome}_{part}_{language}"
    for outcome in ("abnormal", "normal")
    for part in ("meaning", "next")
    for language in ("sv", "en")
)


class Package(Base):
    """A predetermined sampling package (provtagningspaket)."""

    __tablename__ = "package"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_sv: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    instructions_sv: Mapped[str] = mapped_column(Text, default="")
    instructions_en: Mapped[str] = mapped_column(Text, default="")
    home_kit: Mapped[bool] = mapped_column(default=False)
    # generally available packages can be ordered without an offer, within the age limits
    generally_available: Mapped[bool] = mapped_column(default=False)
    min_age: Mapped[int | None]
    max_age: Mapped[int | None]
    order_validity_days: Mapped[int] = mapped_column(default=30)
    release_policy: Mapped[str] = mapped_column(String(30), default="immediate")
    # reminder rules (NOTIFYREMINDERS); None switches that reminder off
    remind_offer_after_days: Mapped[int | None]
    remind_expiring_within_days: Mapped[int | None]
    remind_kit_after_days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    analyses: Mapped[list[Analysis]] = relationship(
        secondary=package_analysis, order_by=package_analysis.c.position, lazy="selectin"
    )

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_sv

    def instructions(self, language: str) -> str:
        return self.instructions_en if language == "en" else self.instructions_sv


class SamplingLocation(Base):
    """A sampling site (provtagningsställe) where residents get sampled."""

    __tablename__ = "sampling_location"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    opening_hours: Mapped[str] = mapped_column(String(200), default="")
    care_unit_hsa_id: Mapped[str | None] = mapped_column(String(31))
    active: Mapped[bool] = mapped_column(default=True)
