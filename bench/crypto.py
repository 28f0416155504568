"""Cost of encryption at rest and the audit trail (issue #16): per completion and per case-page view.

Two modes on the same database, cases alternating between them so that both see the same machine:

* ``sealed`` — as in production: sealed columns and workflow state (per-tenant AES-GCM data key), the blind
  index kept on every person write, one hash-chained audit entry per view;
* ``plain`` — a pass-through sealer (values stored as they are, which readers accept) and ``audit.record``
  switched off.

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
def plain_mode() -> Iterator[None]:
    from tsunagu.audit import services as audit
    from tsunagu.cases import people
    from tsunagu.core import sealed

    keyring = sealed.current_sealer()
    record, record_access, write_index = audit.record, audit.record_access, people._write_index
    sealed.install(PassThroughSealer())
    people._write_index = lambda *a, **k: None  # no blind index before issue #16
    audit.record = lambda *a, **k: None  # type: ignore[assignment,return-value]
    audit.record_access = lambda *a, **k: None  # type: ignore[assignment]
    try:
        yield
    finally:
        sealed.install(keyring)
        audit.record, audit.record_access, people._write_index = record, record_access, write_index


@contextmanager
def sealed_mode() -> Iterator[None]:
    yield


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

    modes = {"plain": plain_mode, "sealed": sealed_mode}
    completions: dict[str, list[float]] = {m: [] for m in modes}
    page_views: dict[str, list[float]] = {m: [] for m in modes}
    for n in range(cases):
        for mode in ("plain", "sealed") if n % 2 == 0 else ("sealed", "plain"):
            with modes[mode]():
                case = run_case(runtime, bench, workflows_dir, 900_000 + 2 * n + (mode == "sealed"))
                completions[mode].extend(seconds for _element, seconds in case.tasks)
                case_id = _last_case(runtime, bench)
                _view(runtime, bench, case_id)  # warm the caches once
                page_views[mode].extend(_view(runtime, bench, case_id) for _ in range(views))
    out: dict[str, Any] = {"cases_per_mode": cases, "views_per_case": views}
    for name, data in (("completion", completions), ("case_view", page_views)):
        plain, sealed_ = summarize_ms(data["plain"]), summarize_ms(data["sealed"])
        out[name] = {
            "plain": plain,
            "sealed": sealed_,
            "ratio_mean": ratio(sealed_["mean"], plain["mean"]),
            "ratio_p50": ratio(sealed_["p50"], plain["p50"]),
        }
    log(
        "crypto: per completion "
        f"{out['completion']['plain']['p50']:.2f} → {out['completion']['sealed']['p50']:.2f} ms (p50, "
        f"×{out['completion']['ratio_p50']:.3f}); per case view "
        f"{out['case_view']['plain']['p50']:.2f} → {out['case_view']['sealed']['p50']:.2f} ms "
        f"(×{out['case_view']['ratio_p50']:.3f})"
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
        f"{c['cases_per_mode']} case(s) per mode, alternating; {c['views_per_case']} views per case. "
        "`plain`: pass-through sealer, no audit entries; `sealed`: production (AES-GCM sealed columns and state, "
        "blind index, hash-chained audit entry per view).",
        "",
        "| | plain p50 ms | sealed p50 ms | plain mean ms | sealed mean ms | cost (p50) | cost (mean) | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("completion", "per completion"), ("case_view", "per case-page view")):
        d = c[key]
        ok = d["ratio_p50"] <= TARGET
        lines.append(
            f"| {label} | {d['plain']['p50']:.2f} | {d['sealed']['p50']:.2f} | {d['plain']['mean']:.2f} | "
            f"{d['sealed']['mean']:.2f} | {100 * (d['ratio_p50'] - 1):+.1f} % | {100 * (d['ratio_mean'] - 1):+.1f} % | "
            f"≤ +15 % {'✅' if ok else '❌'} |"
        )
    return lines
