"""Test support: PostgreSQL databases and roles, factories."""
