"""``python -m bench --quick`` (``make bench``) end to end on this machine's PostgreSQL and Redis, at tiny sizes.

Only that the harness runs and writes every section with numbers: no speed figure is asserted here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from click.testing import CliRunner

from bench.commands import bench_command
from bench.report import SECTIONS


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_quick_bench_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(bench_command, ["--quick", "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    data = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    assert data["errors"] == []
    assert len(list(out.glob("2*.json"))) == 1 and len(list(out.glob("2*.md"))) == 1

    machine = data["machine"]
    assert machine["cpu_model"] and machine["cores"] >= 1 and machine["ram_gib"] > 0
    assert machine["python"] and machine["postgresql"].startswith("PostgreSQL") and machine["git_commit"]

    floor, service = data["floor"], data["service"]
    assert floor["cases"] == 3 and floor["tasks_per_case"] == 10
    assert _number(floor["per_task_ms"]["mean"]) and _number(floor["per_case_ms"]["p95"])
    assert service["task_completions"] == 30
    assert _number(service["per_task_ms"]["p50"]) and _number(service["ratio_to_floor"]["per_task_mean"])
    assert service["statements_per_completion"] > 0
    assert (out / "profile_service.txt").read_text(encoding="utf-8").count("SpiffWorkflow") > 0

    assert _number(floor["stored_form"]["per_task_ms"]["mean"])
    assert floor["stored_form"]["state_bytes"]["max"] < floor["state_bytes"]["max"]

    age = data["age"]
    for run in ("memory_before", "memory_now", "service"):
        assert sorted(age[run]["rounds"], key=int) == ["1", "12", "36"]
        for figures in age[run]["rounds"].values():
            assert _number(figures["completion_ms"]) and figures["state_bytes"] > 0
        assert _number(age[run]["growth"]["completion"]) and _number(age[run]["growth"]["state"])
    assert age["memory_before"]["growth"]["state"] > age["memory_now"]["growth"]["state"]

    defsize = data["defsize"]
    assert defsize["definition"]["factor"] >= 10
    for run in (defsize["memory"]["before"], defsize["memory"]["now"], defsize["service"]):
        assert _number(run["ratio"]) and _number(run["bigger"]["per_task_ms"]["mean"])

    levels = data["http"]["levels"]
    assert [(lv["clients"], lv["shared_token"]) for lv in levels] == [(1, False), (2, False), (2, True)]
    for level in levels:
        assert level["completions"] > 0 and level["errors"] == 0 and level["conflicts_409"] == 0
        assert _number(level["completions_per_s"]) and _number(level["latency_ms"]["p95"])
        assert _number(level["ratio_to_floor"]["throughput"])

    memory = data["memory"]
    assert memory["web"]["worker_peak_rss_mib"] > 0 and len(memory["web"]["workers"]) == 2
    assert memory["celery"]["peak_rss_mib"] > 0
    assert memory["celery"]["processed"] == memory["celery"]["messages"] > 0

    reports = data["reports"]
    assert reports["generated"]["cases"] == 2000 and reports["generated"]["wards"] == 18
    assert reports["generated"]["facts"] > 2000
    assert _number(reports["monthly_ms"]["p95"]) and _number(reports["dashboard_ms"]["p95"])
    assert reports["deserialized"] == 0

    inbox = data["inbox"]
    assert inbox["tenants"] == 20 and inbox["labels"] == ["1k", "2k"]
    assert inbox["at_small"]["table"]["human_tasks"] == 1000
    assert inbox["at_big"]["table"]["human_tasks"] == 2000
    for query in ("mine", "role", "overdue"):
        for size in ("at_small", "at_big"):
            figures = inbox[size]["queries"][query]
            assert _number(figures["sql_ms"]["p95"]) and _number(figures["product_ms"]["p50"])
        assert _number(inbox["growth"][query]["product_p95"])
        for label in inbox["labels"]:
            assert "Execution Time" in (out / "explain" / f"{query}_{label}.txt").read_text(encoding="utf-8")

    text = (out / "latest.md").read_text(encoding="utf-8")
    for heading in SECTIONS:
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        assert re.search(r"\d", section), f"{heading} has no figure"
    assert "not run" not in text
