"""The worker refuses to start without Redis, with a message that says what to do."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from tests.jobs.conftest import REPO_ROOT, WAIT_SECONDS
from tsunagu.cli import main

NEEDS_REDIS = "TSUNAGU_REDIS_URL is not set"


def test_the_worker_command_explains_that_it_needs_redis() -> None:
    result = CliRunner().invoke(
        main,
        ["worker"],
        env={
            "TSUNAGU_ENV": "test",
            "TSUNAGU_REDIS_URL": None,
            "TSUNAGU_DATABASE_URL": None,
            "TSUNAGU_MIGRATION_DATABASE_URL": None,
        },
    )
    assert result.exit_code != 0
    assert NEEDS_REDIS in result.output


def test_a_celery_worker_without_redis_exits_with_the_reason() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")} | {"TSUNAGU_ENV": "test"}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tsunagu.jobs", "worker", "--pool", "solo", "-Q", "unused"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert result.returncode != 0
    assert NEEDS_REDIS in result.stderr
