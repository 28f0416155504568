"""A per-process cache of deserialized workflows, so a command need not deserialize what this process saved.

Deserializing is most of the engine's floor cost (see the benchmark). The key is
``(tenant_id, instance_id, version)``: ``ProcessInstance.version`` is the optimistic lock, so a cached copy is
current exactly when its version is the row's version, whoever wrote in between.

A command *takes* the workflow out of the cache (so no other thread of this process can see it half-changed)
and the workflow is put back only after its transaction commits, under the new version. A command that fails
leaves nothing behind, and the next one deserializes the row again.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

Key = tuple[uuid.UUID, uuid.UUID, int]
_PENDING = "tsunagu_workflow_cache_pending"


class WorkflowCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Key, Any] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: Key) -> Any | None:
        with self._lock:
            return self._items.pop(key, None)

    def put(self, key: Key, workflow: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = workflow
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


CACHE = WorkflowCache(32)


def configure(size: int) -> None:
    CACHE.size = size
    if size <= 0:
        CACHE.clear()


def keep_after_commit(session: Session, instance: Any, workflow: Any) -> None:
    """Put ``workflow`` in the cache under ``instance``'s version once ``session`` commits."""
    session.info.setdefault(_PENDING, []).append((instance, workflow))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for instance, workflow in session.info.pop(_PENDING, ()):
        CACHE.put((instance.tenant_id, instance.id, instance.version), workflow)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
