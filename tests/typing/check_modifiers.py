"""Static typing of the built-in middleware factories of `mediator.modifiers`.

Not run: type checkers read it (tests/test_typing.py runs them under mypy --strict
and pyright).  Lines marked ``# type: ignore[...]`` must be rejected by both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, assert_type

from opentelemetry.sdk.trace import TracerProvider

from mediator import (
    EventHandlerRegistry,
    LocalEventBus,
    LocalRequestBus,
    Middleware,
    Modifier,
    Next,
    RequestHandlerRegistry,
)
from mediator.modifiers import default_backoff, limit, log, retry, timeout, trace


@dataclass
class GetUser:
    id: int


# Each factory makes a Middleware, which is a Modifier.
assert_type(timeout(5.0), Middleware)
assert_type(timeout(5), Middleware)
assert_type(retry(), Middleware)
assert_type(retry(5, on=(ConnectionError, TimeoutError), backoff=default_backoff), Middleware)
assert_type(retry(on=ConnectionError, backoff=lambda attempt: 0.5 * attempt), Middleware)
assert_type(log(), Middleware)
assert_type(log(logging.getLogger(__name__), level=logging.INFO, slow=0.5), Middleware)
assert_type(log("app.bus", level="INFO"), Middleware)
assert_type(limit(10), Middleware)
assert_type(trace(), Middleware)
assert_type(trace(TracerProvider().get_tracer(__name__)), Middleware)
assert_type(default_backoff(1), float)
as_modifier: Modifier = retry()

# They go in every modifiers= list, mixed with middleware functions.


async def plain(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    return await call_next(message, kwargs)


bus = LocalRequestBus(modifiers=[log(), timeout(5), plain])
LocalEventBus(modifiers=[retry(), limit(2)])
RequestHandlerRegistry(modifiers=[trace(), limit(1)])
EventHandlerRegistry(modifiers=(log(slow=1.0),))


@bus.register(modifiers=[retry(attempts=2), timeout(1.5)])
async def get_user(query: GetUser) -> str:
    return "ada"


async def usage(call_next: Next) -> None:
    assert_type(await timeout(1)(GetUser(1), {}, call_next), Any)


# -- what must be rejected ----------------------------------------------------------


def no_attempt() -> float:
    return 0.0


def rejected() -> None:
    timeout("5")  # type: ignore[arg-type]
    retry(attempts="3")  # type: ignore[arg-type]
    retry(on=ValueError("an instance"))  # type: ignore[arg-type]
    retry(on=KeyboardInterrupt)  # type: ignore[arg-type]
    retry(on=[ValueError])  # type: ignore[arg-type]
    retry(backoff=no_attempt)  # type: ignore[arg-type]
    log(logger=3)  # type: ignore[arg-type]
    log(level=1.5)  # type: ignore[arg-type]
    log(slow="1")  # type: ignore[arg-type]
    limit("2")  # type: ignore[arg-type]
    limit(2.0)  # type: ignore[arg-type]
    trace(TracerProvider())  # type: ignore[arg-type]
    wrong: int = timeout(1)  # type: ignore[assignment]
    del wrong
