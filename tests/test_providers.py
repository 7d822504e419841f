"""Providers: per-call values filled by parameter name, with teardown, chains and checks."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from mediator import (
    EventAggregate,
    EventHandlerRegistry,
    LocalEventBus,
    LocalRequestBus,
    MissingArgumentError,
    Next,
    Request,
    RequestHandlerRegistry,
    StreamRequest,
    around,
)
from mediator.errors import BusStateError, ConfigurationError, ProviderError, PublishError


@dataclass
class Get(Request[str]):
    id: int = 1


@dataclass
class Count(StreamRequest[int]):
    n: int = 3


@dataclass
class Placed:
    order: int = 1


class Boom(Exception):
    pass


def session_factory(log: list[str]) -> Any:
    """An async generator provider that logs how it is set up and torn down."""

    async def session() -> AsyncIterator[str]:
        log.append("open")
        try:
            yield "session"
        except Exception as error:
            log.append(f"rollback {error!r}")
            raise
        else:
            log.append("commit")
        finally:
            log.append("close")

    return session


# -- the four kinds of factory --------------------------------------------------------------


async def test_each_kind_of_factory_fills_its_parameter() -> None:
    bus = LocalRequestBus()

    class Clock:
        def __init__(self) -> None:
            self.now = 42

    async def make_tenant() -> str:
        return "acme"

    def make_user() -> Iterator[str]:
        yield "ada"

    bus.provide("clock", Clock)
    bus.provide("tenant", make_tenant)
    bus.provide("user", make_user)
    bus.provide("session", session_factory([]))

    @bus.register
    async def get(query: Get, clock: Clock, tenant: str, user: str, session: str) -> str:
        return f"{clock.now} {tenant} {user} {session}"

    assert await bus.execute(Get()) == "42 acme ada session"


async def test_a_def_returning_a_coroutine_is_awaited() -> None:
    bus = LocalRequestBus()

    async def make() -> str:
        return "made"

    bus.provide("value", lambda: make())

    @bus.register
    async def get(query: Get, value: str) -> str:
        return value

    assert await bus.execute(Get()) == "made"


async def test_provide_as_a_decorator_returns_the_factory() -> None:
    bus = LocalRequestBus()

    @bus.provide("user")
    def current_user() -> str:
        return "ada"

    assert current_user() == "ada"

    @bus.register
    async def get(query: Get, user: str) -> str:
        return user

    assert await bus.execute(Get()) == "ada"


# -- teardown -------------------------------------------------------------------------------


async def test_a_generator_tears_down_after_the_handler_in_reverse_order() -> None:
    log: list[str] = []
    bus = LocalRequestBus()

    def engine() -> Iterator[str]:
        log.append("engine up")
        yield "engine"
        log.append("engine down")

    async def session(engine: str) -> AsyncIterator[str]:
        log.append(f"session up on {engine}")
        yield "session"
        log.append("session down")

    bus.provide("engine", engine)
    bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        log.append("handler")
        return session

    assert await bus.execute(Get()) == "session"
    assert log == ["engine up", "session up on engine", "handler", "session down", "engine down"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_handlers_exception_is_thrown_in_at_the_yield(kind: str) -> None:
    log: list[str] = []
    bus = LocalRequestBus()
    if kind == "async":
        bus.provide("session", session_factory(log))
    else:

        def session() -> Iterator[str]:
            try:
                yield "session"
            except Exception as error:
                log.append(f"rollback {error!r}")
                raise
            finally:
                log.append("close")

        bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        raise Boom("no stock")

    with pytest.raises(Boom, match="no stock"):
        await bus.execute(Get())
    assert "rollback Boom('no stock')" in log
    assert log[-1] == "close"


async def test_a_teardown_error_never_hides_the_handlers_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = LocalRequestBus()

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        finally:
            raise RuntimeError("rollback failed")

    bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        raise Boom("the real cause")

    with caplog.at_level(logging.ERROR, logger="mediator"), pytest.raises(Boom) as caught:
        await bus.execute(Get())
    notes = caught.value.__notes__
    assert len(notes) == 1
    assert re.fullmatch(
        r"then the teardown of the provider 'session' \(test_providers\..*session "
        r"\(tests/test_providers\.py:\d+\)\) raised RuntimeError: rollback failed",
        notes[0],
    )
    (record,) = caplog.records
    assert record.exc_info is not None and str(record.exc_info[1]) == "rollback failed"


async def test_a_frozen_handler_error_still_wins_over_a_teardown_error() -> None:
    @dataclass(frozen=True)
    class Frozen(Exception):
        code: int

    bus = LocalRequestBus()

    def session() -> Iterator[str]:
        try:
            yield "session"
        finally:
            raise RuntimeError("teardown")

    bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        raise Frozen(7)

    with pytest.raises(Frozen) as caught:
        await bus.execute(Get())
    assert caught.value.code == 7


async def test_a_generator_cannot_swallow_the_handlers_error() -> None:
    bus = LocalRequestBus()

    async def session() -> AsyncIterator[str]:
        with contextlib.suppress(Boom):  # swallowed: the call still has no result to return
            yield "session"

    bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        raise Boom

    with pytest.raises(Boom):
        await bus.execute(Get())


async def test_a_teardown_error_after_success_is_the_calls_error() -> None:
    log: list[str] = []
    bus = LocalRequestBus()

    def engine() -> Iterator[str]:
        try:
            yield "engine"
        except RuntimeError as error:
            log.append(f"engine saw {error}")
            raise

    async def session(engine: str) -> AsyncIterator[str]:
        yield "session"
        raise RuntimeError("commit failed")

    bus.provide("engine", engine)
    bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        return "done"

    with pytest.raises(RuntimeError, match="commit failed"):
        await bus.execute(Get())
    assert log == ["engine saw commit failed"]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_generator_must_yield_exactly_once(kind: str) -> None:
    bus = LocalRequestBus()
    if kind == "sync":

        def never() -> Iterator[str]:
            return
            yield

        def twice() -> Iterator[str]:
            yield "a"
            yield "b"
    else:

        async def never() -> AsyncIterator[str]:  # type: ignore[misc]
            return
            yield

        async def twice() -> AsyncIterator[str]:  # type: ignore[misc]
            yield "a"
            yield "b"

    bus.provide("first", never)
    bus.provide("second", twice)

    @bus.register
    async def get(query: Get, first: str) -> str:
        return first

    @bus.register
    async def count(query: Count, second: str) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(ProviderError) as caught:
        await bus.execute(Get())
    assert caught.value.problem == "no-yield" and caught.value.name == "first"
    assert str(caught.value).startswith("the provider 'first' (test_providers.")
    assert str(caught.value).endswith(
        "finished without yielding a value.\nTip: A generator provider yields the value "
        "exactly once."
    )
    with pytest.raises(ProviderError) as caught:
        async with bus.stream(Count()) as items:
            async for _ in items:
                pass
    assert caught.value.problem == "yielded-twice" and caught.value.name == "second"


async def test_a_cancelled_handler_runs_the_teardown() -> None:
    log: list[str] = []
    bus = LocalRequestBus()
    started = anyio.Event()
    bus.provide("session", session_factory(log))

    @bus.register
    async def get(query: Get, session: str) -> str:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    async with anyio.create_task_group() as group:
        group.start_soon(bus.execute, Get())
        await started.wait()
        group.cancel_scope.cancel()
    assert log == ["open", "close"]  # neither commit nor rollback: cancelled


# -- chains, scope and precedence ------------------------------------------------------------


async def test_a_value_is_made_once_per_call_and_shared_by_its_dependents() -> None:
    made: list[str] = []
    bus = LocalRequestBus()

    def engine(dsn: str) -> str:
        made.append(dsn)
        return f"engine({dsn})"

    bus.provide("engine", engine)
    bus.provide("reader", lambda engine: f"reader on {engine}")
    bus.provide("writer", lambda engine: f"writer on {engine}")

    @bus.register
    async def get(query: Get, reader: str, writer: str, engine: str) -> str:
        return f"{reader} | {writer} | {engine}"

    assert await bus.execute(Get(), dsn="db") == (
        "reader on engine(db) | writer on engine(db) | engine(db)"
    )
    assert await bus.execute(Get(), dsn="db2") == (
        "reader on engine(db2) | writer on engine(db2) | engine(db2)"
    )
    assert made == ["db", "db2"]


async def test_call_arguments_win_over_providers_at_every_level() -> None:
    made: list[str] = []
    bus = LocalRequestBus()

    def engine() -> str:
        made.append("engine")
        return "provided engine"

    bus.provide("engine", engine)
    bus.provide("session", lambda engine: f"session on {engine}")

    @bus.register
    async def get(query: Get, session: str) -> str:
        return session

    assert await bus.execute(Get(), session="given") == "given"
    assert await bus.execute(Get(), engine="given engine") == "session on given engine"
    assert made == []
    assert await bus.execute(Get()) == "session on provided engine"
    assert made == ["engine"]


async def test_a_provider_runs_only_for_handlers_that_declare_it() -> None:
    made: list[int] = []
    bus = LocalRequestBus()
    bus.provide("session", lambda: made.append(1) or "session")

    @bus.register
    async def get(query: Get) -> str:
        return "no session"

    assert await bus.execute(Get()) == "no session"
    assert made == []


async def test_a_provider_beats_a_parameter_default() -> None:
    bus = LocalRequestBus()
    bus.provide("user", lambda: "ada")

    @bus.register
    async def get(query: Get, user: str = "anonymous") -> str:
        return user

    assert await bus.execute(Get()) == "ada"


async def test_a_missing_argument_names_the_chain_before_the_handler_runs() -> None:
    log: list[str] = []
    ran: list[bool] = []
    bus = LocalRequestBus()
    bus.provide("session", session_factory(log))
    bus.provide("engine", lambda dsn: f"engine({dsn})")
    bus.provide("repo", lambda session, engine: f"repo({session}, {engine})")

    @bus.register
    async def get_order(query: Get, repo: str) -> str:
        ran.append(True)
        return repo

    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(Get(), tenant="acme")
    error = caught.value
    assert (error.parameters, error.chain, error.given) == (("dsn",), ("repo", "engine"), ("tenant",))
    assert error.path == "get_order -> repo -> engine -> ?dsn"
    assert re.fullmatch(
        r"test_providers\..*get_order \(tests/test_providers\.py:\d+\): the provider 'engine' "
        r"needs the argument 'dsn' \(get_order -> repo -> engine -> \?dsn\), which the call did "
        r"not give \(it gave: tenant\)\.\n"
        r"Tip: Pass dsn=\.\.\. to execute\(\)/publish\(\), set it in a middleware, provide it "
        r"\(bus\.provide\('dsn', factory\)\) or give the parameter a default\.",
        str(error),
    )
    assert ran == []
    assert log == ["open", "rollback " + repr(error), "close"]  # what was set up is torn down


async def test_a_missing_handler_argument_is_raised_before_any_provider_runs() -> None:
    log: list[str] = []
    bus = LocalRequestBus()
    bus.provide("session", session_factory(log))

    @bus.register
    async def get(query: Get, session: str, user: str) -> str:
        return user

    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(Get())
    assert caught.value.parameters == ("user",) and caught.value.chain == ()
    assert log == []


async def test_an_arg_map_renames_a_provided_name_too() -> None:
    from mediator.common.factory import CallableHandlerPolicy

    bus = LocalRequestBus()
    bus.provide("current_user", lambda: "ada")

    @bus.register(policies=[CallableHandlerPolicy(arg_map={"current_user": "user"})])
    async def get(query: Get, user: str) -> str:
        return user

    assert await bus.execute(Get()) == "ada"
    assert await bus.execute(Get(), current_user="bob") == "bob"


# -- registration-time checks ---------------------------------------------------------------


def test_a_name_provided_twice_names_both_factories() -> None:
    bus = LocalRequestBus()

    def first() -> str:
        return "a"

    def second() -> str:
        return "b"

    bus.provide("user", first)
    bus.provide("user", first)  # the same factory again changes nothing
    with pytest.raises(ProviderError) as caught:
        bus.provide("user", second)
    error = caught.value
    assert (error.problem, error.name, error.factory, error.other) == (
        "duplicate",
        "user",
        second,
        first,
    )
    assert re.fullmatch(
        r"'user' is provided twice: by test_providers\..*first \(tests/test_providers\.py:\d+\) "
        r"and by test_providers\..*second \(tests/test_providers\.py:\d+\)\.\n"
        r"Tip: Provide each name once; to replace a provider in tests, use another bus\.",
        str(error),
    )
    assert bus._providers["user"].factory is first


async def test_a_cycle_is_refused_at_provide_and_leaves_the_bus_unchanged() -> None:
    bus = LocalRequestBus()
    bus.provide("engine", lambda session: "engine")
    bus.provide("pool", lambda engine: "pool")

    def session(pool: str) -> str:
        return "session"

    with pytest.raises(ProviderError) as caught:
        bus.provide("session", session)
    error = caught.value
    assert error.problem == "cycle"
    assert error.chain == ("session", "pool", "engine", "session")
    assert str(error).startswith(
        "provide('session', test_providers."
    ) and "makes a cycle: session -> pool -> engine -> session.\nTip: " in str(error)
    assert "session" not in bus._providers


@pytest.mark.parametrize(
    ("name", "factory", "problem"),
    [
        ("not a name", lambda: 1, "name"),
        ("class", lambda: 1, "name"),
        (3, lambda: 1, "name"),
        ("user", "ada", "not-callable"),
        ("user", divmod, "positional-only"),
    ],
)
def test_an_unusable_provider_is_refused(name: Any, factory: Any, problem: str) -> None:
    bus = LocalRequestBus()
    with pytest.raises(ProviderError) as caught:
        bus.provide(name, factory)
    assert caught.value.problem == problem
    assert "\nTip: " in str(caught.value)
    assert bus._providers == {}


def test_positional_only_is_named() -> None:
    def make(dsn: str, /) -> str:
        return dsn

    with pytest.raises(ProviderError) as caught:
        LocalRequestBus().provide("engine", make)
    assert caught.value.detail == "dsn"
    assert str(caught.value).startswith(
        "provide('engine', test_providers.test_positional_only_is_named.<locals>.make"
    )
    assert "its parameter 'dsn' is positional-only" in str(caught.value)


def test_provide_and_expect_after_freeze_are_refused() -> None:
    bus = LocalRequestBus()
    bus.freeze()
    with pytest.raises(BusStateError):
        bus.provide("user", lambda: "ada")
    with pytest.raises(BusStateError):
        bus.expect("user")


def test_expect_takes_names() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalRequestBus().expect("user", "not a name")
    assert (caught.value.problem, caught.value.value) == ("expect", "not a name")
    assert str(caught.value) == (
        "LocalRequestBus.expect(): names='not a name' is not a valid parameter name.\n"
        "Tip: Pass the names of keyword arguments, e.g. expect('user', 'tenant')."
    )


def test_freeze_checks_declared_arguments_and_names_the_chain() -> None:
    bus = LocalRequestBus()
    bus.expect("user")
    bus.provide("engine", lambda dsn: "engine")
    bus.provide("session", lambda engine: "session")

    @bus.register
    async def get_order(query: Get, session: str, user: str) -> str:
        return user

    @bus.register
    async def count(query: Count, tenant: str) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(MissingArgumentError) as caught:
        bus.freeze()
    error = caught.value
    assert (error.parameters, error.chain, error.declared) == (("dsn",), ("session", "engine"), True)
    assert error.path == "get_order -> session -> engine -> ?dsn"
    assert re.fullmatch(
        r"test_providers\..*get_order \(tests/test_providers\.py:\d+\): the provider 'engine' "
        r"needs the argument 'dsn' \(get_order -> session -> engine -> \?dsn\), which no "
        r"provider supplies and no call declares \(declared with expect\(\): user\)\.\n"
        r"Tip: Declare it with bus\.expect\('dsn'\) if every call passes it, provide it "
        r"\(bus\.provide\('dsn', factory\)\) or give the parameter a default\.",
        str(error),
    )
    assert error.__notes__ == [
        "and 1 more: `python -m mediator graph module:bus --check` lists all of them"
    ]
    bus.expect("dsn", "tenant")
    bus.freeze()
    with pytest.raises(BusStateError):
        bus.register(get_order)


def test_freeze_without_declarations_checks_no_arguments() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get(query: Get, user: str) -> str:
        return user

    bus.freeze()


def test_expect_with_no_names_declares_that_calls_pass_none() -> None:
    bus = LocalEventBus()
    bus.expect()

    @bus.register
    async def on_placed(event: Placed, user: str) -> None:
        pass

    with pytest.raises(MissingArgumentError) as caught:
        bus.freeze()
    assert (caught.value.parameters, caught.value.given) == (("user",), ())
    assert "(declared with expect(): none)" in str(caught.value)


def test_freeze_counts_what_an_around_middleware_provides() -> None:
    @around(provides=["user"])
    async def authenticate(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        yield await call_next(message, {**kwargs, "user": "ada"})

    bus = LocalRequestBus(modifiers=[authenticate])
    bus.expect("tenant")

    @bus.register
    async def get(query: Get, user: str, tenant: str) -> str:
        return user

    bus.freeze()


# -- registries and include -----------------------------------------------------------------


async def test_include_carries_providers_and_declarations_over() -> None:
    orders = RequestHandlerRegistry()
    orders.provide("session", lambda: "session")
    orders.expect("user")

    @orders.register
    async def get(query: Get, session: str, user: str) -> str:
        return f"{session} for {user}"

    bus = LocalRequestBus()
    bus.include(orders)
    assert await bus.execute(Get(), user="ada") == "session for ada"
    assert bus._expected == {"user"}
    bus.freeze()


async def test_include_with_a_conflicting_provider_adds_nothing() -> None:
    def mine() -> str:
        return "mine"

    def theirs() -> str:
        return "theirs"

    bus = LocalRequestBus()
    bus.provide("session", mine)
    other = RequestHandlerRegistry()
    other.provide("session", theirs)

    @other.register
    async def get(query: Get, session: str) -> str:
        return session

    with pytest.raises(ProviderError) as caught:
        bus.include(other)
    assert (caught.value.problem, caught.value.factory, caught.value.other) == (
        "duplicate",
        theirs,
        mine,
    )
    assert bus.handlers == () and bus._providers["session"].factory is mine


async def test_include_that_fails_restores_the_providers() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get(query: Get, session: str = "default") -> str:
        return session

    assert await bus.execute(Get()) == "default"
    other = RequestHandlerRegistry()
    other.provide("session", lambda: "provided")
    other.register(get)  # a second handler for Get: refused
    with pytest.raises(Exception, match="Get"):
        bus.include(other)
    assert "session" not in bus._providers
    assert await bus.execute(Get()) == "default"


async def test_a_provider_added_later_reaches_handlers_already_called() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get(query: Get, user: str = "anonymous") -> str:
        return user

    @dataclass
    class GetChild(Get):
        pass

    assert await bus.execute(GetChild()) == "anonymous"  # cached
    bus.provide("user", lambda: "ada")
    assert await bus.execute(GetChild()) == "ada"
    assert await bus.execute(Get()) == "ada"


# -- every kind of call -----------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["sequential", "concurrent", "background"])
async def test_each_event_handler_gets_its_own_values(strategy: Any) -> None:
    sessions: list[int] = []
    got: list[tuple[str, int]] = []
    bus = LocalEventBus(strategy=strategy)

    def session() -> Iterator[int]:
        sessions.append(len(sessions))
        yield sessions[-1]

    bus.provide("session", session)

    @bus.register
    async def first(event: Placed, session: int) -> None:
        got.append(("first", session))

    @bus.register
    def second(event: Placed, session: int) -> None:
        got.append(("second", session))

    @bus.register
    async def third(event: Placed) -> None:
        got.append(("third", -1))

    async with bus:
        await bus.publish(Placed())
    assert sorted(got) == [("first", 0), ("second", 1), ("third", -1)] or sorted(got) == [
        ("first", 1),
        ("second", 0),
        ("third", -1),
    ]
    assert len(sessions) == 2


async def test_a_failing_event_handler_rolls_back_only_its_own_session() -> None:
    log: list[str] = []
    bus = LocalEventBus()
    bus.provide("session", session_factory(log))

    @bus.register
    async def fails(event: Placed, session: str) -> None:
        raise Boom

    @bus.register
    async def works(event: Placed, session: str) -> None:
        pass

    with pytest.raises(PublishError) as caught:
        await bus.publish(Placed())
    assert [failure.handler.fn for failure in caught.value.failures] == [fails]
    assert log == ["open", "rollback Boom()", "close", "open", "commit", "close"]


@pytest.mark.parametrize("thread", [False, True])
async def test_sync_handlers_get_provided_values(thread: bool) -> None:
    log: list[str] = []
    bus = LocalRequestBus()
    bus.provide("session", session_factory(log))

    @bus.register(thread=thread)
    def get(query: Get, session: str) -> str:
        if query.id < 0:
            raise Boom
        return session

    assert await bus.execute(Get()) == "session"
    with pytest.raises(Boom):
        await bus.execute(Get(-1))
    assert log == ["open", "commit", "close", "open", "rollback Boom()", "close"]


async def test_a_stream_keeps_its_values_until_iteration_is_over() -> None:
    log: list[str] = []
    bus = LocalRequestBus()
    bus.provide("session", session_factory(log))

    @bus.register
    async def count(query: Count, session: str) -> AsyncIterator[int]:
        for i in range(query.n):
            log.append(f"item {i}")
            yield i
        if query.n < 0:
            raise Boom

    assert [item async for item in bus.stream(Count(2))] == [0, 1]
    assert log == ["open", "item 0", "item 1", "commit", "close"]
    log.clear()
    async with bus.stream(Count(5)) as items:
        async for item in items:
            if item == 1:
                break
    assert log == ["open", "item 0", "item 1", "close"]  # closed early: neither commit nor rollback
    log.clear()
    with pytest.raises(Boom):
        async for _ in bus.stream(Count(-1)):
            pass
    assert log == ["open", "rollback Boom()", "close"]


async def test_a_stream_with_a_missing_argument_raises_before_iterating() -> None:
    bus = LocalRequestBus()
    bus.provide("session", lambda dsn: "session")

    @bus.register
    async def count(query: Count, session: str, user: str) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(MissingArgumentError) as caught:
        bus.stream(Count())
    assert caught.value.parameters == ("user",)
    stream = bus.stream(Count(), user="ada")  # dsn is only known to be missing when it runs
    with pytest.raises(MissingArgumentError) as caught:
        async for _ in stream:
            pass
    assert caught.value.chain == ("session",)


async def test_middleware_sees_the_calls_own_kwargs_and_may_set_a_provided_name() -> None:
    seen: list[dict[str, Any]] = []

    async def spy(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        seen.append(dict(kwargs))
        if isinstance(message, Get) and message.id == 2:
            kwargs = {**kwargs, "user": "from middleware"}
        return await call_next(message, kwargs)

    bus = LocalRequestBus(modifiers=[spy])
    bus.provide("user", lambda: "provided")

    @bus.register
    async def get(query: Get, user: str) -> str:
        return user

    assert await bus.execute(Get(1), tenant="acme") == "provided"
    assert await bus.execute(Get(2)) == "from middleware"
    assert seen == [{"tenant": "acme"}, {}]


async def test_a_handler_with_var_keyword_gets_no_provider() -> None:
    bus = LocalRequestBus()
    bus.provide("user", lambda: "provided")

    @bus.register
    async def get(query: Get, **kwargs: Any) -> str:
        return repr(kwargs)

    assert await bus.execute(Get()) == "{}"


# -- the README's recipe: events published only after the command succeeded --------------------


async def test_events_provided_per_call_are_published_only_on_success() -> None:
    published: list[object] = []
    events = LocalEventBus()

    @events.register
    async def on_placed(event: Placed) -> None:
        published.append(event)

    commands = LocalRequestBus()

    @commands.provide("events")
    async def collect() -> AsyncIterator[EventAggregate]:
        aggregate = EventAggregate().use(events)
        yield aggregate
        await aggregate.commit()

    @dataclass
    class Place(Request[int]):
        order: int

    @commands.register
    async def place(command: Place, events: EventAggregate) -> int:
        events.enqueue(Placed(command.order))
        events.enqueue(Placed(command.order + 1))
        if command.order < 0:
            raise Boom
        return command.order

    assert await commands.execute(Place(1)) == 1
    assert published == [Placed(1), Placed(2)]
    with pytest.raises(Boom):
        await commands.execute(Place(-5))
    assert published == [Placed(1), Placed(2)]


def test_registries_of_events_take_providers_too() -> None:
    registry = EventHandlerRegistry()
    registry.provide("session", lambda: "session")
    bus = LocalEventBus()
    bus.include(registry)
    assert set(bus._providers) == {"session"}


# -- found in review ---------------------------------------------------------------------


async def test_a_factory_error_names_the_provider() -> None:
    bus = LocalRequestBus()

    def broken() -> str:
        raise LookupError("no such tenant")

    bus.provide("tenant", broken)
    bus.provide("session", lambda tenant: f"session of {tenant}")

    @bus.register
    async def get(query: Get, tenant: str) -> str:
        return tenant

    @bus.register
    async def count(query: Count, session: str) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(LookupError) as caught:
        await bus.execute(Get())
    (note,) = caught.value.__notes__
    assert re.fullmatch(
        r"raised by the provider 'tenant' \(test_providers\..*broken "
        r"\(tests/test_providers\.py:\d+\)\)",
        note,
    )
    with pytest.raises(LookupError) as caught:
        async for _ in bus.stream(Count()):
            pass
    assert caught.value.__notes__[0].startswith("raised by the provider 'tenant' (")


async def test_a_plain_factory_runs_when_the_call_is_awaited() -> None:
    made: list[int] = []
    bus = LocalRequestBus()
    bus.provide("clock", lambda: made.append(1) or 42)

    @bus.register
    async def get(query: Get, clock: int) -> str:
        return str(clock)

    call = bus.execute(Get())
    assert made == []
    call.close()  # never awaited: nothing was made
    assert made == []
    assert await bus.execute(Get()) == "42" and made == [1]


async def test_values_are_set_up_in_the_order_of_the_handlers_parameters() -> None:
    log: list[str] = []
    bus = LocalRequestBus()

    def opened(name: str) -> Any:
        def factory() -> Iterator[str]:
            log.append(f"open {name}")
            yield name
            log.append(f"close {name}")

        return factory

    bus.provide("a", opened("a"))
    bus.provide("c", opened("c"))

    @bus.register
    async def get(query: Get, c: str, a: str) -> str:
        return c + a

    assert await bus.execute(Get()) == "ca"
    assert log == ["open c", "open a", "close a", "close c"]


async def test_a_cancelled_teardown_is_not_reported_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mediator.errors import HandlerTimeoutError
    from mediator.modifiers import timeout

    log: list[str] = []
    bus = LocalRequestBus(modifiers=[timeout(0.01)])

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        except BaseException:
            log.append("rollback starts")
            await anyio.lowlevel.checkpoint()  # cancelled in turn: the call is cancelled
            log.append("rollback done")
            raise

    bus.provide("session", session)

    @bus.register
    async def get(query: Get, session: str) -> str:
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    with (
        caplog.at_level(logging.ERROR, logger="mediator"),
        pytest.raises(HandlerTimeoutError) as caught,
    ):
        await bus.execute(Get())
    assert log == ["rollback starts"]
    assert caplog.records == []
    assert not getattr(caught.value, "__notes__", None)


async def test_retry_does_not_retry_a_provider_mistake() -> None:
    from mediator.modifiers import retry

    runs: list[int] = []
    bus = LocalRequestBus(modifiers=[retry(attempts=4, backoff=lambda attempt: 0)])

    def never() -> Iterator[str]:
        runs.append(1)
        return
        yield

    bus.provide("session", never)

    @bus.register
    async def get(query: Get, session: str) -> str:
        return session

    with pytest.raises(ProviderError):
        await bus.execute(Get())
    assert runs == [1]


def test_provide_used_as_a_bare_decorator_says_to_name_the_parameter() -> None:
    bus = LocalRequestBus()
    with pytest.raises(ProviderError) as caught:

        @bus.provide  # type: ignore[call-overload]
        def session() -> str:
            return "session"

    assert caught.value.problem == "name"
    assert re.fullmatch(
        r"provide\(\) was given test_providers\..*session \(tests/test_providers\.py:\d+\) "
        r"where the name goes\.\n"
        r"Tip: Name the parameter it fills: `@bus\.provide\('session'\)` above the factory, "
        r"or `bus\.provide\('session', factory\)`\.",
        str(caught.value),
    )
