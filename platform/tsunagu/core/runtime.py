"""The process-wide runtime: settings, database engine and session factory, built once per process.

Core knows no feature: the entry points (``app``, ``cli``, ``jobs``) import ``tsunagu.models`` so that every
mapper and table is known before the first unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ..config import Settings
from . import sealed
from .db import DatabaseTimeouts, make_engine
from .session import AUDIT_KEY_INFO, TenantSession, make_sessionmaker


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[TenantSession]

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int | None = None) -> Runtime:
        engine = make_engine(
            settings.database_url, pool_size=pool_size, timeouts=DatabaseTimeouts.from_settings(settings)
        )
        sessions = make_sessionmaker(engine, info={AUDIT_KEY_INFO: settings.audit_hmac_key})
        sealed.configure(settings, engine)  # the sealer the model registry registered (tsunagu.keys)
        return cls(settings=settings, engine=engine, sessions=sessions)

    def dispose(self) -> None:
        self.engine.dispose()
