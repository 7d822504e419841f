"""The benchmark harness works (its numbers are never asserted: see bench/)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline import SCENARIOS  # noqa: E402
from bench.run import check_targets, render_markdown  # noqa: E402


def test_our_adapter_runs_every_scenario_in_a_worker() -> None:
    commands = [
        {"cmd": "check"},
        {"cmd": "time", "scenario": "request", "n_direct": 10, "n": 10},
    ]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "worker.py"), "mediator_bus"],
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


def test_report_rendering_and_target_verdicts() -> None:
    results = {
        "mediator_bus": {s: {"ratio": 2.0} for s in SCENARIOS},
        "mediary": {"request": {"ratio": 20.0}},
    }
    verdicts = {v["scenario"]: v for v in check_targets(results)}
    assert verdicts["request"]["met"]
    assert verdicts["request"]["speedup_over_fastest_peer"] == 10.0
    assert not verdicts["event_10"]["met"]  # 2.0x is over its 1.6x target
    out = io.StringIO()
    report = {
        "contenders": {"mediator_bus": "mediator-bus", "mediary": "mediary"},
        "results": results,
    }
    render_markdown(report, out)
    lines = out.getvalue().splitlines()
    assert lines[2].startswith("| **mediator-bus** | 2.0x")
    assert lines[3] == "| mediary | 20.0x | n/a | n/a | n/a | n/a | n/a |"
