"""The tamper-evident audit trail (issue #16): an append-only, HMAC-chained log per tenant.

Other modules call it only through :mod:`.services` (``record``, ``verify``, ``search``).
"""
