"""One contender in its own process: answers timing requests from ``bench/run.py``.

Usage (done by the runner): ``python [-S] bench/worker.py ADAPTER [PEER_DIR]``.
A peer's folder goes first on ``sys.path`` and peers run with ``-S`` (no
site-packages), so a peer that also ships a top-level ``mediator`` package can
neither shadow this project nor be shadowed by it.  Protocol: one JSON object
per line on stdin, one JSON answer per line on stdout.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The only worker that answers "extra": measurements of this project alone (`bench.ours`).
OURS = "mediator_bus"


def _load(adapter: str, peer_dir: str | None) -> Any:
    if peer_dir:
        sys.path.insert(0, peer_dir)
    sys.path.insert(1 if peer_dir else 0, str(ROOT))
    module = importlib.import_module(f"bench.adapters.{adapter}")
    shadowed = sys.modules.get("mediator")
    if peer_dir and shadowed is not None:
        origin = Path(getattr(shadowed, "__file__", "") or "").resolve()
        if ROOT in origin.parents and Path(peer_dir).resolve() not in origin.parents:
            raise RuntimeError(f"{adapter} imported this project's mediator instead of its own")
    return module


def main() -> None:
    adapter = sys.argv[1]
    peer_dir = sys.argv[2] if len(sys.argv) > 2 else None
    loop = asyncio.new_event_loop()
    # The protocol owns the real stdout; whatever a library prints goes nowhere.
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    try:
        module = _load(adapter, peer_dir)
        from bench.baseline import direct_cases

        direct = direct_cases()
        cases = module.cases()
    except Exception:
        print(json.dumps({"error": traceback.format_exc(limit=5)}), file=out, flush=True)
        return
    # Everything set up so far (the library, its handlers) is long-lived: keep it
    # out of the collector's way, so that a heavy library does not slow down the
    # direct baseline of its own process through longer garbage collections.
    gc.collect()
    gc.freeze()
    print(json.dumps({"name": module.NAME}), file=out, flush=True)

    for line in sys.stdin:
        request = json.loads(line)
        command = request["cmd"]
        if command == "check":
            report: dict[str, str] = {}
            for scenario, case in cases.items():
                if isinstance(case, str):
                    report[scenario] = f"unsupported: {case}"
                    continue
                try:
                    loop.run_until_complete(case.check())
                    loop.run_until_complete(case.loop(2))
                except Exception as error:  # reported, not raised: the others still run
                    report[scenario] = f"failed: {type(error).__name__}: {error}"
                else:
                    report[scenario] = "ok"
            answer: dict[str, Any] = {"scenarios": report}
        elif command == "time":
            scenario = request["scenario"]
            answer = {
                "direct": _time(loop, direct[scenario].loop, request["n_direct"]),
                "contender": _time(loop, cases[scenario].loop, request["n"]),
            }
        elif command == "extra":
            if adapter == OURS:
                from bench import ours

                answer = loop.run_until_complete(ours.extra(bool(request.get("quick"))))
            else:
                answer = {"error": f"extras measure {OURS} alone, not {adapter}"}
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), file=out, flush=True)


def _time(loop: asyncio.AbstractEventLoop, body: Any, n: int) -> float:
    """Nanoseconds per operation of ``body(n)``."""
    gc.collect()
    started = time.perf_counter_ns()
    loop.run_until_complete(body(n))
    return (time.perf_counter_ns() - started) / n


if __name__ == "__main__":
    main()
