"""SQLAlchemy base, the ``TenantScoped`` mixin and the engines.

Tenant isolation has three layers (DESIGN 2.3):

1. every tenant-owned table has ``tenant_id`` leading its primary key and every unique constraint, and
   composite foreign keys, so a row can never point into another tenant;
2. the ORM adds ``tenant_id = :bound`` to every query of a tenant-scoped model (``session.py``);
3. on PostgreSQL, row-level security keyed on ``app.tenant_id``, set per transaction, stops whatever gets
   past the first two — the application role owns nothing and cannot bypass it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, MetaData, TypeDecorator, Uuid, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every database.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones: values are stored as naive UTC and come back
    marked UTC, so application code only ever sees aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantScoped:
    """Mixin for every tenant-owned table.

    ``tenant_id`` is not null, indexed, and the first column of the primary key, so lookups are
    ``session.get(Model, (tenant_id, id))`` and every composite key and unique constraint leads with it.
    Tables using the mixin are listed in :func:`tenant_tables` and get row-level security in migrations.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            Uuid,
            ForeignKey("tenant.id", ondelete="RESTRICT"),
            primary_key=True,
            nullable=False,
            index=True,
            sort_order=-100,
        )


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def tenant_tables() -> list[str]:
    """Names of every table holding tenant data: the ones that must carry row-level security."""
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, *, pool_size: int | None = None, echo: bool = False) -> Engine:
    # JSON columns as compact UTF-8 (「相談受付」, not "\u76f8..."): a third of the bytes for Japanese text.
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "json_serializer": compact_json}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 0
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
