"""How BPMN lanes name roles — given to the engine by the layer that knows roles (``identity``).

The engine validates that every lane of an uploaded definition names a role, but roles are not an engine
concept: the caller passes a :class:`LaneRoles` (``cases.services.LANE_ROLES`` wires ``identity``'s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LaneRoles:
    #: the role a lane names (``"相談支援員"`` → ``"consultant"``), ``None`` when it names none
    resolve: Callable[[str | None], str | None]
    #: every valid role key, for the message of a lane that names none
    roles: frozenset[str]
