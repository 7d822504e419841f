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


def test_a_quick_run_of_our_adapter_reports_every_scenario_and_the_extras(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run.main(["--quick", "--rounds", "1", "--only", "mediator_bus", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["contenders"]["mediator_bus"].startswith("mediator-bus")
    assert report["status"]["mediator_bus"] == dict.fromkeys(SCENARIOS, "ok")
    assert set(report["results"]["mediator_bus"]) == set(SCENARIOS)
    assert all(row["ratio"] > 0 for row in report["results"]["mediator_bus"].values())
    assert any(key.startswith("memory growth") for key in report["extras"])
    assert "targets" not in report


def test_only_our_worker_answers_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-S", str(run.WORKER), "mediatr", str(run.PEERS_DIR / "mediatr")],
        input=json.dumps({"cmd": "extra", "quick": True}) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    hello, *answers = (json.loads(line) for line in done.stdout.splitlines())
    if "error" in hello:
        pytest.skip("mediatr is not installed (python -m bench --install-peers)")
    assert "error" in answers[0]


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
    assert "| event, 10 handlers | event, 10 concurrent |" in lines[0]
    assert lines[2].startswith("| **mediator-bus** | 2.0x")
    assert lines[3] == "| mediary | 20.0x" + " | n/a" * (len(SCENARIOS) - 1) + " |"

    out = io.StringIO()
    run.render(report, out)
    text = out.getvalue()
    assert f"## {SCENARIOS['event_10_concurrent']}" in text
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
