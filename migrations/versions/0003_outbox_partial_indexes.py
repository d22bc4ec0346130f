"""outbox indexes hold only the rows that claims read: pending rows, leased rows, failed rows

A settled (delivered or failed) row's versions no longer enter the claim's indexes, so they stay
the size of the backlog, not of the delivery history, and settling a row writes three index
entries instead of six. The (status, next_attempt_at) index goes: nothing reads by status alone
but the pending count, which ix_outbox_pending serves. A full (subscription_id, created_at)
index replaces the one on created_at alone: deleting a subscription cascades to its messages (the
history included), and requeue_range reads them by creation time. Replicas of the previous release
keep working during a rolling update: PostgreSQL plans their bound status with its value (custom
plans), which lets it use the partial indexes too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 03:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

PARTIAL = {  # name → (columns, the rows it holds)
    'ix_outbox_pending': (['subscription_id', 'next_attempt_at', 'id'], "status = 'pending'"),
    'ix_outbox_leased': (['subscription_id', 'lease_until'], 'lease_until IS NOT NULL'),
    'ix_outbox_failed': (['subscription_id'], "status = 'failed'"),
}


def upgrade() -> None:
    for name, (columns, where) in PARTIAL.items():
        op.create_index(name, 'outbox', columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))
    op.create_index('ix_outbox_subscription_created', 'outbox', ['subscription_id', 'created_at'])
    op.drop_index('ix_outbox_subscription_due', table_name='outbox')
    op.drop_index('ix_outbox_subscription_lease', table_name='outbox')
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_index('ix_outbox_created_at', table_name='outbox')


def downgrade() -> None:
    op.create_index('ix_outbox_created_at', 'outbox', ['created_at'])
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'])
    op.create_index('ix_outbox_subscription_lease', 'outbox', ['subscription_id', 'lease_until'])
    op.create_index('ix_outbox_subscription_due', 'outbox', ['subscription_id', 'status', 'next_attempt_at', 'id'])
    op.drop_index('ix_outbox_subscription_created', table_name='outbox')
    for name in reversed(PARTIAL):
        op.drop_index(name, table_name='outbox')
