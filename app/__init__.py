"""assistcal: the shared calendar of UNSCR 1540 assistance activities."""

from sqlmodel import SQLModel

# Named constraints make migrations reproducible on SQLite and PostgreSQL alike.  The
# convention must be on the metadata before any table model is defined, hence here.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
