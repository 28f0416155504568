"""Imports every model module so that ``Base.metadata`` is complete (Alembic, tests, ``tenant_tables``)."""

from .admin import models as admin_models
from .audit import models as audit_models
from .cases import models as cases_models
from .core import outbox as outbox_models
from .engine import models as engine_models
from .identity import models as identity_models
from .inbox import models as inbox_models
from .meetings import models as meetings_models
from .notifications import models as notifications_models
from .referrals import models as referrals_models
from .reports import models as reports_models
from .sharing import models as sharing_models
from .tenancy import models as tenancy_models

__all__ = [
    "admin_models",
    "audit_models",
    "cases_models",
    "engine_models",
    "identity_models",
    "inbox_models",
    "meetings_models",
    "notifications_models",
    "outbox_models",
    "referrals_models",
    "reports_models",
    "sharing_models",
    "tenancy_models",
]
