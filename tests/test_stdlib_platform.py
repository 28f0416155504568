"""``platform/`` is a source root, never a package: the standard library's ``platform`` must stay importable."""

import platform
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_platform_module_is_the_standard_library_in_the_test_process():
    assert platform.system()
    assert "site-packages" not in (platform.__file__ or "")
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()


def test_platform_module_is_the_standard_library_from_the_repo_root():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import platform, tsunagu; print(platform.system()); print(platform.__file__)",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    system, path = out.stdout.split()
    assert system == platform.system()
    assert not path.startswith(str(REPO_ROOT / "platform"))
