"""The PKCS#11 backend against a real SoftHSM2 token (Debian's softhsm2): tenant keys are wrapped inside the token,
data sealed through it reads back in a fresh process, a wrong PIN fails clearly, and a new master key in the token
re-wraps every tenant key (the old one can then go)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.keys.conftest import KANA, NAME, open_case, unit_of
from tsunagu.cases.models import Person
from tsunagu.config import ConfigError
from tsunagu.core import sealed
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.keys import services as keys
from tsunagu.keys.kms import KmsError, kms_from_env

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN = "tsunagu-test", "4711-pin"


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory) -> Path:
    """A token of our own: SOFTHSM2_CONF points at a temp dir (set before the module is first loaded)."""
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "0000-so"],
        check=True,
        capture_output=True,
    )
    import pkcs11

    lib = pkcs11.lib(MODULE)
    with lib.get_token(token_label=TOKEN).open(user_pin=PIN, rw=True) as session:
        for label in ("master-2026", "master-2027"):
            session.generate_key(pkcs11.KeyType.AES, 256, label=label, store=True)
    return conf


def _env(runtime, **extra: str) -> dict[str, str]:
    env = dict(runtime.settings.extra)
    env.update(
        TSUNAGU_KMS="pkcs11",
        TSUNAGU_PKCS11_MODULE=MODULE,
        TSUNAGU_PKCS11_TOKEN_LABEL=TOKEN,
        TSUNAGU_PKCS11_PIN=PIN,
    )
    env.update(extra)
    return env


def _runtime(runtime, env: dict[str, str]) -> Runtime:
    return Runtime.from_settings(dataclasses.replace(runtime.settings, extra=env))


def _kek_ids(runtime, tenant_id) -> set[str]:
    url = runtime.settings.migration_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT kek_id, wrapped FROM tenant_key WHERE tenant_id = %s", (tenant_id,)
        ).fetchall()
    assert rows and all(r[1] for r in rows)
    return {r[0] for r in rows}


def _names(rt: Runtime, tenant_id) -> list[str]:
    from sqlalchemy import select

    with transaction(rt.sessions, tenant_id) as session:
        return [p.name_kana for p in session.execute(select(Person)).scalars()]


def test_tenant_keys_wrapped_in_softhsm_read_back_and_rewrap_to_a_new_token_key(runtime, presets, softhsm):
    restore = keys.current_keyring()
    tenant = presets["yokohama"]
    hsm = _runtime(runtime, _env(runtime, TSUNAGU_PKCS11_KEY_LABEL="master-2026"))
    try:
        open_case(hsm, tenant, unit_of(hsm, tenant), name=NAME, kana=KANA)
        assert _kek_ids(runtime, tenant.id) == {"pkcs11:master-2026"}

        fresh = _runtime(runtime, _env(runtime, TSUNAGU_PKCS11_KEY_LABEL="master-2026"))  # another process
        assert _names(fresh, tenant.id) == [KANA]
        fresh.dispose()

        wrong = kms_from_env(
            _env(runtime, TSUNAGU_PKCS11_PIN="0000", TSUNAGU_PKCS11_KEY_LABEL="master-2026"), production=True
        )
        with pytest.raises(KmsError, match="tsunagu-test"):
            wrong.wrap(b"x" * 32, b"aad")

        # master-key rotation inside the token: new label current, old one still readable, then re-wrap
        both = _runtime(
            runtime,
            _env(
                runtime,
                TSUNAGU_PKCS11_KEY_LABEL="master-2027",
                TSUNAGU_PKCS11_PREVIOUS_KEY_LABELS="master-2026",
            ),
        )
        with transaction(both.sessions, tenant.id) as session:
            assert keys.rewrap(session, tenant.id) == 2
        both.dispose()
        assert _kek_ids(runtime, tenant.id) == {"pkcs11:master-2027"}
        only_new = _runtime(runtime, _env(runtime, TSUNAGU_PKCS11_KEY_LABEL="master-2027"))
        assert _names(only_new, tenant.id) == [KANA]
        only_new.dispose()
    finally:
        hsm.dispose()
        sealed.install(restore)


def test_pkcs11_settings_are_checked_with_a_clear_message():
    with pytest.raises(ConfigError, match="TSUNAGU_PKCS11_PIN"):
        kms_from_env(
            {"TSUNAGU_KMS": "pkcs11", "TSUNAGU_PKCS11_MODULE": MODULE, "TSUNAGU_PKCS11_TOKEN_LABEL": "t"},
            production=True,
        )
    with pytest.raises(ConfigError, match="TSUNAGU_MASTER_KEY is missing"):
        kms_from_env({}, production=True)
    with pytest.raises(ConfigError, match="32 random bytes"):
        kms_from_env({"TSUNAGU_MASTER_KEY": "c2hvcnQ="}, production=False)
    with pytest.raises(ConfigError, match="'env' or 'pkcs11'"):
        kms_from_env({"TSUNAGU_KMS": "vault"}, production=False)


def test_the_master_key_can_come_from_a_mounted_file(tmp_path):
    import base64

    key = base64.b64encode(os.urandom(32)).decode()
    (tmp_path / "master-key").write_text(key + "\n")
    from_file = kms_from_env({"TSUNAGU_MASTER_KEY_REF": str(tmp_path / "master-key")}, production=True)
    direct = kms_from_env({"TSUNAGU_MASTER_KEY": key}, production=True)
    assert from_file.current_kek_id == direct.current_kek_id
    kek, wrapped = from_file.wrap(b"k" * 32, b"aad")
    assert direct.unwrap(kek, wrapped, b"aad") == b"k" * 32
    with pytest.raises(ConfigError, match="only a file path"):
        kms_from_env({"TSUNAGU_MASTER_KEY_REF": "kms:projects/x"}, production=True)
    with pytest.raises(ConfigError, match="cannot be read"):
        kms_from_env({"TSUNAGU_MASTER_KEY_REF": str(tmp_path / "absent")}, production=True)
