"""Creates the two database roles and a throw-away database per test session on the real PostgreSQL.

Roles (cluster-wide, created once, never dropped so concurrent runs can share them):
- ``tsunagu_test_owner``: owns the schema, runs migrations; NOSUPERUSER BYPASSRLS (an owner can disable
  RLS on its own tables anyway, so bypass grants it nothing new).
- ``tsunagu_test_app``: LOGIN NOSUPERUSER NOBYPASSRLS, owns nothing; the application connects as it.
The database is named ``tsunagu_test_<random>`` and dropped at the end; no other database is touched.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql

ADMIN_URL = os.environ.get("TSUNAGU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
OWNER_ROLE = "tsunagu_test_owner"
APP_ROLE = "tsunagu_test_app"


@dataclass(frozen=True)
class TestDatabase:
    name: str
    owner_url: str
    app_url: str


def _role_url(role: str, dbname: str, admin_url: str = ADMIN_URL) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    host = info.get("host", "127.0.0.1")
    port = info.get("port", "5432")
    return f"postgresql+psycopg://{role}@{host}:{port}/{dbname}"


def ensure_roles(conn: psycopg.Connection) -> None:
    for role, attrs in (
        (OWNER_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS"),
        (APP_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"),
    ):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists:
            continue
        try:
            conn.execute(sql.SQL("CREATE ROLE {} " + attrs).format(sql.Identifier(role)))
        except psycopg.errors.DuplicateObject:  # a concurrent test run created it first
            pass


def create_database(admin_url: str = ADMIN_URL) -> TestDatabase:
    """A fresh database owned by the owner role, on the machine's PostgreSQL (or the cluster of ``admin_url``)."""
    name = f"tsunagu_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        ensure_roles(conn)
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(OWNER_ROLE))
        )
    with psycopg.connect(admin_url.rsplit("/", 1)[0] + "/" + name, autocommit=True) as conn:
        # PostgreSQL 15 gives the public schema to pg_database_owner; make it explicit and keep others out.
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(APP_ROLE)
            )
        )
    return TestDatabase(
        name=name,
        owner_url=_role_url(OWNER_ROLE, name, admin_url),
        app_url=_role_url(APP_ROLE, name, admin_url),
    )


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def truncate_all(owner_url: str, tables: list[str]) -> None:
    if not tables:
        return
    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(sql.Identifier(t) for t in tables))
        )
