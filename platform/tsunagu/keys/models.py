"""``tenant_key``: a tenant's data and blind-index keys, each wrapped by the master key (never stored in clear)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, utcnow


class TenantKey(TenantScoped, Base):
    """One version of one of a tenant's keys.

    ``purpose``: ``data`` (AES-256-GCM, seals columns; the highest active version seals, every kept version
    opens) or ``index`` (HMAC-SHA-256 key of the blind index; one version). ``state``: ``active`` or
    ``destroyed`` (crypto-shredded at offboarding: ``wrapped`` is gone, the row stays as a tombstone so no new
    key is ever made for the tenant).
    """

    __tablename__ = "tenant_key"

    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), default="active")
    #: which master key wrapped it: ``env:<fingerprint>`` or ``pkcs11:<label>``
    kek_id: Mapped[str] = mapped_column(String(100), default="")
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
