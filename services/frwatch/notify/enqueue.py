"""Turning event changes into outbox rows (one per matching subscription), in the same
transaction as the event. Owned by the webhook work (issue 4): matching and payloads live here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from frwatch.models import Event


@dataclass
class EventChange:
    event: Event
    kind: str  # enforcement.detected | enforcement.updated
    item_ids: list[int]


async def enqueue_event_changes(session: AsyncSession, changes: Sequence[EventChange], now: datetime) -> int:
    """Write the outbox rows these changes owe; returns how many. (Filled in by issue 4.)"""
    return 0
