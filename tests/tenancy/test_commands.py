"""``tsunagu tenants sync|validate``: output and exit codes, through click and through the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tsunagu.cli import main

from .conftest import REPO_ROOT, copy_shipped, write_preset


def cli_env(pg_settings, **extra: str) -> dict[str, str]:
    return {
        "TSUNAGU_ENV": "test",
        "TSUNAGU_DATABASE_URL": pg_settings.database_url,
        "TSUNAGU_MIGRATION_DATABASE_URL": pg_settings.migration_database_url,
        "TSUNAGU_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        **extra,
    }


def test_sync_prints_the_report_and_a_second_run_says_no_changes(runtime, pg_settings, tmp_path):
    runner = CliRunner()
    directory = str(copy_shipped(tmp_path))

    first = runner.invoke(main, ["tenants", "sync", directory], env=cli_env(pg_settings))
    assert first.exit_code == 0, first.output
    assert "yokohama: created, with 36 org units" in first.stdout
    assert first.stdout.splitlines()[-1] == "4 tenants: 4 created, 0 updated, 0 unchanged"

    second = runner.invoke(main, ["tenants", "sync", directory], env=cli_env(pg_settings))
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines()[-1] == "no changes"


def test_sync_of_an_invalid_directory_exits_non_zero_with_every_problem(runtime, pg_settings, tmp_path):
    copy_shipped(tmp_path, "demo")
    write_preset(tmp_path, "iwamizawa", "FREQ=MONTHLY;BYDAY=1WE,2WE,4WE", "FREQ=SOMETIMES")
    write_preset(tmp_path, "kunitachi", "population = 75_782", 'population = "many"')

    result = CliRunner().invoke(main, ["tenants", "sync", str(tmp_path)], env=cli_env(pg_settings))

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].endswith(
        "iwamizawa.toml: meetings.series[0].rrule: invalid recurrence rule: invalid 'FREQ': SOMETIMES"
    )
    assert lines[1].endswith("kunitachi.toml: population: expected an integer, got string 'many'")
    assert lines[2] == "2 problem(s) found; nothing was applied."
    listing = CliRunner().invoke(main, ["tenants", "validate", str(tmp_path)], env=cli_env(pg_settings))
    assert (listing.exit_code, listing.stderr) == (1, result.stderr)


def test_dry_run_says_so(runtime, pg_settings):
    result = CliRunner().invoke(main, ["tenants", "sync", "--dry-run"], env=cli_env(pg_settings))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "dry run: nothing was written"


def test_validate_needs_no_database():
    result = CliRunner().invoke(
        main, ["tenants", "validate", str(REPO_ROOT / "tenants")], env={"TSUNAGU_ENV": "test"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "demo: ok (2 org units)",
        "iwamizawa: ok (4 org units)",
        "kunitachi: ok (7 org units)",
        "yokohama: ok (36 org units)",
    ]


def test_unreachable_database_is_a_clear_error_not_a_traceback(pg_settings):
    bad = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    env = cli_env(pg_settings, TSUNAGU_DATABASE_URL=bad, TSUNAGU_MIGRATION_DATABASE_URL=bad)
    result = CliRunner().invoke(main, ["tenants", "sync"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: database error, nothing was applied:")


def test_installed_command_syncs_the_default_directory(runtime, pg_settings, tmp_path):
    copy_shipped(tmp_path, "demo", "kunitachi")
    env = {**os.environ, **cli_env(pg_settings, TSUNAGU_TENANTS_DIR=str(tmp_path))}
    command = Path(sys.executable).with_name("tsunagu")

    done = subprocess.run(
        [str(command), "tenants", "sync"], env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "demo: created, with 2 org units",
        "kunitachi: created, with 7 org units",
        "2 tenants: 2 created, 0 updated, 0 unchanged",
    ]


def test_suspend_and_activate_run_as_the_owner_and_only_there(runtime, pg_settings, tmp_path):
    from tests.factories import make_tenant, tenant_row

    make_tenant(runtime, "shinmachi")
    env = cli_env(pg_settings, TSUNAGU_TENANTS_DIR=str(tmp_path))
    suspended = CliRunner().invoke(main, ["tenants", "suspend", "shinmachi"], env=env)
    assert suspended.exit_code == 0, suspended.output
    assert suspended.stdout == "shinmachi: suspended\n"
    assert tenant_row(runtime, "shinmachi").status == "suspended"

    # With only the application role's URL (what the web pods hold) the status cannot be changed.
    app_only = cli_env(pg_settings, TSUNAGU_MIGRATION_DATABASE_URL=pg_settings.database_url)
    refused = CliRunner().invoke(main, ["tenants", "activate", "shinmachi"], env=app_only)
    assert refused.exit_code == 1 and "unknown tenant 'shinmachi'" in refused.output
    assert tenant_row(runtime, "shinmachi").status == "suspended"

    activated = CliRunner().invoke(main, ["tenants", "activate", "shinmachi"], env=env)
    assert activated.exit_code == 0 and tenant_row(runtime, "shinmachi").status == "active"
    missing = CliRunner().invoke(main, ["tenants", "suspend", "nowhere"], env=env)
    assert missing.exit_code == 1 and "unknown tenant 'nowhere'" in missing.output


def test_suspending_a_tenant_with_a_preset_says_the_next_sync_restores_it(runtime, pg_settings, tmp_path):
    directory = copy_shipped(tmp_path, "demo")
    env = cli_env(pg_settings, TSUNAGU_TENANTS_DIR=str(directory))
    assert CliRunner().invoke(main, ["tenants", "sync"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["tenants", "suspend", "demo"], env=env)
    assert (
        result.exit_code == 0
        and "the next `tsunagu tenants sync` applies the preset's value" in result.stderr
    )
