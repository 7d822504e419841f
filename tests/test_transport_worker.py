"""The worker: a consumer group's entries back into ``bus.publish``, acked once handled."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from mediator import LocalEventBus
from mediator.errors import ConfigurationError
from mediator.transports import Delivery, Encoded, Envelope, MemoryEngine, Worker, new_id


@dataclass
class Placed:
    order: int


class PlacedCodec:
    """A codec for one event type: enough for the worker's tests."""

    content_type = "application/json"

    def encode(self, event: object) -> Encoded:
        assert isinstance(event, Placed)
        return Encoded("orders.placed", 1, json.dumps({"order": event.order}).encode())

    def decode(self, type: str, version: int, payload: bytes) -> object:
        if type != "orders.placed":
            raise LookupError(f"unknown event type {type!r}")
        return Placed(**json.loads(payload))


def envelope(order: int, *, type: str = "orders.placed", payload: bytes | None = None) -> Envelope:
    body = json.dumps({"order": order}).encode() if payload is None else payload
    return Envelope(new_id(), type, 1, datetime.now(UTC), body)


async def until(condition: Any, engine: MemoryEngine | None = None) -> None:
    """Wait for ``condition()``, checking at each scheduling round (never a timed sleep)."""
    with anyio.fail_after(10):
        while not condition():
            await anyio.lowlevel.checkpoint()


