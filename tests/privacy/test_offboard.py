"""Offboarding (issue #16, done-when 4): after ``tenants offboard`` the tenant's data cannot be decrypted (in this
process or a fresh one), the archive decrypts with the municipality's private key, and another tenant's cases
still open."""

from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from tests.keys.conftest import KANA, NAME, NOTE, open_case, owner_dump, unit_of
from tsunagu.cases.models import Person, ProgressRecord
from tsunagu.core import sealed
from tsunagu.core.session import transaction
from tsunagu.keys import services as keys
from tsunagu.privacy.archive import ArchiveKeyError, open_archive, seal_archive
from tsunagu.privacy.commands import tenants_open_archive
from tsunagu.privacy.offboard import offboard


def _keypair(bits: int = 3072) -> tuple[bytes, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return public_pem, private_pem


def test_offboarded_tenant_is_undecryptable_archive_opens_with_the_municipality_key_others_unaffected(
    runtime, presets, tmp_path
):
    gone, stays = presets["yokohama"], presets["kunitachi"]
    open_case(runtime, gone, unit_of(runtime, gone))
    kept = open_case(runtime, stays, unit_of(runtime, stays), name="残る 太郎", kana="ノコル タロウ")
    public_pem, private_pem = _keypair()
    out = tmp_path / "yokohama.tsa"

    result = offboard(runtime, gone.id, gone.slug, public_pem, out)
    assert result.keys_destroyed == 2 and result.rows["person"] == 1

    # the archive: encrypted (no plaintext in the file), opens with the private key (CLI as the city runs it)
    blob = out.read_bytes()
    assert NAME.encode() not in blob and NOTE.encode() not in blob
    (tmp_path / "city.pem").write_bytes(private_pem)
    cli = CliRunner().invoke(
        tenants_open_archive,
        [str(out), "--private-key", str(tmp_path / "city.pem"), "--out", str(tmp_path / "a.zip")],
    )
    assert cli.exit_code == 0, cli.output
    archive = zipfile.ZipFile(tmp_path / "a.zip")
    people = json.loads(archive.read("person.json"))
    assert [(p["name"], p["name_kana"]) for p in people] == [(NAME, KANA)]
    assert [r["content"] for r in json.loads(archive.read("progress_record.json"))] == [NOTE]
    assert "person.csv" in archive.namelist() and "audit_entry.csv" in archive.namelist()
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tenant"] == "yokohama" and manifest["tables"]["person"] == 1
    # another key does not open it
    with pytest.raises(ArchiveKeyError):
        open_archive(blob, _keypair()[1])

    # the tenant's data: still tokens in the database, and no process can open them any more
    raw = owner_dump(runtime, gone)
    assert "tsg1." in raw and NAME not in raw
    ring = keys.current_keyring()
    fresh = keys.build_keyring(runtime.settings, runtime.engine)  # a process that never cached the key
    for keyring in (ring, fresh):
        sealed.install(keyring)
        try:
            with transaction(runtime.sessions, gone.id) as session, pytest.raises(keys.KeyDestroyed):
                session.execute(select(Person)).scalars().all()
            with transaction(runtime.sessions, gone.id) as session, pytest.raises(keys.KeyDestroyed):
                session.execute(select(ProgressRecord.content)).scalars().all()
        finally:
            sealed.install(ring)
    # and nothing new is sealed for it: no fresh key is ever made
    with pytest.raises(StatementError, match="keys destroyed"):  # KeyDestroyed, raised inside the INSERT
        open_case(runtime, gone, unit_of(runtime, gone))

    # the other tenant: untouched
    with transaction(runtime.sessions, stays.id) as session:
        person = session.get(Person, (stays.id, kept.person_id))
        assert (person.name, person.name_kana) == ("残る 太郎", "ノコル タロウ")
        assert session.execute(select(ProgressRecord.content)).scalars().all() == [NOTE]


def test_the_municipality_key_must_be_a_strong_rsa_public_key():
    weak_public, _ = _keypair(2048)
    with pytest.raises(ArchiveKeyError, match="at least 3072"):
        seal_archive(b"zip", weak_public)
    with pytest.raises(ArchiveKeyError, match="PEM"):
        seal_archive(b"zip", b"-----BEGIN NONSENSE-----")
    public_pem, private_pem = _keypair()
    assert open_archive(seal_archive(b"zip-bytes", public_pem), private_pem) == b"zip-bytes"
    tampered = bytearray(seal_archive(b"zip-bytes", public_pem))
    tampered[-1] ^= 1
    with pytest.raises(ArchiveKeyError):
        open_archive(bytes(tampered), private_pem)
