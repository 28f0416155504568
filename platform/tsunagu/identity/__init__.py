"""Identity: users, memberships, roles; per-tenant OpenID Connect sign-in; server-side sessions; API tokens;
the one permission module (``permissions``) and the principal every view sees (``auth.current_principal``)."""
