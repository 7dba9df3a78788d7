"""Alembic environment: the URL comes from the Alembic config (set by app.db) or, when run
as `alembic upgrade head` from the project folder, from ASSISTCAL_DATABASE_URL."""

from alembic import context

from app.config import Settings
from app.db.engine import make_engine, normalise_url
from app.db.migrate import check_foreign_keys, migration_lock
from app.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or normalise_url(Settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as bare, migration_lock(bare) as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                compare_type=True,
                render_as_batch=connection.dialect.name == "sqlite",
                # One transaction for the whole run on SQLite too (Alembic would commit after
                # each step there), so that the lock taken at its start holds to its end.
                transactional_ddl=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                check_foreign_keys(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
