"""Shared foundations: database base classes, tenant context, transactions, outbox, errors."""
