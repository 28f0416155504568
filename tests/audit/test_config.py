"""The audit key: required in production, a visibly non-production stand-in elsewhere."""

from __future__ import annotations

import pytest

from tsunagu.config import DEV_AUDIT_HMAC_KEY, ConfigError, Settings

PRODUCTION = {
    "TSUNAGU_ENV": "production",
    "TSUNAGU_SECRET_KEY": "s" * 40,
    "TSUNAGU_DATABASE_URL": "postgresql://app@db/tsunagu",
    "TSUNAGU_PUBLIC_URL": "https://tsunagu.example.jp",
}


def test_production_refuses_to_start_without_an_audit_key():
    with pytest.raises(ConfigError, match="TSUNAGU_AUDIT_HMAC_KEY is missing"):
        Settings.from_env(PRODUCTION)


@pytest.mark.parametrize("key", ["short", DEV_AUDIT_HMAC_KEY])
def test_production_refuses_a_short_or_the_development_key(key):
    with pytest.raises(ConfigError, match="TSUNAGU_AUDIT_HMAC_KEY must be"):
        Settings.from_env({**PRODUCTION, "TSUNAGU_AUDIT_HMAC_KEY": key})


def test_production_takes_a_real_key_and_development_the_marked_one():
    key = "k" * 40
    assert Settings.from_env({**PRODUCTION, "TSUNAGU_AUDIT_HMAC_KEY": key}).audit_hmac_key == key.encode()
    development = Settings.from_env({"TSUNAGU_ENV": "development"})
    assert development.audit_hmac_key == DEV_AUDIT_HMAC_KEY.encode()
    assert b"NOT-FOR-PRODUCTION" in development.audit_hmac_key
