"""Who reads and closes the figures. Aggregates carry no personal data: every staff role of the tenant reads
them (the dashboard's open-work tables name consultants, not persons); only tenant administrators close a
month."""

from __future__ import annotations

from sqlalchemy import select

from ..core.errors import NotFound, ValidationFailed
from ..core.session import TenantSession
from ..tenancy.models import Tenant

READERS = ("tenant_admin", "municipal_staff", "consultant", "meeting_secretariat", "auditor")
CLOSERS = ("tenant_admin",)


def tenant_of(session: TenantSession) -> Tenant:
    tenant = session.execute(
        select(Tenant).where(Tenant.id == session.require_tenant_id())
    ).scalar_one_or_none()
    if tenant is None:
        raise NotFound("テナントがありません / no such tenant")
    return tenant


def file_name(tenant: Tenant, first: str, last: str, suffix: str) -> str:
    span = first if first == last else f"{first}_{last}"
    return f"{tenant.slug}-monthly-{span}.{suffix}"


def months_between(first: str, last: str, limit: int = 36) -> list[str]:
    if last < first:
        raise ValidationFailed(
            "to は from 以降の月にしてください / to must not be before from",
            details={"to": ["from 以降の月を指定してください"]},
        )
    out: list[str] = []
    year, mon = int(first[:4]), int(first[5:7])
    while f"{year:04d}-{mon:02d}" <= last:
        out.append(f"{year:04d}-{mon:02d}")
        if len(out) > limit:
            raise ValidationFailed(
                f"一度に出力できるのは{limit}か月までです / at most {limit} months at once",
                details={"to": [f"{limit}か月以内にしてください"]},
            )
        mon += 1
        if mon == 13:
            year, mon = year + 1, 1
    return out
