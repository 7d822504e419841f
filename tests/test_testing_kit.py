"""mediator.testing: record() sees every call without changing it; override() swaps handlers.

Every async test runs on asyncio and trio.  The fixtures at the top are the
README's pattern (no pytest plugin): a `bus` built for each test, a
`recorder` recording it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from mediator import (
    EventAggregate,
    HandlerNotFoundError,
    LocalEventBus,
    LocalRequestBus,
    MissingArgumentError,
    Next,
    PublishError,
    RegistrationError,
    Request,
    RequestHandlerRegistry,
    StreamRequest,
)
from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy
from mediator.errors import ConfigurationError, UnresolvedAnnotationError
from mediator.testing import RecordedCall, Recorder, override, record

HERE = re.escape(__file__.rsplit("/", 1)[-1])


@dataclass
class GetUser(Request[str]):
    user_id: int


@dataclass
class GetAdmin(GetUser):
    pass


@dataclass
class PlaceOrder(Request[int]):
    order_id: int


@dataclass
class CountTo(StreamRequest[int]):
    n: int


@dataclass
class OrderPlaced:
    order_id: int


@dataclass
class BigOrderPlaced(OrderPlaced):
    pass


@dataclass
class Shipped:
    order_id: int


class Boom(Exception):
    pass


def shop() -> tuple[LocalRequestBus, LocalEventBus, list[str]]:
    """A request bus whose `place_order` publishes on an event bus; `log` says what ran."""
    requests, events, log = LocalRequestBus(), LocalEventBus(), []

    @requests.register
    async def get_user(query: GetUser, tenant: str = "-") -> str:
        log.append(f"get_user {query.user_id}")
        return f"user {query.user_id} of {tenant}"

    @requests.register
    async def place_order(command: PlaceOrder, user: str) -> int:
        log.append(f"place_order {command.order_id}")
        await events.publish(OrderPlaced(command.order_id), user=user)
        return command.order_id

    @requests.register
    async def count_to(request: CountTo) -> AsyncIterator[int]:
        for i in range(request.n):
            yield i

    @events.register
    async def reserve_stock(event: OrderPlaced) -> None:
        log.append(f"reserve_stock {event.order_id}")
        await requests.execute(GetUser(event.order_id))

    @events.register
    async def send_mail(event: OrderPlaced, user: str) -> None:
        log.append(f"send_mail {event.order_id} to {user}")

    return requests, events, log


def state(bus: LocalRequestBus | LocalEventBus) -> dict[str, Any]:
    """Everything override() may touch, as comparable values (entries by identity)."""
    return {
        "entries": list(bus._entries),
        "pending": list(bus._pending),
        "table": {tp: list(routed) for tp, routed in bus._table.items()},
        "stream_table": {tp: list(routed) for tp, routed in bus._stream_table.items()},
        "calls": dict(bus._calls),
        "openers": dict(getattr(bus, "_openers", {})),
        "frozen": bus._frozen,
        "own": sorted(vars(bus)),
    }


# -- the README's fixture pattern ------------------------------------------------------


@pytest.fixture
def buses() -> tuple[LocalRequestBus, LocalEventBus]:
    requests, events, _ = shop()
    requests.freeze()
    events.freeze()
    return requests, events


@pytest.fixture
def recorder(buses: tuple[LocalRequestBus, LocalEventBus]) -> Iterator[Recorder]:
    with record(*buses) as recorder:
        yield recorder


async def test_the_fixture_pattern(
    buses: tuple[LocalRequestBus, LocalEventBus], recorder: Recorder
) -> None:
    requests, events = buses
    assert await requests.execute(PlaceOrder(7), user="ada") == 7
    assert recorder.executed(PlaceOrder) == [PlaceOrder(7)]
    assert recorder.published() == [OrderPlaced(7)]

    async def no_mail(event: OrderPlaced) -> None:
        pass

    with override(events, no_mail):
        await requests.execute(PlaceOrder(8), user="ada")
    assert recorder.published(OrderPlaced) == [OrderPlaced(7), OrderPlaced(8)]


# -- record -------------------------------------------------------------------------------


async def test_every_call_is_recorded_in_call_order_with_its_kwargs() -> None:
    requests, events, log = shop()
    with record(requests, events) as recorder:
        assert await requests.execute(PlaceOrder(1), user="ada") == 1
        assert [i async for i in requests.stream(CountTo(3))] == [0, 1, 2]
        await events.publish(Shipped(1))
    assert log == [
        "place_order 1",
        "reserve_stock 1",
        "get_user 1",
        "send_mail 1 to ada",
    ]
    # A nested call comes after the call that made it, before what follows.
    assert recorder.calls == [
        RecordedCall(PlaceOrder(1), {"user": "ada"}, requests, "execute"),
        RecordedCall(OrderPlaced(1), {"user": "ada"}, events, "publish"),
        RecordedCall(GetUser(1), {}, requests, "execute"),
        RecordedCall(CountTo(3), {}, requests, "stream"),
        RecordedCall(Shipped(1), {}, events, "publish"),
    ]
    assert all(call.bus is requests for call in recorder.calls if call.method != "publish")
    assert recorder.executed() == [PlaceOrder(1), GetUser(1)]
    assert recorder.published() == [OrderPlaced(1), Shipped(1)]
    assert recorder.streamed() == [CountTo(3)]
    assert recorder.buses == (requests, events)


async def test_filters_take_instances_of_the_class_subclasses_included() -> None:
    requests, events, _ = shop()
    with record(requests, events) as recorder:
        await requests.execute(GetUser(1))
        await requests.execute(GetAdmin(2))
        await events.publish(BigOrderPlaced(3), user="ada")
        await events.publish(OrderPlaced(4), user="ada")
        await events.publish(Shipped(5))
    # reserve_stock executes GetUser for each OrderPlaced: recorded in call order.
    assert recorder.executed(GetUser) == [GetUser(1), GetAdmin(2), GetUser(3), GetUser(4)]
    assert recorder.executed(GetAdmin) == [GetAdmin(2)]
    assert recorder.executed(PlaceOrder) == []
    assert recorder.published(OrderPlaced) == [BigOrderPlaced(3), OrderPlaced(4)]
    assert recorder.published(BigOrderPlaced) == [BigOrderPlaced(3)]
    assert recorder.published(object) == [BigOrderPlaced(3), OrderPlaced(4), Shipped(5)]
    assert recorder.published(GetUser) == []  # executed, not published
    assert recorder.streamed(CountTo) == []


def test_a_filter_given_an_instance_says_to_pass_the_class() -> None:
    recorder = record(LocalRequestBus())
    with pytest.raises(TypeError) as caught:
        recorder.executed(GetUser(1))  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Recorder.executed() takes a message class, not GetUser(user_id=1).\n"
        "Tip: pass the class, `executed(GetUser)`, or nothing for every message."
    )


async def test_kwargs_are_recorded_as_a_copy_of_what_the_call_passed() -> None:
    bus = LocalRequestBus()

    async def add_trace(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        kwargs["trace"] = "abc"  # a middleware changing the call's kwargs in place
        return await call_next(message, kwargs)

    @bus.register(modifiers=[add_trace])
    async def get_user(query: GetUser, tenant: str, trace: str) -> str:
        return f"{tenant} {trace}"

    given = {"tenant": "acme"}
    with record(bus) as recorder:
        assert await bus.execute(GetUser(1), **given) == "acme abc"
    given["tenant"] = "changed"
    (call,) = recorder.calls
    assert call.kwargs == {"tenant": "acme"}
    assert call.kwargs is not given


async def test_recording_changes_no_result_and_no_error() -> None:
    requests, events, _ = shop()

    @events.register
    async def fail(event: Shipped) -> None:
        raise Boom("no truck")

    with record(requests, events) as recorder:
        # execute() still returns the handler's coroutine, not awaited yet.
        pending = requests.execute(GetUser(1), tenant="acme")
        assert inspect.iscoroutine(pending)
        assert await pending == "user 1 of acme"
        missing = requests.execute(Shipped(1))  # errors surface when awaited, as unrecorded
        with pytest.raises(HandlerNotFoundError) as not_found:
            await missing
        assert not_found.value.message_type is Shipped
        with pytest.raises(MissingArgumentError) as no_user:
            await requests.execute(PlaceOrder(2))
        assert no_user.value.parameters == ("user",)
        with pytest.raises(PublishError) as failed:
            await events.publish(Shipped(3))
        assert [type(f.exception) for f in failed.value.failures] == [Boom]
        with pytest.raises(HandlerNotFoundError):
            requests.stream(OrderPlaced(4))  # raised by stream() itself, as unrecorded
    # Calls that fail are recorded too.
    assert [(call.method, call.message) for call in recorder.calls] == [
        ("execute", GetUser(1)),
        ("execute", Shipped(1)),
        ("execute", PlaceOrder(2)),
        ("publish", Shipped(3)),
        ("stream", OrderPlaced(4)),
    ]


async def test_the_handlers_own_exception_comes_through_unchanged() -> None:
    bus = LocalRequestBus()
    raised = Boom("no user")

    @bus.register
    async def get_user(query: GetUser) -> str:
        raise raised

    with record(bus), pytest.raises(Boom) as caught:
        await bus.execute(GetUser(1))
    assert caught.value is raised


async def test_nothing_is_left_behind_after_the_block_also_on_error() -> None:
    requests, events, _ = shop()
    before = {bus: state(bus) for bus in (requests, events)}
    with pytest.raises(Boom), record(requests, events) as recorder:
        assert "execute" in vars(requests) and "publish" in vars(events)
        await requests.execute(GetUser(1))
        raise Boom
    for bus in (requests, events):
        assert state(bus) == before[bus]
        assert not {"execute", "stream", "publish"} & set(vars(bus))
    assert requests.execute.__func__ is LocalRequestBus.execute  # type: ignore[attr-defined]
    await requests.execute(PlaceOrder(2), user="ada")  # after the block: not recorded
    assert recorder.calls == [RecordedCall(GetUser(1), {}, requests, "execute")]


async def test_only_the_recorded_buses_are_recorded() -> None:
    requests, _, _ = shop()
    other = LocalRequestBus()

    @other.register
    async def get_user(query: GetUser) -> str:
        return "other"

    with record(requests) as recorder:
        assert await other.execute(GetUser(1)) == "other"
        await requests.execute(PlaceOrder(2), user="ada")
        assert "execute" not in vars(other)
    # The events bus was not given: its publish is not recorded, its handler's execute is.
    assert recorder.calls == [
        RecordedCall(PlaceOrder(2), {"user": "ada"}, requests, "execute"),
        RecordedCall(GetUser(2), {}, requests, "execute"),
    ]


async def test_recorders_on_one_bus_start_and_stop_in_any_order() -> None:
    requests, _, _ = shop()
    with record(requests) as outer:
        await requests.execute(GetUser(1))
        with record(requests, requests) as inner:  # a bus given twice is recorded once
            await requests.execute(GetUser(2))
        await requests.execute(GetUser(3))
    assert outer.executed() == [GetUser(1), GetUser(2), GetUser(3)]
    assert inner.executed() == [GetUser(2)]
    assert inner.buses == (requests,)

    first, second = record(requests), record(requests)
    first.__enter__()
    second.__enter__()
    await requests.execute(GetUser(4))
    first.__exit__(None, None, None)  # the first one out is not the last one in
    await requests.execute(GetUser(5))
    second.__exit__(None, None, None)
    await requests.execute(GetUser(6))
    assert first.executed() == [GetUser(4)]
    assert second.executed() == [GetUser(4), GetUser(5)]
    assert not {"execute", "stream"} & set(vars(requests))


async def test_a_stand_in_set_before_recording_is_recorded_and_put_back() -> None:
    bus = LocalRequestBus()
    seen: list[object] = []

    async def stand_in(request: object, /, **kwargs: Any) -> str:
        seen.append(request)
        return "stand-in"

    bus.execute = stand_in  # type: ignore[method-assign,assignment]
    with record(bus) as recorder:
        assert await bus.execute(GetUser(1), tenant="acme") == "stand-in"
    assert vars(bus)["execute"] is stand_in
    assert seen == [GetUser(1)]
    assert recorder.calls == [RecordedCall(GetUser(1), {"tenant": "acme"}, bus, "execute")]


async def test_a_stand_in_set_while_recording_is_left_in_place() -> None:
    requests, _, _ = shop()

    async def stand_in(request: object, /, **kwargs: Any) -> str:
        return "stand-in"

    with record(requests) as recorder:
        tap = vars(requests)["execute"]
        requests.execute = stand_in  # type: ignore[method-assign,assignment]
    assert vars(requests)["execute"] is stand_in  # not the recorder's to remove
    requests.execute = tap  # type: ignore[method-assign]
    assert await requests.execute(GetUser(1)) == "user 1 of -"  # the tap only forwards now
    assert recorder.calls == []
    with record(requests) as again:
        await requests.execute(GetUser(2))
    assert again.executed() == [GetUser(2)]
    assert "execute" not in vars(requests)


async def test_a_recorder_records_once_at_a_time_and_can_resume() -> None:
    bus, _, _ = shop()
    recorder = record(bus)
    with recorder:
        await bus.execute(GetUser(1))
        with pytest.raises(RuntimeError) as caught, recorder:
            pass
        assert str(caught.value) == (
            "This recorder is already recording: a Recorder is entered once at a time.\n"
            "Tip: call record(bus) again for a second recorder."
        )
        await bus.execute(GetUser(2))
    with recorder:
        await bus.execute(GetUser(3))
    assert recorder.executed() == [GetUser(1), GetUser(2), GetUser(3)]
    assert repr(recorder) == "<Recorder stopped, 3 calls>"


def test_record_takes_buses_only() -> None:
    with pytest.raises(TypeError) as no_bus:
        record()
    assert str(no_bus.value) == (
        "record() needs at least one bus.\nTip: `with record(bus) as recorder: ...`."
    )
    with pytest.raises(TypeError) as registry:
        record(LocalRequestBus(), RequestHandlerRegistry())  # type: ignore[arg-type]
    assert str(registry.value) == (
        "record() takes LocalRequestBus and LocalEventBus objects; it was given a "
        "mediator.RequestHandlerRegistry.\n"
        "Tip: A registry does not dispatch: pass the bus that includes it."
    )
    with pytest.raises(TypeError) as none:
        record(None)  # type: ignore[arg-type]
    assert str(none.value).endswith(
        "it was given a NoneType.\nTip: Pass the bus your code dispatches through."
    )


async def test_an_aggregate_commit_is_recorded() -> None:
    events = LocalEventBus()
    got: list[OrderPlaced] = []

    @events.register
    async def on_placed(event: OrderPlaced, user: str) -> None:
        got.append(event)

    aggregate = EventAggregate().use(events)
    aggregate.enqueue(OrderPlaced(1), user="ada")
    aggregate.enqueue(OrderPlaced(2), user="bob")
    with record(events) as recorder:
        await aggregate.commit()
    assert got == [OrderPlaced(1), OrderPlaced(2)]
    assert recorder.calls == [
        RecordedCall(OrderPlaced(1), {"user": "ada"}, events, "publish"),
        RecordedCall(OrderPlaced(2), {"user": "bob"}, events, "publish"),
    ]


async def test_calls_from_a_worker_thread_handler_are_recorded() -> None:
    requests, events = LocalRequestBus(), LocalEventBus()
    shipped: list[Shipped] = []

    @requests.register(thread=True)
    def ship(command: PlaceOrder) -> int:
        for i in range(3):
            anyio.from_thread.run(events.publish, Shipped(command.order_id * 10 + i))
        return command.order_id

    @events.register
    async def on_shipped(event: Shipped) -> None:
        shipped.append(event)

    with record(requests, events) as recorder:
        async with anyio.create_task_group() as group:
            for n in (1, 2):
                group.start_soon(requests.execute, PlaceOrder(n))
    assert sorted(e.order_id for e in shipped) == [10, 11, 12, 20, 21, 22]
    assert sorted(recorder.executed(PlaceOrder), key=lambda c: c.order_id) == [
        PlaceOrder(1),
        PlaceOrder(2),
    ]
    # Each thread's publishes are in its order, after the execute that started it.
    calls = recorder.calls
    for n in (1, 2):
        mine = [
            i
            for i, call in enumerate(calls)
            if call.message in (PlaceOrder(n), *(Shipped(n * 10 + k) for k in range(3)))
        ]
        assert [calls[i].message for i in mine] == [
            PlaceOrder(n),
            Shipped(n * 10),
            Shipped(n * 10 + 1),
            Shipped(n * 10 + 2),
        ]


async def _await(pending: Any) -> None:
    await pending


async def test_calls_made_in_worker_threads_are_in_the_same_order_for_every_recorder() -> None:
    requests, events = LocalRequestBus(), LocalEventBus()
    got: list[Shipped] = []

    @requests.register(thread=True)
    def ship(command: PlaceOrder) -> None:
        for i in range(20):
            # publish() itself is called in this worker thread; the loop awaits the result.
            anyio.from_thread.run(_await, events.publish(Shipped(command.order_id * 100 + i)))

    @events.register
    async def on_shipped(event: Shipped) -> None:
        got.append(event)

    with record(events) as first, record(events, requests) as second:
        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(requests.execute, PlaceOrder(n))
    assert len(got) == 80
    published = second.published()
    assert first.published() == published
    assert sorted(published, key=lambda e: e.order_id) == sorted(got, key=lambda e: e.order_id)
    for n in range(4):  # each thread's calls in its own order
        mine = [e.order_id for e in published if e.order_id // 100 == n]
        assert mine == [n * 100 + i for i in range(20)]


async def test_concurrent_and_background_publishes_are_recorded() -> None:
    concurrent = LocalEventBus(strategy="concurrent")
    background = LocalEventBus(strategy="background")
    done = anyio.Event()

    @concurrent.register
    async def first(event: OrderPlaced) -> None:
        await background.publish(Shipped(event.order_id))

    @concurrent.register
    async def second(event: OrderPlaced) -> None:
        await anyio.lowlevel.checkpoint()

    @background.register
    async def on_shipped(event: Shipped) -> None:
        done.set()

    with record(concurrent, background) as recorder:
        async with background:
            await concurrent.publish(OrderPlaced(1))
            await done.wait()
    assert recorder.calls == [
        RecordedCall(OrderPlaced(1), {}, concurrent, "publish"),
        RecordedCall(Shipped(1), {}, background, "publish"),
    ]


# -- override: requests ---------------------------------------------------------------------


async def test_override_replaces_a_request_handler_and_restores_it() -> None:
    requests, _, _ = shop()
    seen: list[str] = []

    async def wrap(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        seen.append(call_next.handler.name.rsplit(".", 1)[-1])
        return await call_next(message, kwargs)

    bus = LocalRequestBus(modifiers=[wrap])
    bus.include(requests)
    bus.freeze()  # the main use: an application's frozen bus
    before = state(bus)

    async def fake_user(query: GetUser, tenant: str) -> str:
        return f"fake {query.user_id} of {tenant}"

    with override(bus, fake_user) as handler:
        assert handler.fn is fake_user and handler.message_types == (GetUser,)
        assert await bus.execute(GetUser(1), tenant="acme") == "fake 1 of acme"
        assert await bus.execute(PlaceOrder(2), user="ada") == 2  # other types unchanged
    assert await bus.execute(GetUser(3), tenant="acme") == "user 3 of acme"
    assert seen == ["fake_user", "place_order", "get_user"]  # the bus's modifiers wrap it too
    assert state(bus) == before


async def test_override_adds_a_request_handler_for_a_while() -> None:
    bus = LocalRequestBus()
    bus.freeze()

    def shipped(command: Shipped) -> str:  # a plain def is a handler too
        return f"shipped {command.order_id}"

    with override(bus, shipped):
        assert await bus.execute(Shipped(1)) == "shipped 1"
    with pytest.raises(HandlerNotFoundError):
        await bus.execute(Shipped(1))
    assert bus._table == {} and bus._calls == {}


async def test_override_of_a_stream_replaces_the_stream_handler_only() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def count(request: CountTo) -> int:
        return request.n

    @bus.register
    async def count_up(request: CountTo) -> AsyncIterator[int]:
        for i in range(request.n):
            yield i

    bus.freeze()
    before = state(bus)

    async def count_down(request: CountTo, step: int = 1) -> AsyncIterator[int]:
        for i in range(request.n, 0, -step):
            yield i

    with override(bus, count_down):
        assert [i async for i in bus.stream(CountTo(4), step=2)] == [4, 2]
        assert await bus.execute(CountTo(4)) == 4
    assert [i async for i in bus.stream(CountTo(3))] == [0, 1, 2]
    assert state(bus) == before


async def test_override_with_thread_and_policies_options() -> None:
    bus = LocalRequestBus(policies=[MethodHandlerPolicy(name="handle")])

    class Users:
        async def handle(self, query: GetUser) -> str:
            return "users"

    bus.register(Users())

    class FakeUsers:
        async def handle(self, query: GetUser) -> str:
            return "fake users"

    with override(bus, FakeUsers()):  # the bus's policies find the method
        assert await bus.execute(GetUser(1)) == "fake users"

    def in_thread(query: GetUser) -> str:
        return "thread"

    with override(bus, in_thread, policies=[CallableHandlerPolicy()], thread=True) as handler:
        assert handler.kind == "thread"
        assert await bus.execute(GetUser(1)) == "thread"
    assert await bus.execute(GetUser(1)) == "users"


async def test_routes_cached_for_subclasses_are_dropped_on_entry_and_exit() -> None:
    requests, events, log = shop()
    requests.freeze()
    events.freeze()
    # Cached before the override: GetAdmin goes to GetUser's handler, by inheritance.
    assert await requests.execute(GetAdmin(1)) == "user 1 of -"
    await events.publish(BigOrderPlaced(1), user="ada")

    async def fake_user(query: GetUser) -> str:
        return "fake"

    async def quiet(event: OrderPlaced) -> None:
        log.append("quiet")

    log.clear()
    with override(requests, fake_user), override(events, quiet):
        assert await requests.execute(GetAdmin(2)) == "fake"
        await events.publish(BigOrderPlaced(2), user="ada")  # cached anew, for the override
        assert log == ["quiet"]
    log.clear()
    assert await requests.execute(GetAdmin(3)) == "user 3 of -"
    await events.publish(BigOrderPlaced(3), user="ada")
    assert log == ["get_user 3", "reserve_stock 3", "get_user 3", "send_mail 3 to ada"]


async def test_override_restores_the_bus_when_the_block_fails() -> None:
    requests, _, _ = shop()
    requests.freeze()
    before = state(requests)

    async def fake_user(query: GetUser) -> str:
        raise Boom("inside")

    with pytest.raises(Boom), override(requests, fake_user):
        await requests.execute(GetUser(1))
    assert state(requests) == before
    assert await requests.execute(GetUser(1)) == "user 1 of -"


async def test_overrides_nest_and_end_in_any_order() -> None:
    requests, _, _ = shop()
    requests.freeze()
    before = state(requests)

    async def first(query: GetUser) -> str:
        return "first"

    async def second(query: GetUser) -> str:
        return "second"

    async def orders(command: PlaceOrder) -> int:
        return -1

    with override(requests, first):
        with override(requests, second), override(requests, orders):
            assert await requests.execute(GetUser(1)) == "second"
            assert await requests.execute(PlaceOrder(1)) == -1
        assert await requests.execute(GetUser(1)) == "first"
        assert await requests.execute(PlaceOrder(1), user="ada") == 1
    assert state(requests) == before

    outer, inner = override(requests, first), override(requests, second)
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # ends while `second` still hides it
    assert await requests.execute(GetUser(1)) == "second"
    inner.__exit__(None, None, None)
    assert await requests.execute(GetUser(1)) == "user 1 of -"
    assert state(requests) == before


async def test_a_union_handler_is_replaced_for_the_overridden_type_only() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def either(query: GetUser | PlaceOrder) -> str:
        return "either"

    async def users(query: GetUser) -> str:
        return "users"

    async def both(query: GetUser | PlaceOrder) -> str:
        return "both"

    before = state(bus)
    with override(bus, users):
        assert await bus.execute(GetUser(1)) == "users"
        assert await bus.execute(PlaceOrder(1)) == "either"
    assert await bus.execute(GetUser(1)) == "either"
    assert state(bus) == before
    with override(bus, both) as handler:
        assert handler.message_types == (GetUser, PlaceOrder)
        assert await bus.execute(GetUser(1)) == await bus.execute(PlaceOrder(1)) == "both"
    assert state(bus) == before


def test_an_override_is_in_effect_once_at_a_time() -> None:
    bus = LocalRequestBus()

    async def users(query: GetUser) -> str:
        return "users"

    replaced = override(bus, users)
    with replaced:
        with pytest.raises(RuntimeError) as caught, replaced:
            pass
        assert str(caught.value).startswith("This override of test_testing_kit.")
        assert "is already in effect.\nTip: enter each override() once at a time." in str(
            caught.value
        )
    with replaced:  # and again, after it ended
        assert bus._table[GetUser][0].handler.fn is users
    assert bus._table == {}


# -- override: events ------------------------------------------------------------------------


async def test_override_replaces_every_handler_of_that_exact_event_type() -> None:
    events = LocalEventBus()
    log: list[str] = []

    @events.register
    async def reserve_stock(event: OrderPlaced) -> None:
        log.append("reserve_stock")

    @events.register
    async def send_mail(event: OrderPlaced) -> None:
        log.append("send_mail")

    @events.register
    async def audit(event: object) -> None:
        log.append("audit")

    events.freeze()
    before = state(events)

    async def only(event: OrderPlaced, user: str) -> None:
        log.append(f"only, for {user}")

    with override(events, only):
        await events.publish(OrderPlaced(1), user="ada")
        await events.publish(BigOrderPlaced(1), user="ada")
    assert log == ["only, for ada", "audit"] * 2  # a base class's handlers still run
    log.clear()
    await events.publish(OrderPlaced(2))
    assert log == ["reserve_stock", "send_mail", "audit"]
    assert state(events) == before


async def test_an_event_handler_registered_during_an_override_stays() -> None:
    events = LocalEventBus()
    log: list[str] = []

    @events.register
    async def reserve_stock(event: OrderPlaced) -> None:
        log.append("reserve_stock")

    async def only(event: OrderPlaced) -> None:
        log.append("only")

    with override(events, only):

        @events.register
        async def late(event: OrderPlaced) -> None:
            log.append("late")

        await events.publish(OrderPlaced(1))
    await events.publish(OrderPlaced(2))
    assert log == ["only", "late", "reserve_stock", "late"]
    assert [e.handler.fn for e in events._table[OrderPlaced]] == [reserve_stock, late]
    assert only not in [e.handler.fn for e in events._calls]


async def test_handlers_not_resolved_yet_are_routed_before_the_override() -> None:
    events = LocalEventBus()
    log: list[str] = []

    async def later(event: LateEvent) -> None:  # type: ignore[name-defined]  # noqa: F821
        log.append("later")

    events.register(later)  # `LateEvent` is not defined yet
    assert events._pending

    async def only(event: OrderPlaced) -> None:
        log.append("only")

    late_event = type("LateEvent", (), {"__module__": __name__})
    globals()["LateEvent"] = late_event
    try:
        with override(events, only):
            assert not events._pending  # routed first, as a dispatch would
            await events.publish(late_event())
            await events.publish(OrderPlaced(1))
        await events.publish(late_event())
        assert log == ["later", "only", "later"]
    finally:
        del globals()["LateEvent"]


def test_a_handler_that_cannot_be_resolved_fails_at_override_entry() -> None:
    events = LocalEventBus()

    async def never(event: NeverDefined) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    events.register(never)

    async def only(event: OrderPlaced) -> None:
        pass

    before = state(events)
    with pytest.raises(UnresolvedAnnotationError) as caught, override(events, only):
        pass
    assert caught.value.name == "NeverDefined"
    assert "override() routes the handlers not resolved yet first" in caught.value.__notes__
    assert state(events) == before


# -- override: mistakes ----------------------------------------------------------------------


def test_a_wrong_handler_raises_the_registration_error_and_changes_nothing() -> None:
    requests, events, _ = shop()
    requests.freeze()
    before = state(requests)

    async def unannotated(query, tenant: str) -> str:  # type: ignore[no-untyped-def]
        return "?"

    with pytest.raises(RegistrationError) as caught, override(requests, unannotated):
        pass
    error = caught.value
    assert (error.problem, error.obj, error.parameter, error.registry) == (
        "unannotated",
        unannotated,
        "query",
        "request",
    )
    assert re.fullmatch(rf"test_testing_kit\.[\w.<>]*unannotated \([^)]*{HERE}:\d+\)", error.where)
    assert str(error) == (
        f"Cannot register {error.where}: its message parameter 'query' has no type "
        f"annotation.\nTip: Annotate it with the message class, `query: GetUser`: the bus "
        f"routes each message by that annotation."
    )
    assert state(requests) == before

    async def stream(event: OrderPlaced) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(RegistrationError) as on_events:
        override(events, stream)
    assert (on_events.value.problem, on_events.value.registry) == ("stream-on-event-bus", "event")
    with pytest.raises(RegistrationError) as a_lambda:
        override(events, lambda event: None)
    assert a_lambda.value.problem == "lambda"


def test_wrong_options_and_annotations_fail_as_register_does() -> None:
    bus = LocalRequestBus()

    async def users(query: GetUser) -> str:
        return "users"

    with pytest.raises(ConfigurationError) as thread:
        override(bus, users, thread=True, abandon_on_cancel=1)  # type: ignore[arg-type]
    assert (thread.value.where, thread.value.option) == ("override()", "abandon_on_cancel")
    with pytest.raises(RegistrationError) as on_async:
        override(bus, users, thread=True)
    assert on_async.value.problem == "thread-on-async"

    async def typo(query: GetUsr) -> str:  # type: ignore[name-defined]  # noqa: F821
        return "?"

    with pytest.raises(UnresolvedAnnotationError) as unresolved:
        override(bus, typo)
    assert (unresolved.value.name, unresolved.value.suggestion) == ("GetUsr", "GetUser")
    assert bus._table == {} and bus._calls == {}


def test_override_takes_a_bus() -> None:
    async def users(query: GetUser) -> str:
        return "users"

    with pytest.raises(TypeError) as caught:
        override(RequestHandlerRegistry(), users)  # type: ignore[arg-type]
    assert str(caught.value).endswith(
        "\nTip: A registry does not dispatch: pass the bus that includes it."
    )
    assert str(caught.value).startswith("override() takes a LocalRequestBus or a LocalEventBus")


# -- override: providers and expect() ---------------------------------------------------------


async def test_an_override_gets_the_bus_providers() -> None:
    bus = LocalRequestBus()
    log: list[str] = []

    @bus.provide("session")
    def session() -> Iterator[str]:
        log.append("open")
        try:
            yield "session"
        except Boom:
            log.append("rollback")
            raise
        log.append("close")

    @bus.register
    async def get_user(query: GetUser, session: str) -> str:
        return f"real with {session}"

    bus.freeze()

    async def fake_user(query: GetUser, session: str) -> str:
        if query.user_id < 0:
            raise Boom
        return f"fake with {session}"

    with override(bus, fake_user):
        assert await bus.execute(GetUser(1)) == "fake with session"
        with pytest.raises(Boom):
            await bus.execute(GetUser(-1))
    assert log == ["open", "close", "open", "rollback"]
    assert await bus.execute(GetUser(1)) == "real with session"


def test_an_override_needing_an_undeclared_argument_fails_as_freeze_would() -> None:
    bus = LocalRequestBus()
    bus.expect("user")

    @bus.register
    async def get_user(query: GetUser, user: str) -> str:
        return user

    bus.freeze()
    before = state(bus)

    async def fake_user(query: GetUser, user: str, tenant: str) -> str:
        return user

    with pytest.raises(MissingArgumentError) as caught:
        override(bus, fake_user)
    error = caught.value
    assert (error.handler.fn, error.parameters, error.declared, error.given) == (
        fake_user,
        ("tenant",),
        True,
        ("user",),
    )
    assert str(error).startswith(f"{error.handler.described} needs the argument 'tenant'")
    assert state(bus) == before

    async def fine(query: GetUser, user: str) -> str:
        return "fine"

    with override(bus, fine):
        pass


async def test_what_an_override_would_hide_or_be_undone_by_is_refused_meanwhile() -> None:
    from mediator import RequestHandlerRegistry
    from mediator.errors import BusStateError

    bus = LocalRequestBus()

    @dataclass
    class Ask(Request[str]):
        pass

    @bus.register
    async def real(query: Ask, db: str = "none") -> str:
        return "real " + db

    async def fake(query: Ask, db: str = "none") -> str:
        return "fake " + db

    carrying = RequestHandlerRegistry()
    carrying.provide("db", lambda: "provided")

    async def later(query: DefinedLater) -> str:  # noqa: F821 - defined later, or never
        return "later"

    with override(bus, fake):
        with pytest.raises(BusStateError) as caught:
            bus.provide("db", lambda: "provided")
        assert (caught.value.problem, caught.value.owner) == ("overridden", "LocalRequestBus")
        assert str(caught.value) == (
            "LocalRequestBus cannot take this while a mediator.testing.override() is in effect "
            "on it: a provider would not reach the override, and a handler whose annotation is "
            "routed later would undo it.\n"
            "Tip: Add providers, and handlers annotated with classes defined later, before "
            "entering override(), or after its block."
        )
        with pytest.raises(BusStateError):
            bus.include(carrying)
        with pytest.raises(BusStateError):
            bus.register(later)
        assert await bus.execute(Ask()) == "fake none"
    assert [handler.fn for handler in bus.handlers] == [real]
    bus.provide("db", lambda: "provided")  # after the block: fine
    assert await bus.execute(Ask()) == "real provided"
