"""Row-level security DDL, used by migrations (PostgreSQL only).

Policy: ``tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid`` for USING and WITH CHECK.
With no tenant bound the setting is empty, the comparison is NULL, and no row is visible or writable.
"""

from __future__ import annotations

from typing import Any

POLICY_NAME = "tenant_isolation"
TENANT_EXPR = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def enable_tenant_rls(op: Any, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(
        f'CREATE POLICY {POLICY_NAME} ON "{table}" '
        f"USING (tenant_id = {TENANT_EXPR}) WITH CHECK (tenant_id = {TENANT_EXPR})"
    )


def disable_tenant_rls(op: Any, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')


#: Columns of ``tenant`` the application role may update (on its bound tenant's row only, by RLS): a tenant
#: administrator edits their own identity provider. Status, slug and the rest change only as the owner.
TENANT_APP_UPDATABLE = ("settings", "updated_at")


#: Tables the application role may only INSERT into and SELECT from (an append-only record: the audit trail).
#: A missing table (before its migration) is skipped.
APPEND_ONLY_TABLES = ("audit_entry",)


def grant_app_role_sql(app_role: str) -> list[str]:
    """Privileges of the application role: data manipulation only, never ownership or DDL.

    Once ``tenant`` carries row-level security (migration 0006), the application role may not insert or
    delete tenants and may update only :data:`TENANT_APP_UPDATABLE`.
    """
    role = '"' + app_role.replace('"', '""') + '"'
    literal = "'" + app_role.replace("'", "''") + "'"
    columns = ", ".join(TENANT_APP_UPDATABLE)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",
        # The role name goes in as an escaped literal and is quoted again by format('%I').
        "DO $$ BEGIN "  # noqa: S608
        "IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('public.tenant') AND relrowsecurity) THEN "
        f"EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON tenant FROM %I', {literal}); "
        f"EXECUTE format('GRANT UPDATE ({columns}) ON tenant TO %I', {literal}); "
        "END IF; END $$",
        *(
            "DO $$ BEGIN "
            f"IF to_regclass('public.{table}') IS NOT NULL THEN "
            f"EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM %I', {literal}); "
            "END IF; END $$"
            for table in APPEND_ONLY_TABLES
        ),
    ]
