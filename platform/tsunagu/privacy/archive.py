"""Archives encrypted to a key the municipality supplies (offboarding, issue #16).

The municipality hands over an **RSA public key** (PEM, at least 3072 bits): the format every municipal PKI and
``openssl`` produce, and the one their IT can open without our software. An archive is a ZIP (JSON + CSV files)
sealed with a fresh AES-256-GCM key, and that key is encrypted to the municipality's public key with RSA-OAEP
(SHA-256). File layout::

    b"TSUNAGU-ARCHIVE-1\\n" | u16 length of the wrapped key | wrapped key | 12-byte nonce | AES-GCM(zip)

The header is bound into the GCM additional data. :func:`open_archive` reverses it with the private key
(``tsunagu tenants open-archive``); with only the public key on our side, we cannot read an archive we wrote.
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"TSUNAGU-ARCHIVE-1\n"
MIN_RSA_BITS = 3072


class ArchiveKeyError(ValueError):
    """The municipality's key is not a usable RSA public key (or the private key does not open the archive)."""


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def load_recipient(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ArchiveKeyError("the municipality's key must be an RSA public key in PEM form") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ArchiveKeyError("the municipality's key must be an RSA public key (PEM)")
    if key.key_size < MIN_RSA_BITS:
        raise ArchiveKeyError(f"the municipality's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS}")
    return key


def seal_archive(zip_bytes: bytes, recipient_pem: bytes) -> bytes:
    public = load_recipient(recipient_pem)
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = public.encrypt(data_key, _oaep())
    header = MAGIC + struct.pack(">H", len(wrapped)) + wrapped
    nonce = os.urandom(12)
    return header + nonce + AESGCM(data_key).encrypt(nonce, zip_bytes, header)


def open_archive(blob: bytes, private_pem: bytes, password: bytes | None = None) -> bytes:
    """The ZIP inside an archive, with the municipality's private key."""
    if not blob.startswith(MAGIC):
        raise ArchiveKeyError("not a Tsunagu archive")
    (length,) = struct.unpack(">H", blob[len(MAGIC) : len(MAGIC) + 2])
    end = len(MAGIC) + 2 + length
    header, wrapped = blob[:end], blob[len(MAGIC) + 2 : end]
    private = serialization.load_pem_private_key(private_pem, password=password)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ArchiveKeyError("the private key must be RSA")
    try:
        data_key = private.decrypt(wrapped, _oaep())
        return AESGCM(data_key).decrypt(blob[end : end + 12], blob[end + 12 :], header)
    except Exception as exc:
        raise ArchiveKeyError("this private key does not open the archive") from exc


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def csv_bytes(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens Japanese CSV as UTF-8


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return None  # never exported (no binary column is personal data here)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def build_zip(tables: Mapping[str, list[dict[str, Any]]], manifest: Mapping[str, Any]) -> bytes:
    """``<name>.json`` and ``<name>.csv`` per table, and ``manifest.json``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(json_safe(dict(manifest)), ensure_ascii=False, indent=2))
        for name, rows in tables.items():
            safe = [json_safe(r) for r in rows]
            archive.writestr(f"{name}.json", json.dumps(safe, ensure_ascii=False, indent=1))
            columns = list(rows[0].keys()) if rows else []
            archive.writestr(f"{name}.csv", csv_bytes(safe, columns))
    return buffer.getvalue()
