"""subscriptions.circuit_opens: the breaker doubles its period per failed probe, not per failure

Before, the period doubled with every failure counted past the threshold, so attempts already
in flight when the circuit opened stretched its first 30 s to minutes. Existing rows start at 0:
an open circuit's next failed probe reopens it for the base period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 21:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# plain ALTER TABLE on both (SQLite >= 3.35 drops columns): a batch "move and copy" would drop
# the old table, and with foreign keys on, SQLite would delete every message it owes

def upgrade() -> None:
    op.add_column('subscriptions', sa.Column('circuit_opens', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('subscriptions', 'circuit_opens')
