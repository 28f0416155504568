"""Row-level security on the tenant registry, and the narrow functions the application reads it through.

Until now the application role could read and update every ``tenant`` row: a compromised or buggy request
could change another tenant's issuer or suspend it. From here on:

* ``tenant`` has ``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` with the policy ``id = app.tenant_id`` (USING and
  WITH CHECK): the application role sees and changes only the bound tenant's own row, and with no tenant
  bound sees nothing. A second policy lets the owner role (the one running this migration: ``tenants sync``,
  ``tenants suspend``/``activate``) see every row, so the owner needs no ``BYPASSRLS`` for the registry.
* The application role may update only ``settings`` and ``updated_at`` (a tenant administrator's edit of
  their own identity provider) and may neither insert nor delete rows; ``core.rls.grant_app_role_sql``
  re-applies that after every upgrade, because it grants DML on all tables first.
* Reads that happen before a tenant is bound go through ``SECURITY DEFINER`` functions owned by the owner,
  returning public columns only (never ``settings``):
  ``tsunagu_tenant_by_slug(slug)`` → ``(id, slug, status)`` (request routing) and
  ``tsunagu_tenant_directory()`` → ``(id, slug, name, name_kana, name_en, prefecture_code, population,
  status, created_at)`` (the index page, the operators' list).
* ``tsunagu_register_tenant(...)`` creates a new, active tenant with empty settings (the operators' page);
  it cannot touch an existing row. Changing a tenant's status is the owner's alone (``tsunagu tenants
  suspend`` / ``activate``, or ``status`` in its preset and ``tsunagu tenants sync``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from alembic import op

from tsunagu.core.rls import POLICY_NAME, TENANT_EXPR

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OWNER_POLICY = "tenant_registry_owner"
BY_SLUG = "tsunagu_tenant_by_slug(text)"
DIRECTORY = "tsunagu_tenant_directory()"
REGISTER = "tsunagu_register_tenant(uuid, text, text, text, text, text, integer)"

FUNCTIONS = {
    BY_SLUG: """
CREATE FUNCTION tsunagu_tenant_by_slug(p_slug text)
RETURNS TABLE (id uuid, slug text, status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT t.id, t.slug::text, t.status::text FROM tenant AS t WHERE t.slug = p_slug
$$
""",
    DIRECTORY: """
CREATE FUNCTION tsunagu_tenant_directory()
RETURNS TABLE (id uuid, slug text, name text, name_kana text, name_en text, prefecture_code text,
               population integer, status text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT t.id, t.slug::text, t.name::text, t.name_kana::text, t.name_en::text, t.prefecture_code::text,
           t.population, t.status::text, t.created_at
      FROM tenant AS t ORDER BY t.slug
$$
""",
    REGISTER: """
CREATE FUNCTION tsunagu_register_tenant(p_id uuid, p_slug text, p_name text, p_name_kana text,
                                        p_name_en text, p_prefecture_code text, p_population integer)
RETURNS uuid
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    INSERT INTO tenant (id, slug, name, name_kana, name_en, prefecture_code, population, status, settings,
                        created_at, updated_at)
    VALUES (p_id, p_slug, p_name, p_name_kana, p_name_en, p_prefecture_code, p_population, 'active',
            '{}'::json, now(), now())
    RETURNING id
$$
""",
}

COMMENTS = {
    BY_SLUG: "Request routing: (id, slug, status) of one tenant by slug, before any tenant is bound.",
    DIRECTORY: "Public columns of every tenant (index page, operators); never settings.",
    REGISTER: "Operators: create a new active tenant with empty settings; cannot change an existing one.",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE tenant ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenant FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {POLICY_NAME} ON tenant USING (id = {TENANT_EXPR}) WITH CHECK (id = {TENANT_EXPR})"
    )
    # The role running migrations owns the table and applies presets; it sees the whole registry.
    op.execute(f"CREATE POLICY {OWNER_POLICY} ON tenant TO CURRENT_USER USING (true) WITH CHECK (true)")
    for signature, ddl in FUNCTIONS.items():
        op.execute(ddl)
        # Callable only by the roles granted explicitly (env.py grants EXECUTE to the application role).
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"COMMENT ON FUNCTION {signature} IS '{COMMENTS[signature]}'")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute(f"DROP POLICY IF EXISTS {OWNER_POLICY} ON tenant")
    op.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON tenant")
    op.execute("ALTER TABLE tenant NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenant DISABLE ROW LEVEL SECURITY")
