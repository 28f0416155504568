"""Key handling (issue #16): per-tenant data keys wrapped by a master key behind a small KMS interface.

``kms`` — the master key backends (environment key, PKCS#11 HSM); ``keyring`` — the per-tenant keys, cached, and
the sealer that ``core.sealed`` columns use; ``rotation`` — rotate, re-wrap, re-encrypt, destroy
(crypto-shredding); ``services`` — what other modules call. Sits just above ``core``: it knows no feature.
"""
