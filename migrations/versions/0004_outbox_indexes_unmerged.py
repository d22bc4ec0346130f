"""outbox indexes whose keys repeat keep no posting lists on PostgreSQL (deduplicate_items = off)

An event's messages share its id, a commit's messages to one subscription their creation time, a
claim's rows of one endpoint their lease; claiming and settling a message add new versions of its
entries (not HOT updates). Merging those duplicates into posting lists cost a fifth of
PostgreSQL's CPU per delivered webhook (80 → 62 µs in the delivery bench). Only entries added from
now on are affected; nothing is rebuilt. SQLite has no such option: nothing to do there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:00:00.000000
"""

from __future__ import annotations

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

UNMERGED = ('ix_outbox_leased', 'ix_outbox_subscription_created', 'ix_outbox_event_id')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in UNMERGED:
            op.execute(f'ALTER INDEX {name} SET (deduplicate_items = off)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in UNMERGED:
            op.execute(f'ALTER INDEX {name} RESET (deduplicate_items)')
