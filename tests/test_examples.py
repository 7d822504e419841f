"""Every script in example/ runs, on asyncio and trio, and prints what it promises."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "example"

EXPECTED = {
    "python_mediator_request.py": ["print message: test", "data query: 1"],
    "python_mediator_event.py": ["first handler: test", "second handler: test"],
    "request_advanced.py": ["print: test", "entry loaded: 1"],
    "event_advanced.py": ["from object handler: test", "from function handler: test"],
    "quickstart.py": [
        "-> CreateUser",
        "welcome mail to ada",
        "audit: UserCreated",
        "-> CreateUser",
        "welcome mail to grace",
        "audit: UserCreated",
        "-> GetUser",
        "User(id=1, name='ada')",
        "-> ListUsers",
        "user 1: ada",
        "user 2: grace",
    ],
}


def test_every_example_is_checked() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_example_output(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A fresh module namespace per run: the buses in it start empty.
    namespace: dict[str, Any] = runpy.run_path(str(EXAMPLES / name), run_name="example")
    await namespace["main"]()
    assert capsys.readouterr().out.splitlines() == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_as_a_script(name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == EXPECTED[name]
