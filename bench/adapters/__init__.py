"""Contenders of the benchmark: one module per library, loaded by ``bench/worker.py``.

An adapter module defines::

    NAME = "python-mediator 0.7.0"  # shown in the report

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

What pip installs for each peer lives in `PEERS` below, as plain data, and not
in the adapter modules: importing an adapter imports its library, which is
exactly what is not installed yet (and python-mediator's or slck-mediator's
``mediator`` would be this project's in the runner's process).
"""

from __future__ import annotations

from typing import NamedTuple


class Peer(NamedTuple):
    """How ``python -m bench --install-peers`` installs one peer."""

    requirement: str
    pip_flags: tuple[str, ...] = ()


#: adapter module -> its pip install; this project's own adapter needs none.
PEERS = {
    # 0.7.0 declares Requires-Python <3.11, yet runs on newer versions.
    "python_mediator": Peer("python-mediator==0.7.0", ("--ignore-requires-python", "--no-deps")),
    "slck_mediator": Peer("slck-mediator==1.0.2"),
    "mediary": Peer("mediary==0.4.0"),
    "python_cqrs": Peer("python-cqrs==5.3.0"),
    "lato": Peer("lato==0.13.0"),
    "waku": Peer("waku==0.43.0"),
    "mediatr": Peer("mediatr==1.3.2"),
}

#: Every contender, in report order: this project first.
ADAPTERS = ("mediator_bus", *PEERS)
