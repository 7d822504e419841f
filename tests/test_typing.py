"""The typing checks in tests/typing pass under mypy --strict and pyright (strict)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"

# What else a rejected line may be reported for (never enough on its own).
INCIDENTAL = {"reportUnusedVariable", "reportUnusedExpression"}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def pyright() -> str:
    found = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if found is None:  # pragma: no cover - installed by the test extra
        pytest.fail("pyright is not installed: pip install -e '.[test]'")
    return found


def test_mypy_strict() -> None:
    done = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(TYPING))
    assert done.returncode == 0, done.stdout + done.stderr


def test_pyright_strict() -> None:
    done = run(pyright(), "--pythonpath", sys.executable, str(TYPING))
    assert done.returncode == 0, done.stdout + done.stderr


def test_pyright_rejects_each_marked_line_for_its_own_mistake(tmp_path: Path) -> None:
    # An ignore is "necessary" to pyright if the line has any error: an unused variable
    # on a rejected line would keep it passing once its mistake is accepted.  So, with
    # the ignores off, each marked line must have an error of another kind.
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pyright"]
    settings.pop("include", None)
    settings.pop("reportUnnecessaryTypeIgnoreComment", None)
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({**settings, "enableTypeIgnoreComments": False}))
    done = run(
        pyright(), "--pythonpath", sys.executable, "-p", str(config), "--outputjson", str(TYPING)
    )
    rules: dict[tuple[str, int], set[str]] = {}
    for diagnostic in json.loads(done.stdout)["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            where = (Path(diagnostic["file"]).name, diagnostic["range"]["start"]["line"] + 1)
            rules.setdefault(where, set()).add(diagnostic.get("rule", "-"))
    marked = {
        (path.name, token.start[0])
        for path in sorted(TYPING.glob("*.py"))
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        if token.type == tokenize.COMMENT and re.match(r"#\s*type:\s*ignore\[", token.string)
    }
    assert set(rules) <= marked, done.stdout
    accepted = sorted(line for line in marked if not rules.get(line, set()) - INCIDENTAL)
    assert accepted == [], "pyright accepts these marked lines (or flags only a name)"


def test_package_is_typed() -> None:
    assert (ROOT / "mediator" / "py.typed").exists()
