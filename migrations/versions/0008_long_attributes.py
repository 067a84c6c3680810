"""Long attribute values apart, compressed: `spans.long_attributes` (see app.long_values).

Spans stored before keep all their attributes in `attributes`; readers merge the two columns,
so both kinds read the same.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spans", sa.Column("long_attributes", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.drop_column("long_attributes")
