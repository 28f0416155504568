"""Quick checks of the pieces of ``make chaos`` (the suite itself runs for minutes and stays out of here).

The cluster helper must start a PostgreSQL of its own on a free port — never the machine's — with the two
roles the product expects, freeze and continue it, and stop it by its own PID; the Redis helper must lose its
queue on ``kill -9`` without persistence; the short-timer casework the suite deploys must pass the
product's own validation.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaos.cluster import APP_ROLE, OWNER_ROLE, PostgresCluster, RedisServer, alive
from chaos.faults import FaultResult, Probe
from chaos.run import short_timer_casework
from tsunagu.cases.services import LANE_ROLES
from tsunagu.engine.validation import validate_paths_report

REPO = Path(__file__).resolve().parents[2]


def test_the_cluster_runs_on_its_own_port_freezes_restarts_and_stops_by_its_own_pid() -> None:
    # Not under pytest's tmp_path: that is private to the test user, and the cluster runs as the postgres
    # user when the tests run as root (as the suite does, in a directory of its own under /tmp).
    root = Path(tempfile.mkdtemp(prefix="tsunagu-chaos-test-"))
    root.chmod(0o755)
    cluster = PostgresCluster(root / "pg")
    try:
        cluster.init()
        cluster.start()
        assert cluster.port != 5432
        urls = cluster.create_roles()
        with psycopg.connect(urls.admin_dsn) as conn:
            roles = dict(
                conn.execute(
                    "SELECT rolname, (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname IN (%s, %s)",
                    (OWNER_ROLE, APP_ROLE),
                ).fetchall()
            )
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'tsunagu'"
            ).fetchone()
        assert roles == {OWNER_ROLE: True, APP_ROLE: False}
        assert owner == (OWNER_ROLE,)
        with psycopg.connect(urls.app_dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE public.not_mine (id int)")

        stopped = cluster.freeze()
        try:
            assert stopped >= 2  # the postmaster and its background processes
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(cluster.admin_dsn(), connect_timeout=1)
        finally:
            cluster.thaw()
        cluster.wait_ready(timeout=10)

        before = cluster.postmaster_pid()
        cluster.restart("immediate")
        pid = cluster.postmaster_pid()
        assert pid is not None and pid != before
        with psycopg.connect(cluster.admin_dsn(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        cluster.shutdown()
        assert not alive(pid)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.admin_dsn(), connect_timeout=2)
    finally:
        cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def test_redis_killed_without_persistence_comes_back_empty_on_the_same_port(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        client = redis.Redis(
            host="127.0.0.1", port=server.port, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        client.rpush("queue", "message")
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.llen("queue") == 0
    finally:
        server.shutdown()


def test_the_short_timer_casework_passes_the_products_validation(tmp_path: Path) -> None:
    library = tmp_path / "workflows"
    shutil.copytree(REPO / "workflows", library)
    bpmn = library / "casework" / "casework.bpmn"
    bpmn.write_text(short_timer_casework(7), encoding="utf-8")
    assert ">'PT7S'</bpmn:timeDuration>" in bpmn.read_text(encoding="utf-8")
    problems, count = validate_paths_report([library], LANE_ROLES)
    assert problems == [] and count >= 4


def test_a_fault_passes_only_when_every_part_recovered_in_time_and_every_probe_passed() -> None:
    result = FaultResult("f", "a fault", parts={"ready": 0.5, "api": 1.0, "outbox": 12.0, "timers": 2.0})
    assert result.recovered_after == 12.0 and result.slowest == "outbox"
    assert result.passed(30.0) and not result.passed(10.0)
    result.probes.append(Probe("/readyz", "503 within 2 s", status=200, seconds=37.0, passed=False))
    assert not result.passed(30.0)
    unrecovered = FaultResult("g", "another", parts={"ready": 0.5, "api": 1.0, "outbox": None, "timers": 2.0})
    assert unrecovered.recovered_after is None and unrecovered.slowest == "outbox"
    assert not unrecovered.passed(30.0)
