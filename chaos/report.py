"""The printed table and the files in ``chaos/results/`` (``latest.md``, ``latest.json``)."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .checks import Totals
from .faults import RECOVERY_PARTS, FaultResult

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class RunInfo:
    started: datetime
    seconds: float
    commit: str
    machine: str
    postgres: str
    redis: str
    recovery_bound: float
    calm_errors: int
    calm_samples: list[str] = field(default_factory=list)
    crashes: dict[str, int] = field(default_factory=dict)
    completions_per_s: float = 0.0
    harness_failures: list[str] = field(default_factory=list)
    #: lines of interest in the processes' logs (gunicorn worker timeouts, worker and beat errors)
    log_counts: dict[str, int] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    #: the machine's load average (1, 5, 15 min) when the run began and when it ended
    load_before: str = ""
    load_after: str = ""
    cpu: str = ""


def _seconds(value: float | None, cap: float) -> str:
    return f"> {cap:.0f}" if value is None else f"{value:.1f}"


def fault_table(faults: list[FaultResult], bound: float, cap: float) -> str:
    lines = [
        "| fault | down s | recovered after s | ready / api / outbox / timers s | errors during fault (api, ping) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for f in faults:
        parts = " / ".join(_seconds(f.parts.get(p), cap) for p in RECOVERY_PARTS)
        backlog = (
            f" — backlog {f.backlog_sent}, {f.backlog_unprocessed_at_fault} unprocessed at the fault"
            if f.backlog_sent
            else ""
        )
        verdict = "ok" if f.passed(bound) else "**FAIL**"
        lines.append(
            f"| {f.title}{backlog} | {f.down_seconds:.1f} | {_seconds(f.recovered_after, cap)} | {parts} "
            f"| {f.api_errors}, {f.ping_errors} | {verdict} |"
        )
    return "\n".join(lines)


def probe_table(faults: list[FaultResult]) -> str:
    rows = [(f, p) for f in faults for p in f.probes]
    if not rows:
        return ""
    lines = ["| during | probe | answer | seconds | required | verdict |", "|---|---|---|---|---|---|"]
    for f, p in rows:
        answer = (str(p.status) if p.status is not None else p.error or "none") + (
            " JSON error" if p.json_error else ""
        )
        lines.append(
            f"| {f.title} | {p.name} | {answer} | {p.seconds:.1f} | {p.requirement} | {'ok' if p.passed else '**FAIL**'} |"
        )
    return "\n".join(lines)


def totals_table(t: Totals, info: RunInfo) -> str:
    lines = ["| assertion | result | verdict |", "|---|---|---|"]
    for check in t.checks:
        lines.append(f"| {check.name} | {check.detail} | {'ok' if check.passed else '**FAIL**'} |")
    lines.append(
        f"| no errors outside the faults | {info.calm_errors} error(s) while no fault was active"
        f" | {'ok' if info.calm_errors == 0 else '**FAIL**'} |"
    )
    if info.harness_failures:
        lines.append(f"| harness clients ran to the end | {'; '.join(info.harness_failures)} | **FAIL** |")
    return "\n".join(lines)


def headline(t: Totals, faults: list[FaultResult], bound: float) -> str:
    recovered = [f for f in faults if f.passed(bound)]
    worst = max((f.recovered_after or float("inf") for f in faults), default=0.0)
    worst_text = "not recovered" if worst == float("inf") else f"{worst:.1f} s"
    return (
        f"acknowledged completions {t.completions_acknowledged}, recorded {t.completions_recorded}, "
        f"duplicates {t.completion_duplicates}; outbox pings {t.pings_acknowledged}, "
        f"receipts {t.pings_with_receipt}, doubled {t.receipt_duplicates}, left unprocessed "
        f"{t.outbox_unprocessed}; timers due {t.timers_due}, fired {t.timers_fired}, lost {t.timers_lost}; "
        f"{len(recovered)} of {len(faults)} faults recovered within {bound:.0f} s (slowest {worst_text})"
    )


def render(t: Totals, faults: list[FaultResult], info: RunInfo, cap: float) -> str:
    passed = (
        t.passed
        and info.calm_errors == 0
        and not info.harness_failures
        and all(f.passed(info.recovery_bound) for f in faults)
    )
    crash_text = ", ".join(f"{k} {v}" for k, v in info.crashes.items() if v) or "none"
    out = [
        f"# make chaos — {'PASSED' if passed else 'FAILED'}",
        "",
        f"{info.started:%Y-%m-%d %H:%M} UTC, commit `{info.commit}`, {info.machine}, PostgreSQL {info.postgres}, "
        f"Redis {info.redis}; {info.seconds / 60:.1f} min ({info.seconds:.0f} s) in all; "
        f"{info.completions_per_s:.1f} completions/s on average; machine load average {info.load_before} at "
        f"the start, {info.load_after} at the end (1/5/15 min); from the load's start to the checks "
        f"{info.cpu or 'CPU not sampled'}; processes that exited by themselves and were restarted: {crash_text}.",
        "",
        headline(t, faults, info.recovery_bound),
        "",
        fault_table(faults, info.recovery_bound, cap),
        "",
    ]
    probes = probe_table(faults)
    if probes:
        out += [probes, ""]
    out += [totals_table(t, info), ""]
    notes = []
    for f in faults:
        if f.left:
            notes.append(
                f"- {f.title}: still missing after {cap:.0f} s — "
                + "; ".join(f"{k}: {v}" for k, v in f.left.items())
            )
        for sample in f.error_samples[:2]:
            notes.append(f"- {f.title}: e.g. `{sample}`")
        for note in f.notes:
            notes.append(f"- {f.title}: {note}")
    for sample in info.calm_samples[:3]:
        notes.append(f"- outside the faults: `{sample}`")
    if info.log_counts:
        notes.append("- in the logs: " + ", ".join(f"{k}: {v}" for k, v in info.log_counts.items()))
    for line in info.exceptions:
        notes.append(f"- traceback in {line}")
    if notes:
        out += ["Notes:", "", *notes, ""]
    return "\n".join(out)


def write(text: str, data: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (directory / "latest.md").write_text(text + "\n", encoding="utf-8")
    payload = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    (directory / "latest.json").write_text(payload + "\n", encoding="utf-8")
    (directory / f"{stamp}.md").write_text(text + "\n", encoding="utf-8")
    return directory / "latest.md"


def as_data(t: Totals, faults: list[FaultResult], info: RunInfo) -> dict[str, Any]:
    return {"run": asdict(info), "totals": asdict(t), "faults": [asdict(f) for f in faults]}


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - git from PATH, read-only
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
