"""Platform-wide aggregates for the operators: how many tenants, new cases per month — no personal data, and
no per-tenant figures unless the tenant shares them (``[reports] share_with_operators = true`` in its preset).

Cross-tenant reading takes the narrow path of DESIGN 2.3: the tenant directory (public columns), then one
transaction bound to each tenant in turn, reading only grouped counts of its ``report_fact`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from ..core.runtime import Runtime
from ..core.session import transaction
from ..tenancy.models import Tenant
from ..tenancy.services import list_active_tenants
from .dashboard import months_back
from .models import ReportFact


@dataclass
class PlatformAggregates:
    months: list[str]
    tenants: int = 0
    tenants_sharing: int = 0
    cases_per_month: dict[str, int] = field(default_factory=dict)
    #: only tenants that share their figures: name → cases per month
    shared: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "months": self.months,
            "tenants": self.tenants,
            "tenants_sharing": self.tenants_sharing,
            "cases_per_month": self.cases_per_month,
            "shared": self.shared,
        }


def platform_aggregates(runtime: Runtime, month: str, span: int = 12) -> PlatformAggregates:
    months = months_back(month, span)
    result = PlatformAggregates(months, cases_per_month=dict.fromkeys(months, 0))
    for listing in list_active_tenants(runtime):
        result.tenants += 1
        with transaction(runtime.sessions, listing.id) as session:
            tenant = session.get(Tenant, listing.id)
            shares = bool(
                ((tenant.settings if tenant else {}) or {}).get("reports", {}).get("share_with_operators")
            )
            counts = dict(
                session.execute(
                    select(ReportFact.month, func.count())
                    .where(ReportFact.kind == "consultation_received", ReportFact.month.in_(months))
                    .group_by(ReportFact.month)
                ).all()
            )
        for m in months:
            result.cases_per_month[m] += int(counts.get(m, 0))
        if shares:
            result.tenants_sharing += 1
            result.shared[listing.name] = {m: int(counts.get(m, 0)) for m in months}
    return result
