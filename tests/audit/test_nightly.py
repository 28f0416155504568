"""Beat's nightly verification raises a broken chain to the tenant's administrators, once a day."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import select

from tests.factories import make_tenant, make_user
from tsunagu.audit import nightly
from tsunagu.audit import services as audit
from tsunagu.audit.models import AuditEntry
from tsunagu.core.session import transaction
from tsunagu.jobs.beat import tick
from tsunagu.notifications.models import Notification

#: 02:30 in Japan
NIGHT = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)
#: 10:00 in Japan
MORNING = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_day(monkeypatch, runtime):
    from tsunagu.notifications import delivery

    delivery.configure(runtime.settings)  # what every entry point does at start
    monkeypatch.setattr(nightly, "_checked", {})


def _entries(runtime, tenant, n):
    for i in range(n):
        with transaction(runtime.sessions, tenant.id) as session:
            audit.record(session, None, "test.action", details={"i": i})


def _tamper(pg_database, statement):
    with psycopg.connect(
        pg_database.owner_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as c:
        c.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only")
        c.execute(statement)
        c.execute("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only")


def _notifications(runtime, tenant):
    with transaction(runtime.sessions, tenant.id) as session:
        return list(
            session.execute(select(Notification).where(Notification.kind == "audit.chain_broken")).scalars()
        )


def test_a_broken_chain_notifies_the_tenant_admins_once_and_is_recorded(runtime, pg_database):
    broken = make_tenant(runtime, "audit-broken")
    clean = make_tenant(runtime, "audit-clean")
    admin = make_user(runtime, broken, "admin@broken.example.jp", ["tenant_admin"], tenant_wide=True)
    make_user(runtime, clean, "admin@clean.example.jp", ["tenant_admin"], tenant_wide=True)
    _entries(runtime, broken, 3)
    _entries(runtime, clean, 3)
    _tamper(pg_database, f"UPDATE audit_entry SET action = 'x' WHERE seq = 2 AND tenant_id = '{broken.id}'")

    result = tick(runtime, NIGHT)
    assert result.audit_broken == ["audit-broken"] and result.audit_verified >= 2

    sent = _notifications(runtime, broken)
    assert [n.recipient_id for n in sent] == [admin.user.id]
    assert sent[0].link == "audit/"
    assert _notifications(runtime, clean) == []
    with transaction(runtime.sessions, broken.id) as session:
        last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert last.action == "audit.verify_failed" and last.details["seq"] == 2

    tick(runtime, NIGHT)  # the same night: not checked again
    nightly._checked.clear()
    nightly.run_nightly(runtime, NIGHT)  # checked again by another beat: still one notification that day
    assert len(_notifications(runtime, broken)) == 1


def test_the_check_waits_for_the_night_hour(runtime):
    make_tenant(runtime, "audit-early")
    early = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 01:00 in Japan
    assert nightly.run_nightly(runtime, early).verified == 0
    assert nightly.run_nightly(runtime, MORNING).verified >= 1
