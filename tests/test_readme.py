"""Every Python example in README.md runs, on asyncio and trio."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[tuple[int, str]]:
    text = README.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_readme_has_examples() -> None:
    assert len(blocks()) >= 10


@pytest.fixture
def module(request: pytest.FixtureRequest) -> Iterator[types.ModuleType]:
    name = f"readme_example_{request.node.callspec.id.replace('-', '_')}"
    made = types.ModuleType(name)
    sys.modules[name] = made
    yield made
    del sys.modules[name]


@pytest.mark.parametrize(("line", "code"), blocks(), ids=[f"line{line}" for line, _ in blocks()])
async def test_readme_example(line: int, code: str, module: types.ModuleType) -> None:
    # Compiled at its README line, so a failure points into README.md.
    source = "\n" * (line - 1) + code
    exec(compile(source, str(README), "exec"), module.__dict__)
    main = module.__dict__.get("main")
    if main is not None:
        await main()


@pytest.mark.parametrize(("line", "code"), blocks(), ids=[f"line{line}" for line, _ in blocks()])
def test_readme_example_is_complete_and_clean(line: int, code: str) -> None:
    """A reader can paste it into a file and run it: it says how, and imports what it uses."""
    if "async def main" in code:
        assert code.rstrip().endswith('if __name__ == "__main__":\n    anyio.run(main)')
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [str(ruff), "check", "--select", "F", "--stdin-filename", f"README_line{line}.py", "-"],
        input=code,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
