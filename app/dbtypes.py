"""Column types shared by the table models."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

# JSON: JSONB on PostgreSQL so that containment (`@>`) filters and GIN indexes work.
JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")
