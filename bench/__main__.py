"""``python -m bench`` (``make bench``), run from the repository root with the project's virtualenv."""

from bench.commands import bench_command

bench_command(prog_name="python -m bench")
