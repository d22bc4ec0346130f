"""SQL for integrator API keys. Store code never commits; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.ids import new_id
from frwatch.models import ApiKey


async def find_active(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))


async def create(session: AsyncSession, *, name: str, key_hash: str, prefix: str, now: datetime) -> ApiKey:
    key = ApiKey(id=new_id("key"), name=name, key_hash=key_hash, prefix=prefix, created_at=now)
    session.add(key)
    await session.flush()
    return key


async def list_all(session: AsyncSession) -> list[ApiKey]:
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


async def get(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)
