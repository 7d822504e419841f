"""The benchmark: mediator-bus and its peers, as ratios to a direct ``await``.

    python -m bench                  # full run (about a minute with every peer)
    python -m bench --quick          # short run
    python -m bench --json           # machine-readable output
    python -m bench --markdown       # the README's table
    python -m bench --install-peers  # first install the peers, each into bench/.peers/<name>

Each contender runs in its own worker process (`bench/worker.py`).  In every
round, every worker times each scenario and, right before, the direct
baseline of that scenario (`bench/baseline.py`), in the same process; the
report gives the median over rounds of contender time / direct time, the
spread of that ratio, and the median absolute times.  Peers sharing our
top-level package name (python-mediator, slck-mediator) live in their own
``--target`` folders and never touch this project's environment.  The
benchmark measures and reports; it sets no targets and passes no verdict.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(ROOT))

from bench.adapters import ADAPTERS, PEERS  # noqa: E402
from bench.baseline import SCENARIOS, STREAM_ITEMS  # noqa: E402

PEERS_DIR = ROOT / "bench" / ".peers"
WORKER = ROOT / "bench" / "worker.py"
OURS = "mediator_bus"


@dataclass
class Worker:
    adapter: str
    process: subprocess.Popen[str]
    name: str = ""
    status: dict[str, str] = field(default_factory=dict)

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.adapter} exited: {self.stderr()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stderr(self) -> str:
        self.process.kill()
        assert self.process.stderr is not None
        return self.process.stderr.read()[-2000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with self.process:  # closes the pipes too, then waits
            pass


def install_peers(names: list[str], out: TextIO) -> None:
    """pip-install each peer into bench/.peers/<name>, never into the running environment.

    Reads `bench.adapters.PEERS` only: an adapter module imports its library, not there yet.
    """
    for adapter in names:
        target = PEERS_DIR / adapter
        if adapter not in PEERS or target.exists():
            continue
        peer = PEERS[adapter]
        print(f"installing {peer.requirement} into {target.relative_to(ROOT)}", file=out)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(target),
                *peer.pip_flags,
                peer.requirement,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            print(f"  failed: {done.stderr.strip()[-500:]}", file=out)


def start(adapter: str) -> Worker | str:
    """Start a worker, or say why the contender is not available."""
    if adapter == OURS:
        command = [sys.executable, str(WORKER), adapter]
    else:
        folder = PEERS_DIR / adapter
        if not folder.exists():
            return "not installed (python -m bench --install-peers)"
        command = [sys.executable, "-S", str(WORKER), adapter, str(folder)]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    worker = Worker(adapter, process)
    assert process.stdout is not None
    hello = process.stdout.readline()
    if not hello:
        reason = worker.stderr()
        worker.close()
        return f"worker failed to start: {reason}"
    greeting = json.loads(hello)
    if "error" in greeting:
        worker.close()
        return f"cannot be loaded: {greeting['error'].strip().splitlines()[-1]}"
    worker.name = greeting["name"]
    worker.status = worker.ask(cmd="check")["scenarios"]
    return worker


def calibrate(worker: Worker, scenario: str, budget_s: float) -> tuple[int, int]:
    """Operations per timed batch, for the direct baseline and for the contender.

    Each side gets about ``budget_s`` per batch, so that the fixed cost of
    starting a batch is spread thin on both sides, however slow the contender.
    """
    n_direct = n = 4 if scenario == "stream_1000" else 200
    direct_done = contender_done = False
    while not (direct_done and contender_done):
        answer = worker.ask(cmd="time", scenario=scenario, n_direct=n_direct, n=n)
        if not direct_done:
            spent = answer["direct"] * n_direct / 1e9
            if spent >= budget_s / 4 or n_direct >= 10_000_000:
                n_direct = max(n_direct, int(n_direct * budget_s / max(spent, 1e-9)))
                direct_done = True
            else:
                n_direct *= 4
        if not contender_done:
            spent = answer["contender"] * n / 1e9
            if spent >= budget_s / 4 or n >= 10_000_000:
                n = max(n, int(n * budget_s / max(spent, 1e-9)))
                contender_done = True
            else:
                n *= 4
    return n_direct, n


def measure(workers: list[Worker], rounds: int, budget_s: float) -> dict[str, dict[str, Any]]:
    batches = {
        (w.adapter, s): calibrate(w, s, budget_s)
        for w in workers
        for s in SCENARIOS
        if w.status.get(s) == "ok"
    }
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in batches}
    for index in range(rounds):
        # Interleave: every contender once per round, in a rotating order.
        order = workers[index % len(workers) :] + workers[: index % len(workers)]
        for scenario in SCENARIOS:
            for worker in order:
                key = (worker.adapter, scenario)
                if key in batches:
                    n_direct, n = batches[key]
                    answer = worker.ask(cmd="time", scenario=scenario, n_direct=n_direct, n=n)
                    samples[key].append((answer["direct"], answer["contender"]))
    results: dict[str, dict[str, Any]] = {}
    for (adapter, scenario), pairs in samples.items():
        ratios = sorted(contender / direct for direct, contender in pairs)
        per = STREAM_ITEMS if scenario == "stream_1000" else 1
        results.setdefault(adapter, {})[scenario] = {
            "ratio": statistics.median(ratios),
            "ratio_low": _quantile(ratios, 0.25),
            "ratio_high": _quantile(ratios, 0.75),
            "ns": statistics.median(c for _, c in pairs) / per,
            "direct_ns": statistics.median(d for d, _ in pairs) / per,
            "rounds": len(pairs),
        }
    return results


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def render(report: dict[str, Any], out: TextIO) -> None:
    names = report["contenders"]
    results = report["results"]
    print(f"\n{report['python']} on {report['machine']}; {report['rounds']} rounds", file=out)
    print(
        "Median ratio to a direct `await` of the same handler (lower is better); ", end="", file=out
    )
    print("[interquartile range]; absolute median time per operation.\n", file=out)
    for scenario, title in SCENARIOS.items():
        print(f"## {title}", file=out)
        for adapter, name in names.items():
            row = results.get(adapter, {}).get(scenario)
            if row:
                spread = f"[{row['ratio_low']:.2f}-{row['ratio_high']:.2f}]"
                times = f"{row['ns']:9.1f} ns  (direct {row['direct_ns']:.1f} ns)"
                print(f"  {name:28} {row['ratio']:7.2f}x  {spread}  {times}", file=out)
            else:
                print(f"  {name:28} {report['status'][adapter].get(scenario, '-')}", file=out)
        print(file=out)
    if report.get("extras"):
        print("## mediator-bus only", file=out)
        for key, value in report["extras"].items():
            print(f"  {key}: {value}", file=out)
        print(file=out)


def render_markdown(report: dict[str, Any], out: TextIO) -> None:
    """The README's table: one row per contender, one column per scenario."""
    short = {
        "request": "request",
        "request_kwarg": "request + kwarg",
        "request_modifier": "request + middleware",
        "event_1": "event, 1 handler",
        "event_10": "event, 10 handlers",
        "event_10_concurrent": "event, 10 concurrent",
        "stream_1000": "stream, per item",
    }
    print("| contender | " + " | ".join(short[s] for s in SCENARIOS) + " |", file=out)
    print("|---|" + "---:|" * len(SCENARIOS), file=out)
    for adapter, name in report["contenders"].items():
        cells = []
        for scenario in SCENARIOS:
            row = report["results"].get(adapter, {}).get(scenario)
            cells.append(f"{row['ratio']:.1f}x" if row else "n/a")
        label = f"**{name}**" if adapter == OURS else name
        print(f"| {label} | " + " | ".join(cells) + " |", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 short rounds instead of 15")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--markdown", action="store_true", help="print the ratio table in Markdown (README)"
    )
    parser.add_argument("--rounds", type=int, help="number of rounds")
    parser.add_argument("--only", help="comma-separated adapters (default: all)")
    parser.add_argument(
        "--install-peers", action="store_true", help="pip-install missing peers first"
    )
    args = parser.parse_args(argv)

    names = args.only.split(",") if args.only else list(ADAPTERS)
    unknown = [name for name in names if name not in ADAPTERS]
    if unknown:
        parser.error(f"unknown adapter(s) {', '.join(unknown)}; known: {', '.join(ADAPTERS)}")
    log = sys.stderr
    if args.install_peers:
        install_peers(names, log)
    rounds = args.rounds or (5 if args.quick else 15)
    budget = 0.01 if args.quick else 0.03

    workers: list[Worker] = []
    status: dict[str, dict[str, str]] = {}
    contenders: dict[str, str] = {}
    try:
        for adapter in names:
            started = time.perf_counter()
            worker = start(adapter)
            if isinstance(worker, str):
                contenders[adapter] = adapter
                status[adapter] = dict.fromkeys(SCENARIOS, worker)
                continue
            workers.append(worker)
            contenders[adapter] = worker.name
            status[adapter] = worker.status
            print(f"{worker.name}: ready in {time.perf_counter() - started:.1f}s", file=log)
        if not workers:
            for adapter, reasons in status.items():
                print(f"{adapter}: {next(iter(reasons.values()), 'not started')}", file=log)
            return 1
        results = measure(workers, rounds, budget)
        ours = next((w for w in workers if w.adapter == OURS), None)
        extras = ours.ask(cmd="extra", quick=args.quick) if ours else {}
    finally:
        for worker in workers:
            worker.close()

    report = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{platform.machine()}, {platform.system()}",
        "rounds": rounds,
        "contenders": contenders,
        "status": status,
        "results": results,
        "extras": extras,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    elif args.markdown:
        render_markdown(report, sys.stdout)
    else:
        render(report, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
