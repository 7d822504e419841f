"""Contenders of the benchmark: one module per library, loaded by ``bench/worker.py``.

An adapter module defines::

    NAME = "python-mediator 0.7.0"          # shown in the report
    REQUIREMENT = "python-mediator==0.7.0"  # what pip installs (None for this project)
    PIP_FLAGS = ("--no-deps",)              # extra pip flags for the install, if any

    def cases() -> dict[str, Case | str]: ...

``cases()`` maps each scenario name of `bench.baseline.SCENARIOS` to a `Case`,
or to a string saying why the library cannot run that scenario.  A case holds
two coroutine functions:

- ``loop(n)``: perform the scenario's operation ``n`` times in a plain
  ``for _ in range(n): ...`` loop, exactly like the direct baseline in
  `bench.baseline`, so the ratio compares dispatch costs and nothing else;
- ``check()``: perform it once and raise ``AssertionError`` unless the
  handler(s) really ran and the result came back.

Use each library the way its documentation shows.  Adapters import only the
standard library, `bench.adapters.case` and the library itself: peer workers
run with ``python -S`` and the peer's own ``--target`` folder first on
``sys.path``, so two libraries with a top-level ``mediator`` package never meet.
"""

from __future__ import annotations

ADAPTERS = (
    "mediator_bus",
    "python_mediator",
    "slck_mediator",
    "mediary",
    "python_cqrs",
    "lato",
    "waku",
    "mediatr",
)
