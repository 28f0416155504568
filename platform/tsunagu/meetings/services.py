"""What other modules (and this module's views, tasks and API) call: series, calendar, agendas, decisions.

Every function takes the tenant-bound session and flushes; the caller's transaction commits (one commit per
request or task).
"""

from __future__ import annotations

from .series import calendar, generate_ahead, rule_of, sync_series

__all__ = ["calendar", "generate_ahead", "rule_of", "sync_series"]
