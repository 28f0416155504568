"""The benchmark harness is a dev-only package: the product never imports it and does not ship it."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from tsunagu.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_no_product_module_imports_the_bench_package() -> None:
    offenders = []
    for path in (REPO / "platform").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n == "bench" or n.startswith("bench.")]
    assert offenders == []
    assert not (REPO / "platform" / "tsunagu" / "bench").exists()


def test_the_product_cli_has_no_bench_command() -> None:
    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code != 0 and "No such command" in result.output


def test_the_image_build_context_leaves_the_bench_out() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "bench" in ignored
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY bench" not in dockerfile
