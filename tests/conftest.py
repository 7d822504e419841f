from __future__ import annotations

import logging
from typing import Any

import pytest


def _not_a_slow_step(record: logging.LogRecord) -> bool:
    # Debug mode reports every loop step longer than 0.1 s; on a loaded CI machine that
    # is noise which lands in tests that read caplog, so only this report is dropped.
    return not record.getMessage().startswith("Executing ")


logging.getLogger("asyncio").addFilter(_not_a_slow_step)


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"debug": True}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Every async test runs on asyncio (in debug mode) and on trio."""
    return request.param
