"""Cost of encryption at rest and the audit trail (issue #16): per completion and per case-page view.

Three modes on the same database, cases rotating between them so that all see the same machine:

* ``plain`` — before issue #16: a pass-through sealer (values stored as they are, which readers accept), no
  blind index, ``audit.record`` switched off;
* ``sealed`` — encryption only: sealed columns and workflow state (per-tenant AES-GCM data key), the blind
  index kept on every person write, no audit entries;
* ``sealed_audited`` — production: encryption and one hash-chained audit entry per view.

A *completion* is one ``complete_task`` transaction of the bench case (intake to closure, as the service
level). A *case-page view* is what ``cases.pages.show`` does in the database: the audited access
(``record_access``) and ``workspace.load_workspace`` (the instance state opened, history, progress records);
template rendering is left out, being the same in both modes (the ratio is thus an upper bound).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import log, ratio, summarize_ms

TARGET = 1.15


class PassThroughSealer:
    """Stores values in clear (what a database before issue #16 held): the ``plain`` mode's sealer."""

    def seal(self, tenant_id: uuid.UUID, label: str, plaintext: bytes) -> str:
        return plaintext.decode("utf-8")

    def open(self, token: str, label: str) -> bytes:  # pragma: no cover - plain values are never tokens
        raise AssertionError("a sealed value in plain mode")


@contextmanager
def _mode(*, seal: bool, audited: bool) -> Iterator[None]:
    from tsunagu.audit import services as audit
    from tsunagu.cases import people
    from tsunagu.core import sealed

    keyring = sealed.current_sealer()
    record, record_access, write_index = audit.record, audit.record_access, people._write_index
    if not seal:
        sealed.install(PassThroughSealer())
        people._write_index = lambda *a, **k: None  # no blind index before issue #16
    if not audited:
        audit.record = lambda *a, **k: None  # type: ignore[assignment,return-value]
        audit.record_access = lambda *a, **k: None  # type: ignore[assignment]
    try:
        yield
    finally:
        sealed.install(keyring)
        audit.record, audit.record_access, people._write_index = record, record_access, write_index


#: plain: neither (before issue #16); sealed: encryption only; sealed_audited: production
MODES = {
    "plain": lambda: _mode(seal=False, audited=False),
    "sealed": lambda: _mode(seal=True, audited=False),
    "sealed_audited": lambda: _mode(seal=True, audited=True),
}


def _view(runtime: Any, bench: Any, case_id: uuid.UUID) -> float:
    from tsunagu.audit import services as audit
    from tsunagu.cases import services as cases
    from tsunagu.cases import workspace
    from tsunagu.core.session import transaction
    from tsunagu.identity.models import Role
    from tsunagu.identity.principal import Principal

    actor = Principal(
        user_id=bench.user_id,
        tenant_id=bench.tenant_id,
        roles=frozenset({Role.TENANT_ADMIN}),
        org_unit_ids=frozenset(),
    )
    t0 = time.perf_counter()
    with transaction(runtime.sessions, bench.tenant_id) as session:
        case = cases.get_case(session, case_id)
        audit.record_access(session, actor, "case.view", case)
        ws = workspace.load_workspace(session, case_id)
        assert ws.case.id == case_id
    return time.perf_counter() - t0


def run_crypto(runtime: Any, bench: Any, workflows_dir: Path, cases: int, views: int = 20) -> dict[str, Any]:
    from .service import run_case

    completions: dict[str, list[float]] = {m: [] for m in MODES}
    page_views: dict[str, list[float]] = {m: [] for m in MODES}
    order = list(MODES)
    for n in range(cases):
        made: dict[str, uuid.UUID] = {}
        for i, mode in enumerate(order[n % 3 :] + order[: n % 3]):  # rotate the order: same machine for all
            with MODES[mode]():
                case = run_case(runtime, bench, workflows_dir, 900_000 + 3 * n + i)
                completions[mode].extend(seconds for _element, seconds in case.tasks)
                made[mode] = _last_case(runtime, bench)
                _view(runtime, bench, made[mode])  # warm the caches once
        # views interleaved one by one across the modes: a load change on the machine hits all three alike
        for v in range(views):
            for mode in order[v % 3 :] + order[: v % 3]:
                with MODES[mode]():
                    page_views[mode].append(_view(runtime, bench, made[mode]))
    out: dict[str, Any] = {"cases_per_mode": cases, "views_per_case": views}
    for name, data in (("completion", completions), ("case_view", page_views)):
        stats = {m: summarize_ms(data[m]) for m in MODES}
        plain = stats["plain"]
        out[name] = {
            **stats,
            # encryption + audit over neither (the target); and encryption alone
            "ratio_mean": ratio(stats["sealed_audited"]["mean"], plain["mean"]),
            "ratio_p50": ratio(stats["sealed_audited"]["p50"], plain["p50"]),
            "sealing_ratio_p50": ratio(stats["sealed"]["p50"], plain["p50"]),
        }
        log(
            f"crypto: {name} p50 plain {plain['p50']:.2f} ms, sealed {stats['sealed']['p50']:.2f} ms "
            f"(×{out[name]['sealing_ratio_p50']:.3f}), sealed + audited {stats['sealed_audited']['p50']:.2f} ms "
            f"(×{out[name]['ratio_p50']:.3f})"
        )
    return out


def _last_case(runtime: Any, bench: Any) -> uuid.UUID:
    from sqlalchemy import select

    from tsunagu.cases.models import Case
    from tsunagu.core.session import transaction

    with transaction(runtime.sessions, bench.tenant_id) as session:
        return session.execute(select(Case.id).order_by(Case.created_at.desc()).limit(1)).scalar_one()


def section(results: dict[str, Any]) -> list[str]:
    """The report's markdown for this level."""
    c = results.get("crypto")
    if not c:
        return []
    lines = [
        "",
        "## Encryption at rest and audit (issue #16)",
        "",
        f"{c['cases_per_mode']} case(s) per mode, rotating; {c['views_per_case']} views per case. "
        "`plain`: pass-through sealer, no blind index, no audit entries; `sealed`: AES-GCM sealed columns and "
        "state plus the blind index; `sealed + audited`: production (and a hash-chained audit entry per view).",
        "",
        "| | plain p50 ms | sealed p50 ms | sealed + audited p50 ms | encryption (p50) | "
        "encryption + audit (p50 / mean) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("completion", "per completion"), ("case_view", "per case-page view")):
        d = c[key]
        ok = d["ratio_p50"] <= TARGET
        lines.append(
            f"| {label} | {d['plain']['p50']:.2f} | {d['sealed']['p50']:.2f} | {d['sealed_audited']['p50']:.2f} | "
            f"{100 * (d['sealing_ratio_p50'] - 1):+.1f} % | {100 * (d['ratio_p50'] - 1):+.1f} % / "
            f"{100 * (d['ratio_mean'] - 1):+.1f} % | ≤ +15 % {'✅' if ok else '❌'} |"
        )
    return lines
