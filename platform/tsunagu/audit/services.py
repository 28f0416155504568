"""Record, verify and search the audit trail.

``record`` writes in the caller's session, so the entry commits or rolls back with what it records. Every
writer of a tenant first locks the tenant's :class:`~.models.AuditChainHead` row (``SELECT ... FOR UPDATE``):
writers of one tenant queue there and the chain never forks; other tenants are not held up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite

from ..core.db import utcnow
from ..core.session import AUDIT_KEY_INFO, TenantSession
from .chain import GENESIS, entry_hash, json_safe
from .models import AuditChainHead, AuditEntry

__all__ = [
    "Actor",
    "AuditKeyMissing",
    "Target",
    "TenantSession",
    "holds_chain",
    "record",
    "record_access",
    "search",
    "verify",
]


class AuditKeyMissing(RuntimeError):
    """The session carries no audit key (it was not made by the runtime's session factory)."""


@dataclass(frozen=True)
class Actor:
    """Who acted, when there is no principal object (a sign-in, a security event)."""

    user_id: uuid.UUID | None
    email: str


@dataclass(frozen=True)
class Target:
    """What an entry is about: a kind and an id, and the person's case when there is one."""

    type: str
    id: str = ""
    case_id: uuid.UUID | None = None

    @classmethod
    def case(cls, case_id: uuid.UUID) -> Target:
        return cls("case", str(case_id), case_id)


#: Actions recorded (the vocabulary of the auditor's filter). Free strings are allowed; these are the known ones.
ACTIONS = (
    "auth.sign_in",
    "auth.sign_in_failed",
    "auth.sign_out",
    "permission.denied",
    "case.view",
    "case.api_read",
    "case.export",
    "admin.change",
    "definition.deploy",
    "instance.operation",
    "audit.search",
    "audit.export",
)


def _actor(actor: Any) -> tuple[uuid.UUID | None, str]:
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, actor[:320]
    user_id = getattr(actor, "user_id", None)
    label = (
        getattr(actor, "email", "") or getattr(actor, "display_name", "") or (str(user_id) if user_id else "")
    )
    return user_id, str(label)[:320]


#: ``session.info`` flag: this session's transaction has appended to the chain (and so holds the head's lock).
_HOLDS_CHAIN = "audit_holds_chain"


def holds_chain(session: TenantSession) -> bool:
    """Whether ``session``'s transaction has recorded an entry (and holds its tenant's chain head until it
    ends). A unit of work beside it (``independent_transaction``) must then not record: it would wait on that
    lock — record in ``session`` instead."""
    return bool(session.info.get(_HOLDS_CHAIN))


@event.listens_for(TenantSession, "after_commit")
@event.listens_for(TenantSession, "after_rollback")
def _transaction_ended(session: TenantSession) -> None:
    session.info.pop(_HOLDS_CHAIN, None)


def _key(session: TenantSession) -> bytes:
    key = session.info.get(AUDIT_KEY_INFO)
    if not key:
        raise AuditKeyMissing("no audit key on this session: open it from the runtime's session factory")
    return bytes(key)


def _lock_head(session: TenantSession, tenant_id: uuid.UUID) -> AuditChainHead:
    query = (
        select(AuditChainHead)
        .where(AuditChainHead.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = session.execute(query).scalar_one_or_none()
    if head is None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(AuditChainHead)
            .values(tenant_id=tenant_id, seq=0, head_hash=GENESIS, updated_at=utcnow())
            .on_conflict_do_nothing()
        )
        head = session.execute(query).scalar_one()
    return head


def record(
    session: TenantSession,
    actor: Any,
    action: str,
    target: Target | None = None,
    legal_basis: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the bound tenant's chain, in ``session``'s transaction.

    ``actor``: a principal (``user_id``, ``email``), a label such as ``"operator:a@b"``, or ``None`` (system).
    """
    tenant_id = session.require_tenant_id()
    key = _key(session)
    head = _lock_head(session, tenant_id)
    actor_id, actor_label = _actor(actor)
    entry = AuditEntry(
        tenant_id=tenant_id,
        seq=head.seq + 1,
        id=uuid.uuid4(),
        at=utcnow(),
        actor_id=actor_id,
        actor_label=actor_label,
        action=action[:64],
        target_type=(target.type if target else "")[:32],
        target_id=(target.id if target else "")[:64],
        case_id=target.case_id if target else None,
        legal_basis=legal_basis[:200] if legal_basis else None,
        details=json_safe(details),
        prev_hash=head.head_hash,
    )
    entry.hash = entry_hash(key, entry.prev_hash, entry)
    session.add(entry)
    head.seq = entry.seq
    head.head_hash = entry.hash
    head.updated_at = entry.at
    session.flush()
    session.info[_HOLDS_CHAIN] = True
    return entry


def record_instance_operation(session: TenantSession, actor: Any, operation: Any) -> AuditEntry:
    """Chain an instance operation (an ``admin_operation`` row, already flushed) into the trail."""
    return record(
        session,
        actor,
        "instance.operation",
        Target("process_instance", str(operation.process_instance_id or ""), operation.case_id),
        details={
            "admin_operation_id": str(operation.id),
            "operation": operation.action,
            "outcome": operation.outcome,
            "reason": operation.reason,
        },
    )


def record_access(
    session: TenantSession,
    principal: Any,
    action: str,
    case: Any,
    permission: str = "case.read",
    details: dict[str, Any] | None = None,
) -> None:
    """One entry for a read of a person's case (``case.view``, ``case.api_read``, ``case.export``,
    ``case.print``), with the legal basis: why the permission module allowed ``permission`` on it."""
    from ..identity.permissions import access_basis

    record(
        session,
        principal,
        action,
        Target.case(case.id),
        legal_basis=access_basis(principal, permission, case),
        details=details,
    )


@dataclass(frozen=True)
class Problem:
    """The first bad place in a chain: the entry's number (and id when the row exists) and what is wrong."""

    seq: int
    entry_id: uuid.UUID | None
    kind: str  # edited | missing | out_of_chain | beyond_head | head_mismatch
    message: str


@dataclass(frozen=True)
class Verification:
    checked: int
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _entries(session: TenantSession, tenant_id: uuid.UUID) -> Iterator[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=1000)
    )
    yield from session.execute(query).scalars()


def verify(session: TenantSession, tenant_id: uuid.UUID, key: bytes | None = None) -> Verification:
    """Walk the tenant's chain from the first entry; the first edited, missing, inserted or moved one is named.

    Run as the owner role (``tsunagu audit verify``): read-only, it trusts nothing in the rows but the key.
    """
    key = key or _key(session)
    expected, prev, checked = 1, GENESIS, 0
    for entry in _entries(session, tenant_id):
        if entry.seq != expected:
            return Verification(
                checked,
                Problem(
                    expected, None, "missing", f"entry #{expected} is missing (deleted); next is #{entry.seq}"
                ),
            )
        if entry.prev_hash != prev:
            return Verification(
                checked,
                Problem(
                    entry.seq,
                    entry.id,
                    "out_of_chain",
                    f"entry #{entry.seq} ({entry.id}) does not follow entry #{entry.seq - 1}: "
                    "inserted, reordered, or its predecessor was replaced",
                ),
            )
        if entry_hash(key, entry.prev_hash, entry) != entry.hash:
            return Verification(
                checked,
                Problem(
                    entry.seq,
                    entry.id,
                    "edited",
                    f"entry #{entry.seq} ({entry.id}) does not match its hash: edited or forged",
                ),
            )
        prev, expected, checked = entry.hash, expected + 1, checked + 1
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id)
    ).scalar_one_or_none()
    last = expected - 1
    head_seq, head_hash = (head.seq, head.head_hash) if head else (0, GENESIS)
    if head_seq > last:
        return Verification(
            checked,
            Problem(
                last + 1, None, "missing", f"entries #{last + 1}–#{head_seq} are missing (deleted at the end)"
            ),
        )
    if head_seq < last:
        return Verification(
            checked,
            Problem(
                head_seq + 1,
                None,
                "beyond_head",
                f"entry #{head_seq + 1} lies beyond the chain head: inserted",
            ),
        )
    if head_hash != prev:
        return Verification(
            checked, Problem(last, None, "head_mismatch", f"the chain head does not match entry #{last}")
        )
    return Verification(checked)


