"""outbox claim indexes: each endpoint's due rows and its leased rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:10:00.000000
"""

from __future__ import annotations

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_subscription_due', ['subscription_id', 'status', 'next_attempt_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_outbox_subscription_lease', ['subscription_id', 'lease_until'], unique=False)
        batch_op.drop_index(batch_op.f('ix_outbox_subscription_id'))  # a prefix of ix_outbox_subscription_due


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_subscription_id'), ['subscription_id'], unique=False)
        batch_op.drop_index('ix_outbox_subscription_lease')
        batch_op.drop_index('ix_outbox_subscription_due')
