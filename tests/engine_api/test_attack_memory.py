"""Issue #10: the expression attack run against a real gunicorn worker (production settings, PostgreSQL),
measuring the worker's peak resident set (``VmHWM``) before and after. It took a worker from 114 to
1,053 MiB and answered 500; bounded evaluation must keep the growth under 50 MiB and answer 422."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.memory import children, proc_status
from tests.engine_api.driver import fill
from tests.support.api_errors import problems as problems_of
from tsunagu.keys.kms import DEV_MASTER_KEY

REPO = Path(__file__).resolve().parents[2]
CASEWORK = (REPO / "workflows" / "casework" / "casework.bpmn").read_text(encoding="utf-8")
CONDITION = "screening_outcome == 'advice_only'"
LIMIT_KIB = 50 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gunicorn(settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(
        TSUNAGU_ENV="production",
        TSUNAGU_DATABASE_URL=settings.database_url,
        TSUNAGU_MIGRATION_DATABASE_URL=settings.migration_database_url,
        TSUNAGU_SECRET_KEY=settings.secret_key,
        TSUNAGU_AUDIT_HMAC_KEY="attack-memory-test-audit-key-0123456789",
        # production needs a real master key (issue #16); the test process wrapped the tenant's keys with the
        # development key, which stays readable as a previous master key
        TSUNAGU_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        TSUNAGU_MASTER_KEY_PREVIOUS=DEV_MASTER_KEY.decode(),
        TSUNAGU_BASE_DOMAIN=settings.base_domain,
        TSUNAGU_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    command += ["--timeout", "120", "tsunagu.app:create_app()"]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                workers = children(process.pid)
                assert len(workers) == 1
                return workers[0]
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


def _peak_kib(pid: int) -> int:
    return proc_status(pid)["VmHWM"]


def test_the_expression_attack_keeps_a_gunicorn_worker_within_50_mib_and_answers_422(
    api, admin, tenant, pg_settings, tmp_path
):
    api.start_case()  # the library as version 1
    runtime_hostile = CASEWORK.replace(CONDITION, "len(str([screening_outcome[0] * 100000] * 10000)) &gt; 0")
    deployed = api.post(
        "/definitions",
        data={"files": [(io.BytesIO(runtime_hostile.encode()), "casework/casework.bpmn")]},
        content_type="multipart/form-data",
    )
    assert deployed.status_code == 201, deployed.get_json()
    cases = [api.start_case() for _ in range(3)]
    tasks = [api.task(case["id"], "intake") for case in cases]

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _gunicorn(pg_settings, port, tmp_path / "gunicorn.log")
    try:
        worker = _wait_ready(base, process)
        api_base = f"{base}/t/{tenant.slug}/api/v1"
        headers = {"Authorization": f"Bearer {admin.token}", "Accept-Language": "en"}
        # Warm up the worker: load the deployment and validate a form (the attack is the only engine run).
        assert requests.get(f"{api_base}/tasks/{tasks[0]['id']}", headers=headers, timeout=30).ok
        invalid = requests.post(
            f"{api_base}/tasks/{tasks[0]['id']}/complete", json={"data": {}}, headers=headers, timeout=30
        )
        assert invalid.status_code == 422
        before = _peak_kib(worker)

        # At validation: the constant form of the attack, uploaded through the worker.
        constant = CASEWORK.replace(CONDITION, "len(str(['a' * 100000] * 10000)) &gt; 0")
        upload = requests.post(
            f"{api_base}/definitions",
            files={"files": ("casework/casework.bpmn", constant.encode())},
            headers=headers,
            timeout=60,
        )
        assert upload.status_code == 422, upload.text[:500]
        assert "too large" in " ".join(problems_of(upload.json()))

        # At run time: completing a task whose gateway condition is the attack on task data.
        for task in tasks:
            data = fill(task["form_schema"], {"screening_outcome": "continue"})
            response = requests.post(
                f"{api_base}/tasks/{task['id']}/complete", json={"data": data}, headers=headers, timeout=60
            )
            assert response.status_code == 422, response.text[:500]
            assert response.json()["error"]["code"] == "workflow_error"
        growth = _peak_kib(worker) - before
        assert growth < LIMIT_KIB, f"the worker's peak RSS grew by {growth / 1024:.0f} MiB"
        assert process.poll() is None and children(process.pid) == [worker]  # not killed, not replaced
    finally:
        process.terminate()
        process.wait(15)
