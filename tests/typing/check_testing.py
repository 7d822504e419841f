"""Static typing of `mediator.testing`, checked with mypy --strict and pyright (strict).

Not run: type checkers read it (tests/test_typing.py runs them).  Lines
marked ``# type: ignore[...]`` must be rejected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal, assert_type

import pytest

from mediator import (
    Handler,
    LocalEventBus,
    LocalRequestBus,
    Request,
    RequestHandlerRegistry,
    StreamRequest,
)
from mediator.testing import RecordedCall, Recorder, override, record

requests = LocalRequestBus()
events = LocalEventBus()


@dataclass
class GetUser(Request[str]):
    user_id: int


@dataclass
class GetAdmin(GetUser):
    pass


@dataclass
class ListUsers(StreamRequest[str]):
    pass


@dataclass
class OrderPlaced:
    order_id: int


# -- the README's fixtures --------------------------------------------------------------


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with record(requests, events) as recorder:
        yield recorder


@pytest.fixture
def fake_users() -> Iterator[Handler]:
    async def fake_user(query: GetUser) -> str:
        return f"user {query.user_id}"

    with override(requests, fake_user) as handler:
        yield handler


# -- record ---------------------------------------------------------------------------------


def recorded(recorder: Recorder) -> None:
    assert_type(recorder.executed(GetUser), list[GetUser])
    assert_type(recorder.executed(GetAdmin), list[GetAdmin])
    assert_type(recorder.published(OrderPlaced), list[OrderPlaced])
    assert_type(recorder.streamed(ListUsers), list[ListUsers])
    assert_type(recorder.executed(), list[Any])
    assert_type(recorder.published(), list[Any])
    assert_type(recorder.streamed(), list[Any])
    ids: list[int] = [query.user_id for query in recorder.executed(GetUser)]
    assert ids is not None

    call = recorder.calls[0]
    assert_type(recorder.calls, list[RecordedCall])
    assert_type(call.method, Literal["execute", "publish", "stream"])
    assert_type(call.kwargs, dict[str, Any])
    assert_type(call.bus, LocalRequestBus | LocalEventBus)
    assert_type(recorder.buses, tuple[LocalRequestBus | LocalEventBus, ...])


def opened() -> None:
    with record(requests) as one:
        assert_type(one, Recorder)
    assert_type(record(requests, events), Recorder)


# -- override -------------------------------------------------------------------------------


async def fake_user(query: GetUser) -> str:
    return "fake"


async def fake_list(query: ListUsers) -> AsyncIterator[str]:
    yield "fake"


def overridden() -> None:
    with override(requests, fake_user) as handler:
        assert_type(handler, Handler)
    with override(requests, fake_list, modifiers=(), thread=False):
        pass
    with override(events, fake_user, policies=None):
        pass


# -- rejected -------------------------------------------------------------------------------


def rejected(recorder: Recorder) -> None:
    recorder.executed(GetUser(1))  # type: ignore[call-overload]
    users: list[OrderPlaced] = recorder.executed(GetUser)  # type: ignore[arg-type]
    record(RequestHandlerRegistry())  # type: ignore[arg-type]
    override(RequestHandlerRegistry(), fake_user)  # type: ignore[arg-type]
    override(requests, fake_user, thread="yes")  # type: ignore[arg-type]
    assert users is not None
