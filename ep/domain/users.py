"""Staff, admin and operator accounts (EP.Admin and `ep user`)."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ep.domain import DomainError, NotFound
from ep.domain.audit import Actor, described, record
from ep.identity import parse_hsa_id
from ep.models import User, UserRole
from ep.models.people import ROLES


def check_role(role: str) -> str:
    """Return ``role`` if EP knows it; raise DomainError naming the known roles."""
    if role not in ROLES:
        raise DomainError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    return role


def find_user(session: Session, hsa_id: str) -> User | None:
    """Return the user with this HSA-ID, or None."""
    return session.scalar(select(User).where(User.hsa_id == parse_hsa_id(hsa_id)))


def get_user(session: Session, hsa_id: str) -> User:
    user = find_user(session, hsa_id)
    if user is None:
        raise NotFound(f"no user with HSA-ID {parse_hsa_id(hsa_id)}")
    return user


def add_user(
    session: Session,
    *,
    hsa_id: str,
    name: str,
    roles: list[str] | tuple[str, ...] = (),
    care_unit_hsa_id: str | None = None,
    care_unit_name: str | None = None,
    actor: Actor,
    now: datetime,
) -> User:
    """Create a user; raise DomainError for a taken HSA-ID, a bad name or an unknown role."""
    hsa_id = parse_hsa_id(hsa_id)
    name = (name or "").strip()
    if not name:
        raise DomainError("a user needs a name")
    for role in roles:
        check_role(role)
    if care_unit_hsa_id:
        care_unit_hsa_id = parse_hsa_id(care_unit_hsa_id)
    if find_user(session, hsa_id) is not None:
        raise DomainError(f"a user with HSA-ID {hsa_id} already exists")
    user = User(
        hsa_id=hsa_id,
        name=name,
        active=True,
        care_unit_hsa_id=care_unit_hsa_id,
        care_unit_name=care_unit_name,
        created_at=now,
        role_rows=[UserRole(role=role) for role in dict.fromkeys(roles)],
    )
    session.add(user)
    session.flush()
    record(
        session,
        actor,
        "user:add",
        now=now,
        object_type="user",
        object_id=hsa_id,
        details=described("roles", roles=sorted(user.roles)),
    )
    return user


def grant_role(session: Session, user: User, role: str, *, actor: Actor, now: datetime) -> bool:
    """Give ``user`` a role; return False if it already had it."""
    check_role(role)
    if role in user.roles:
        return False
    user.role_rows.append(UserRole(role=role))
    _role_changed(session, user, "user:grant", role, actor=actor, now=now)
    return True


def revoke_role(session: Session, user: User, role: str, *, actor: Actor, now: datetime) -> bool:
    """Take a role from ``user``; return False if it did not have it."""
    check_role(role)
    rows = [row for row in user.role_rows if row.role == role]
    if not rows:
        return False
    for row in rows:
        user.role_rows.remove(row)
    _role_changed(session, user, "user:revoke", role, actor=actor, now=now)
    return True


def _role_changed(
    session: Session, user: User, action: str, role: str, *, actor: Actor, now: datetime
) -> None:
    """Log a granted or revoked role in the audit log, and write the change."""
    record(
        session,
        actor,
        action,
        now=now,
        object_type="user",
        object_id=user.hsa_id,
        details=described("role", role=role),
    )
    session.flush()


def set_active(session: Session, user: User, active: bool, *, actor: Actor, now: datetime) -> bool:
    """Activate or deactivate ``user``; return False if nothing changed."""
    if user.active == active:
        return False
    user.active = active
    action = "user:activate" if active else "user:deactivate"
    record(session, actor, action, now=now, object_type="user", object_id=user.hsa_id)
    session.flush()
    return True


def list_users(session: Session) -> list[User]:
    """Return every user, by HSA-ID."""
    return list(session.scalars(select(User).order_by(User.hsa_id)))


USERS_PAGE_SIZE = 50


def find_users(
    session: Session, *, text: str = "", after: str = "", limit: int = USERS_PAGE_SIZE
) -> tuple[list[User], bool]:
    """Return up to ``limit`` users by HSA-ID after ``after`` whose HSA-ID or name contains
    ``text`` (any case), and whether more follow. A region has thousands of users: the
    list is read a page at a time, by the HSA-ID's unique index."""
    query = select(User).order_by(User.hsa_id).limit(limit + 1)
    if after:
        query = query.where(User.hsa_id > after)
    words = text.strip()
    if words:
        query = query.where(
            or_(
                User.hsa_id.icontains(words, autoescape=True),
                User.name.icontains(words, autoescape=True),
            )
        )
    users = list(session.scalars(query))
    return users[:limit], len(users) > limit
