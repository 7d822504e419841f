"""The typing checks in tests/typing pass under mypy --strict and pyright (strict)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_strict() -> None:
    done = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(TYPING))
    assert done.returncode == 0, done.stdout + done.stderr


def test_pyright_strict() -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if pyright is None:  # pragma: no cover - installed by the test extra
        pytest.fail("pyright is not installed: pip install -e '.[test]'")
    done = run(pyright, "--pythonpath", sys.executable, str(TYPING))
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_is_typed() -> None:
    assert (ROOT / "mediator" / "py.typed").exists()
