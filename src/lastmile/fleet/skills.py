"""Skills: the built-in ones and those a tenant defines; listed by name."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.fleet import refs
from lastmile.fleet.enums import BUILTIN_SKILLS
from lastmile.fleet.errors import SkillExists
from lastmile.fleet.models import Skill
from lastmile.fleet.schemas import SkillCreate


@dataclass(frozen=True)
class SkillView:
    name: str
    description: str
    builtin: bool
    id: str | None = None
    created_at: datetime | None = None


async def create(*, session: AsyncSession, tenant: TenantContext, data: SkillCreate) -> Skill:
    """Define a skill of the tenant; 409 when the name is built in or already defined."""
    taken = (
        data.name in BUILTIN_SKILLS
        or (await session.execute(scoped(Skill, tenant).where(Skill.name == data.name))).first()
        is not None
    )
    exists = SkillExists(
        f"the skill {data.name!r} already exists",
        [FieldError("body.name", "already a skill of this tenant", "taken")],
    )
    if taken:
        raise exists
    skill = owned(Skill(id=new_id("skl"), name=data.name, description=data.description), tenant)
    session.add(skill)
    await refs.flush_or_raise(session, exists)
    return skill


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(
            "invalid cursor", [FieldError("query.cursor", "not a cursor returned by this API")]
        ) from exc


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    builtin: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[SkillView], str | None]:
    """Built-in and tenant skills merged, in name order, a page at a time."""
    after = _decode(cursor) if cursor else ""
    views: list[SkillView] = []
    if builtin is not False:
        views += [SkillView(n, d, True) for n, d in BUILTIN_SKILLS.items() if n > after]
    if builtin is not True:
        # A tenant defines a handful of skills: sort them here, in code-point order, rather
        # than rely on the database's collation (which differs between backends).
        rows = (await session.execute(scoped(Skill, tenant))).scalars().all()
        views += [
            SkillView(s.name, s.description, False, s.id, s.created_at)
            for s in rows
            if s.name > after
        ]
    views.sort(key=lambda v: v.name)
    page = views[:limit]
    nxt = _encode(page[-1].name) if len(views) > limit else None
    return page, nxt
