from __future__ import annotations

from tests.engine_api.conftest import admin, api, tenant  # noqa: F401 - the same tenant, admin and API driver
