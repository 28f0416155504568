"""Imports every model module so that ``Base.metadata`` is complete (Alembic, tests, ``tenant_tables``)."""

from .identity import models as identity_models
from .tenancy import models as tenancy_models

__all__ = ["identity_models", "tenancy_models"]
