"""The benchmark harness works (its numbers are never asserted: see bench/)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from bench.adapters import ADAPTERS, PEERS  # noqa: E402
from bench.baseline import SCENARIOS  # noqa: E402

#: Top-level packages of the peers: installing them must import none.
PEER_PACKAGES = {"mediator", "mediary", "cqrs", "di", "lato", "waku", "mediatr"}


def test_our_adapter_runs_every_scenario_in_a_worker() -> None:
    commands = [
        {"cmd": "check"},
        {"cmd": "time", "scenario": "request", "n_direct": 10, "n": 10},
    ]
    done = subprocess.run(
        [sys.executable, str(run.WORKER), "mediator_bus"],
        input="".join(json.dumps(c) + "\n" for c in commands),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    hello, check, timing = (json.loads(line) for line in done.stdout.splitlines())
    assert hello["name"].startswith("mediator-bus")
    assert check["scenarios"] == dict.fromkeys(SCENARIOS, "ok")
    assert timing["direct"] > 0
    assert timing["contender"] > 0


def test_reports_render_without_verdicts() -> None:
    results = {
        "mediator_bus": {
            s: {"ratio": 2.0, "ratio_low": 1.9, "ratio_high": 2.1, "ns": 100.0, "direct_ns": 50.0}
            for s in SCENARIOS
        },
        "mediary": {
            "request": {
                "ratio": 20.0,
                "ratio_low": 19.0,
                "ratio_high": 21.0,
                "ns": 1000.0,
                "direct_ns": 50.0,
            }
        },
    }
    report: dict[str, Any] = {
        "python": "CPython 3",
        "machine": "x86_64, Linux",
        "rounds": 1,
        "contenders": {"mediator_bus": "mediator-bus", "mediary": "mediary"},
        "status": {"mediator_bus": {}, "mediary": {"stream_1000": "unsupported: no streams"}},
        "results": results,
        "extras": {"memory growth over 3 calls (bytes)": 0},
    }
    out = io.StringIO()
    run.render_markdown(report, out)
    lines = out.getvalue().splitlines()
    assert lines[2].startswith("| **mediator-bus** | 2.0x")
    assert lines[3] == "| mediary | 20.0x" + " | n/a" * (len(SCENARIOS) - 1) + " |"

    out = io.StringIO()
    run.render(report, out)
    text = out.getvalue()
    assert f"## {SCENARIOS['event_10']}" in text
    assert "unsupported: no streams" in text
    assert "## mediator-bus only" in text
    assert "target" not in text


def test_installing_the_peers_imports_neither_adapters_nor_peers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commands: list[list[str]] = []

    def pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(run, "PEERS_DIR", tmp_path)
    monkeypatch.setattr(run, "ROOT", tmp_path.parent)
    monkeypatch.setattr(run.subprocess, "run", pip)
    before = set(sys.modules)
    run.install_peers(list(ADAPTERS), io.StringIO())
    imported = set(sys.modules) - before

    assert not [m for m in imported if m.startswith("bench.adapters.")]
    assert not {m.partition(".")[0] for m in imported} & PEER_PACKAGES
    assert [c[-1] for c in commands] == [peer.requirement for peer in PEERS.values()]
    for command, (adapter, peer) in zip(commands, PEERS.items(), strict=True):
        assert command[command.index("--target") + 1] == str(tmp_path / adapter)
        assert set(peer.pip_flags) <= set(command)
