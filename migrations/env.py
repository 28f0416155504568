"""Alembic environment: runs as the owner role (``TSUNAGU_MIGRATION_DATABASE_URL``).

After the migrations, the application role (the user of ``TSUNAGU_DATABASE_URL``, or ``TSUNAGU_APP_DB_ROLE``)
is granted data-manipulation rights on every table; it never owns anything.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tsunagu import models  # noqa: F401 - registers every table on Base.metadata
from tsunagu.config import Settings
from tsunagu.core.db import Base, make_engine
from tsunagu.core.rls import grant_app_role_sql

config = context.config
target_metadata = Base.metadata


def _settings() -> Settings:
    preset = config.attributes.get("settings")
    return preset if preset is not None else Settings.from_env()


def _app_role(settings: Settings) -> str | None:
    explicit = settings.extra.get("TSUNAGU_APP_DB_ROLE")
    if explicit:
        return explicit
    app_user = make_url(settings.database_url).username
    owner_user = make_url(settings.migration_database_url).username
    if app_user and app_user != owner_user:
        return app_user
    return None


def run_migrations_online() -> None:
    settings = _settings()
    engine = make_engine(settings.migration_database_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            role = _app_role(settings)
            if role and connection.dialect.name == "postgresql":
                for statement in grant_app_role_sql(role):
                    connection.execute(text(statement))
    engine.dispose()


def run_migrations_offline() -> None:
    settings = _settings()
    context.configure(
        url=settings.migration_database_url, target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