class Clock:
    """The engine's clock, moved by the test: a failed entry comes back when it says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def worker_of(engine: MemoryEngine, bus: LocalEventBus, **options: Any) -> Worker:
    settings: dict[str, Any] = {"group": "billing", "consumer": "billing-1", "block": 0.05}
    settings.update(options)
    return Worker(engine, PlacedCodec(), bus, streams="orders", **settings)


async def test_events_reach_the_handlers_with_their_delivery_and_are_acked() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    seen: list[tuple[int, Delivery]] = []

    @bus.register
    async def on_placed(event: Placed, delivery: Delivery, tenant: str) -> None:
        assert tenant == "acme"
        seen.append((event.order, delivery))

    sent = [envelope(n) for n in range(5)]
    await engine.append("orders", sent)
    worker = worker_of(engine, bus, kwargs={"tenant": "acme"})
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 5)
        group.cancel_scope.cancel()
    assert sorted(order for order, _ in seen) == [0, 1, 2, 3, 4]  # concurrent: any order
    first = next(delivery for order, delivery in seen if order == 0)
    assert (first.event_id, first.attempt, first.stream, first.group, first.consumer) == (
        sent[0].id,
        1,
        "orders",
        "billing",
        "billing-1",
    )
    assert (first.type, first.version) == ("orders.placed", 1)
    assert await engine.pending_count("orders", "billing") == 0


async def test_a_failing_handler_is_retried_until_it_succeeds() -> None:
    clock = Clock()
    engine = MemoryEngine(clock=clock)
    bus = LocalEventBus()
    attempts: list[int] = []

    @bus.register
    async def flaky(event: Placed, delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise ConnectionError("the mail server is down")

    await engine.append("orders", [envelope(1)])
    worker = worker_of(engine, bus, claim_after=30.0)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        for failures in (1, 2):
            await until(lambda: worker.stats().failed == failures)  # noqa: B023
            clock.advance(31)  # past claim_after: the entry is claimed again
        await until(lambda: worker.stats().acked == 1)
        group.cancel_scope.cancel()
    assert attempts == [1, 2, 3]
    stats = worker.stats()
    assert (stats.failed, stats.dead_lettered, stats.in_flight) == (2, 0, 0)
    assert await engine.pending_count("orders", "billing") == 0


async def test_a_poison_event_is_dead_lettered_while_the_others_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    engine = MemoryEngine(clock=clock)
    bus = LocalEventBus()
    handled: list[int] = []

    @bus.register
    async def on_placed(event: Placed) -> None:
        if event.order == 13:
            raise ValueError("order 13 is cursed")
        handled.append(event.order)

    await engine.append("orders", [envelope(n) for n in (12, 13, 14)])
    worker = worker_of(engine, bus, claim_after=30.0, max_deliveries=3)
    with caplog.at_level(logging.ERROR, logger="mediator.transports"):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            for failures in (1, 2):
                await until(lambda: worker.stats().failed == failures)  # noqa: B023
                clock.advance(31)
            await until(lambda: worker.stats().dead_lettered == 1)
            group.cancel_scope.cancel()
    assert sorted(handled) == [12, 14]
    (dead,) = await engine.dead_letters("orders")
    assert (dead.group, dead.attempts) == ("billing", 3)
    assert dead.reason == (
        "failed 3 times: test_transport_worker.test_a_poison_event_is_dead_lettered_while_the_"
        "others_flow.<locals>.on_placed raised ValueError: order 13 is cursed"
    )
    assert await engine.pending_count("orders", "billing") == 0
    assert "moved to orders:dead after 3 deliveries" in caplog.text


async def test_an_entry_that_cannot_be_decoded_is_dead_lettered_at_once() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    handled: list[int] = []

    @bus.register
    async def on_placed(event: Placed) -> None:
        handled.append(event.order)

    await engine.append("orders", [envelope(1, type="orders.unknown"), envelope(2)])
    worker = worker_of(engine, bus)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 1 and worker.stats().dead_lettered == 1)
        group.cancel_scope.cancel()
    assert handled == [2]
    (dead,) = await engine.dead_letters("orders")
    assert dead.attempts == 1
    assert dead.reason == "cannot be decoded: LookupError: unknown event type 'orders.unknown'"


async def test_stopping_lets_handlers_in_flight_finish_and_acks_them() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    started, release = anyio.Event(), anyio.Event()
    done: list[int] = []

    @bus.register
    async def slow(event: Placed) -> None:
        started.set()
        await release.wait()
        done.append(event.order)

    await engine.append("orders", [envelope(1)])
    worker = worker_of(engine, bus, grace=10.0)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await started.wait()
        group.cancel_scope.cancel()  # the worker stops reading, and waits for `slow`...
        group.start_soon(_set_later, release)  # ...which finishes during the grace period
    assert done == [1]
    assert worker.stats().acked == 1
    assert await engine.pending_count("orders", "billing") == 0


async def _set_later(event: anyio.Event) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.lowlevel.checkpoint()
        event.set()


async def test_past_the_grace_period_handlers_are_stopped_and_left_pending() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    started = anyio.Event()
    seen: list[int] = []

    @bus.register
    async def stuck(event: Placed, delivery: Delivery) -> None:
        seen.append(delivery.attempt)
        if delivery.attempt == 1:
            started.set()
            await anyio.sleep_forever()

    await engine.append("orders", [envelope(1)])
    worker = worker_of(engine, bus, grace=0.0)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await started.wait()
        group.cancel_scope.cancel()
    assert worker.stats().acked == 0
    assert await engine.pending_count("orders", "billing") == 1

    # Restarted under the same name, the worker resumes its own pending entry first.
    again = worker_of(engine, bus)
    async with anyio.create_task_group() as group:
        group.start_soon(again.run)
        await until(lambda: again.stats().acked == 1)
        group.cancel_scope.cancel()
    assert seen == [1, 2]
    assert await engine.pending_count("orders", "billing") == 0


async def test_every_group_gets_every_event() -> None:
    engine = MemoryEngine()
    got: dict[str, list[int]] = {"billing": [], "shipping": []}
    workers = []
    for group_name in got:
        bus = LocalEventBus()

        @bus.register
        async def on_placed(event: Placed, delivery: Delivery) -> None:
            got[delivery.group].append(event.order)

        workers.append(worker_of(engine, bus, group=group_name, consumer=f"{group_name}-1"))
    await engine.append("orders", [envelope(n) for n in range(3)])
    async with anyio.create_task_group() as group:
        for worker in workers:
            group.start_soon(worker.run)
        await until(lambda: all(worker.stats().acked == 3 for worker in workers))
        group.cancel_scope.cancel()
    assert {group: sorted(orders) for group, orders in got.items()} == {
        "billing": [0, 1, 2],
        "shipping": [0, 1, 2],
    }


async def test_one_handler_task_handles_in_stream_order() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    seen: list[int] = []

    @bus.register
    async def on_placed(event: Placed) -> None:
        seen.append(event.order)

    await engine.append("orders", [envelope(n) for n in range(20)])
    worker = worker_of(engine, bus, max_in_flight=1)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 20)
        group.cancel_scope.cancel()
    assert seen == list(range(20))


async def test_events_with_one_partition_key_run_in_order_others_alongside() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    release = anyio.Event()
    started: list[tuple[str | None, int]] = []

    @bus.register
    async def on_placed(event: Placed, delivery: Delivery) -> None:
        key = "a" if event.order < 10 else ("b" if event.order < 20 else None)
        started.append((key, event.order))
        if event.order == 0:  # the first of key "a" holds the others of "a" back
            await release.wait()

    def keyed(order: int) -> Envelope:
        key = "a" if order < 10 else ("b" if order < 20 else None)
        body = json.dumps({"order": order}).encode()
        return Envelope(new_id(), "orders.placed", 1, datetime.now(UTC), body, key=key)

    orders = [
        n for three in zip(range(4), range(10, 14), range(20, 24), strict=True) for n in three
    ]
    await engine.append("orders", [keyed(n) for n in orders])
    worker = worker_of(engine, bus, max_in_flight=8)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 8)  # key "b" and no key: not held back
        assert [order for key, order in started if key == "a"] == [0]
        release.set()
        await until(lambda: worker.stats().acked == 12)
        group.cancel_scope.cancel()
    for key in ("a", "b"):
        assert [order for k, order in started if k == key] == sorted(
            order for k, order in started if k == key
        )


def test_a_background_bus_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Worker(
            MemoryEngine(),
            PlacedCodec(),
            LocalEventBus(strategy="background"),
            streams="orders",
            group="g",
        )
    assert (caught.value.problem, caught.value.option) == ("worker-background", "bus")
    assert "\nTip: A worker acks an entry once every handler is done" in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("batch", 0, "worker-count"),
        ("max_deliveries", True, "worker-count"),
        ("max_in_flight", 1.5, "worker-count"),
        ("block", -1, "worker-seconds"),
        ("claim_after", float("nan"), "worker-seconds"),
        ("streams", [], "worker-streams"),
    ],
)
def test_wrong_options_are_refused(option: str, value: object, problem: str) -> None:
    options: dict[str, Any] = {"streams": "orders", "group": "g", option: value}
    with pytest.raises(ConfigurationError) as caught:
        Worker(MemoryEngine(), PlacedCodec(), LocalEventBus(), **options)
    assert (caught.value.problem, caught.value.option, caught.value.where) == (
        problem,
        option,
        "Worker()",
    )
    assert "\nTip: " in str(caught.value)


async def test_own_pending_entries_beyond_one_batch_are_each_read_once() -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    attempts: dict[int, list[int]] = {}
    release = anyio.Event()

    @bus.register
    async def on_placed(event: Placed, delivery: Delivery) -> None:
        attempts.setdefault(event.order, []).append(delivery.attempt)
        await release.wait()  # all in flight while the worker reads its pending list

    await engine.ensure_group("orders", "billing")
    await engine.append("orders", [envelope(n) for n in range(30)])
    await engine.read_new(["orders"], "billing", "billing-1", count=30, block=0)  # a crash
    worker = worker_of(engine, bus, batch=10, max_in_flight=4)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: len(attempts) == 4)
        release.set()
        await until(lambda: worker.stats().acked == 30)
        group.cancel_scope.cancel()
    assert attempts == {n: [2] for n in range(30)}  # read once, not once per loop
    assert (worker.stats().dead_lettered, await engine.pending_count("orders", "billing")) == (
        0,
        0,
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio's Cancelled cannot be raised
async def test_a_handler_raising_a_stray_cancellation_fails_and_the_worker_goes_on() -> None:
    import asyncio

    engine = MemoryEngine()
    bus = LocalEventBus()
    handled: list[int] = []

    @bus.register
    async def on_placed(event: Placed) -> None:
        if event.order < 3:
            raise asyncio.CancelledError()  # e.g. it awaited a task something else cancelled
        handled.append(event.order)

    await engine.append("orders", [envelope(n) for n in range(8)])
    worker = worker_of(engine, bus, max_in_flight=2)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 5 and worker.stats().failed == 3)
        group.cancel_scope.cancel()
    assert sorted(handled) == [3, 4, 5, 6, 7]  # the handler tasks all survived
    assert await engine.pending_count("orders", "billing") == 3  # back after claim_after


async def test_a_worker_runs_once_at_a_time() -> None:
    engine = MemoryEngine()
    worker = worker_of(engine, LocalEventBus())
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker._running)
        with pytest.raises(ConfigurationError) as caught:
            await worker.run()
        group.cancel_scope.cancel()
    assert caught.value.problem == "worker-running"
    assert "is running already: one Worker runs once at a time" in str(caught.value)
    async with anyio.create_task_group() as group:  # and again, once it stopped
        group.start_soon(worker.run)
        await until(lambda: worker._running)
        group.cancel_scope.cancel()


async def test_an_engine_down_at_start_is_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    engine = MemoryEngine()
    bus = LocalEventBus()
    seen: list[int] = []

    @bus.register
    async def on_placed(event: Placed) -> None:
        seen.append(event.order)

    await engine.append("orders", [envelope(1)])
    engine.fail(ConnectionError("still starting"))
    worker = worker_of(engine, bus)
    with caplog.at_level(logging.WARNING, logger="mediator.transports"):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await until(lambda: "still starting" in caplog.text)
            engine.recover()
            await until(lambda: worker.stats().acked == 1)
            group.cancel_scope.cancel()
    assert seen == [1]
    assert "Worker billing-1 could not read orders (ConnectionError: still starting)" in caplog.text


@pytest.mark.parametrize(
    ("options", "problem", "option"),
    [
        ({"group": ""}, "worker-name", "group"),
        ({"consumer": 7}, "worker-name", "consumer"),
        ({"claim_after": 0}, "worker-claim-after", "claim_after"),
        ({"kwargs": {"delivery": None}}, "worker-kwargs", "kwargs"),
    ],
)
def test_set_up_mistakes_are_refused(options: dict[str, Any], problem: str, option: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        worker_of(MemoryEngine(), LocalEventBus(), **options)
    assert (caught.value.problem, caught.value.option) == (problem, option)
    assert "Tip:" in str(caught.value)


def test_a_codec_without_decode_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Worker(MemoryEngine(), object(), LocalEventBus(), streams="orders", group="g")  # type: ignore[arg-type]
    assert (caught.value.problem, caught.value.option) == ("worker-codec", "codec")
    assert str(caught.value).endswith(
        "has no decode() method.\nTip: Pass a codec such as JsonCodec(types): "
        "decode(type, version, payload)."
    )


class CountingEngine(MemoryEngine):
    """Counts the calls the worker makes: acks (and their sizes), claims and reads."""

    def __init__(self) -> None:
        super().__init__()
        self.acks: list[int] = []
        self.claims = 0
        self.reads = 0

    async def ack(self, stream: str, group: str, entry_ids: Any) -> None:
        self.acks.append(len(entry_ids))
        await super().ack(stream, group, entry_ids)

    async def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.claims += 1
        return await super().claim(*args, **kwargs)

    async def read_new(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await super().read_new(*args, **kwargs)


async def test_entries_finishing_together_are_acked_in_one_call() -> None:
    engine = CountingEngine()
    bus = LocalEventBus()

    @bus.register
    async def on_placed(event: Placed) -> None:
        return None

    await engine.append("orders", [envelope(n) for n in range(40)])
    worker = worker_of(engine, bus, batch=40, max_in_flight=8)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 40)
        group.cancel_scope.cancel()
    assert sum(engine.acks) == 40
    assert len(engine.acks) <= 3  # not one call per entry, nor one per handler task
    assert await engine.pending_count("orders", "billing") == 0


async def test_idle_entries_are_looked_for_a_few_times_per_claim_after_not_per_read() -> None:
    engine = CountingEngine()
    bus = LocalEventBus()

    @bus.register
    async def on_placed(event: Placed) -> None:
        return None

    await engine.append("orders", [envelope(n) for n in range(50)])
    worker = worker_of(engine, bus, batch=5, block=0, claim_after=600)  # looks every 1 s
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await until(lambda: worker.stats().acked == 50)
        group.cancel_scope.cancel()
    assert engine.reads >= 10
    assert engine.claims < engine.reads / 2