@dataclass(frozen=True)
class SearchFilter:
    case_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200

    def as_details(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "case_id": self.case_id,
                "actor_id": self.actor_id,
                "actor": self.actor,
                "action": self.action,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            }.items()
            if v
        }


@dataclass
class SearchResult:
    entries: list[AuditEntry] = field(default_factory=list)
    truncated: bool = False


def search(session: TenantSession, flt: SearchFilter, *, auditor: Any, export: bool = False) -> SearchResult:
    """The bound tenant's entries matching ``flt``, newest first — the search itself is audited first."""
    record(session, auditor, "audit.export" if export else "audit.search", details=flt.as_details())
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if flt.case_id:
        query = query.where(AuditEntry.case_id == flt.case_id)
    if flt.actor_id:
        query = query.where(AuditEntry.actor_id == flt.actor_id)
    if flt.actor:
        query = query.where(AuditEntry.actor_label.ilike(f"%{flt.actor}%"))
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.since:
        query = query.where(AuditEntry.at >= flt.since)
    if flt.until:
        query = query.where(AuditEntry.at < flt.until)
    rows = list(session.execute(query.limit(flt.limit + 1)).scalars())
    return SearchResult(rows[: flt.limit], len(rows) > flt.limit)


def verify_as_owner(runtime: Any, tenant_id: uuid.UUID) -> Verification:
    """:func:`verify` on a connection of the owner role (``TSUNAGU_MIGRATION_DATABASE_URL``), in a read-only
    system session bound to the tenant (row-level security is forced for the owner too unless it bypasses)."""
    from ..core.db import make_engine
    from ..core.session import make_sessionmaker, set_transaction_tenant, transaction

    settings = runtime.settings
    engine = make_engine(settings.migration_database_url)
    try:
        with transaction(make_sessionmaker(engine), None, system=True) as session:
            set_transaction_tenant(session, tenant_id)
            result = verify(session, tenant_id, settings.audit_hmac_key)
            session.rollback()
        return result
    finally:
        engine.dispose()


def details_text(entry: AuditEntry) -> str:
    """An entry's details as compact JSON (for the page and the CSV)."""
    import json

    return json.dumps(entry.details, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
