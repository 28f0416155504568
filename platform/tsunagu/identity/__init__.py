"""Users, memberships, roles, API tokens (and, later, per-tenant single sign-on)."""
