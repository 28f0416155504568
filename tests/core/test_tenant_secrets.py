"""``Settings.tenant_client_secret``: a tenant's secret comes only from its own namespace."""

from __future__ import annotations

import pytest

from tsunagu.config import ForeignSecretRef, Settings, oidc_client_secret_ref

ENV = {
    "TSUNAGU_ENV": "test",
    "TSUNAGU_SECRET_KEY": "signing-key-of-the-whole-platform-0123456789",
    "TSUNAGU_DATABASE_URL": "postgresql://app:pw@db/tsunagu",
    "TSUNAGU_REDIS_URL": "redis://:pw@redis:6379/0",
    "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET": "yokohama-secret",
    "TSUNAGU_OIDC_MINAMI_URAWA_CLIENT_SECRET": "minami-urawa-secret",
    "TSUNAGU_OPERATOR_ISSUER": "https://ops.example",
    "TSUNAGU_OPERATOR_CLIENT_ID": "ops",
    "TSUNAGU_OPERATOR_CLIENT_SECRET": "operators-secret",
    "TSUNAGU_OPERATOR_EMAILS": "ops@example.jp",
    "HOME": "/root",
}


def test_the_namespace_is_the_slug_in_upper_case_with_underscores():
    assert oidc_client_secret_ref("yokohama") == "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET"
    assert oidc_client_secret_ref("minami-urawa") == "TSUNAGU_OIDC_MINAMI_URAWA_CLIENT_SECRET"


def test_a_tenant_gets_its_own_secret_from_its_own_variable():
    settings = Settings.from_env(ENV)
    assert (
        settings.tenant_client_secret("yokohama", "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET") == "yokohama-secret"
    )
    assert (
        settings.tenant_client_secret("minami-urawa", "TSUNAGU_OIDC_MINAMI_URAWA_CLIENT_SECRET")
        == "minami-urawa-secret"
    )
    assert settings.tenant_client_secret("kunitachi", "TSUNAGU_OIDC_KUNITACHI_CLIENT_SECRET") is None


@pytest.mark.parametrize(
    "ref",
    [
        "TSUNAGU_SECRET_KEY",
        "TSUNAGU_DATABASE_URL",
        "TSUNAGU_REDIS_URL",
        "TSUNAGU_OPERATOR_CLIENT_SECRET",
        "TSUNAGU_OIDC_MINAMI_URAWA_CLIENT_SECRET",  # another tenant's
        "HOME",
        "",
    ],
)
def test_any_other_reference_is_refused_and_reveals_nothing(ref):
    settings = Settings.from_env(ENV)
    with pytest.raises(ForeignSecretRef) as caught:
        settings.tenant_client_secret("yokohama", ref)
    assert caught.value.expected == "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET"
    for value in ENV.values():
        if len(value) > 8:
            assert value not in str(caught.value)


def test_only_tenant_secret_variables_are_kept_for_lookup():
    settings = Settings.from_env(ENV)
    assert set(settings.tenant_secrets) == {
        "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET",
        "TSUNAGU_OIDC_MINAMI_URAWA_CLIENT_SECRET",
    }
    assert "yokohama-secret" not in repr(settings)


def test_secrets_directory_files_are_read_at_each_use_and_the_variable_wins(tmp_path):
    settings = Settings.from_env({**ENV, "TSUNAGU_SECRETS_DIR": str(tmp_path)})
    ref = "TSUNAGU_OIDC_KUNITACHI_CLIENT_SECRET"
    assert settings.tenant_client_secret("kunitachi", ref) is None
    (tmp_path / "kunitachi").mkdir()
    (tmp_path / "kunitachi" / "oidc_client_secret").write_text("first\n")
    assert settings.tenant_client_secret("kunitachi", ref) == "first"
    (tmp_path / "kunitachi" / "oidc_client_secret").write_text("rotated\n")
    assert settings.tenant_client_secret("kunitachi", ref) == "rotated"
    (tmp_path / "yokohama").mkdir()
    (tmp_path / "yokohama" / "oidc_client_secret").write_text("from-file")
    assert (
        settings.tenant_client_secret("yokohama", "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET") == "yokohama-secret"
    )


def test_a_slug_that_is_not_a_slug_never_reaches_the_file_system(tmp_path):
    (tmp_path / "secret.txt").write_text("outside")
    settings = Settings.from_env({**ENV, "TSUNAGU_SECRETS_DIR": str(tmp_path / "tenants")})
    for slug in ("..", "../x", "a/b", "A"):
        with pytest.raises(ForeignSecretRef):
            settings.tenant_client_secret(slug, oidc_client_secret_ref(slug))


def test_a_relative_secrets_directory_is_a_configuration_error():
    from tsunagu.config import ConfigError

    with pytest.raises(ConfigError, match="TSUNAGU_SECRETS_DIR"):
        Settings.from_env({**ENV, "TSUNAGU_SECRETS_DIR": "secrets"})
