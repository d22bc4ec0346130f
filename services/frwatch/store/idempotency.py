"""SQL for Idempotency-Key records (first response to a POST, per caller and key). Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.models import IdempotencyRecord


async def get(session: AsyncSession, owner: str, key: str, *, newer_than: datetime) -> IdempotencyRecord | None:
    """The record, unless it is older than ``newer_than`` (then it is deleted and the key is free)."""
    record = await session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.owner == owner,
                                                                  IdempotencyRecord.key == key))
    if record is not None and record.created_at <= newer_than:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.owner == owner,
                                                              IdempotencyRecord.key == key))
        return None
    return record


def add(session: AsyncSession, *, owner: str, key: str, request_hash: str, status: int, body: str,
        now: datetime) -> None:
    session.add(IdempotencyRecord(owner=owner, key=key, request_hash=request_hash, status=status, body=body,
                                  created_at=now))
