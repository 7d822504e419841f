"""Modifiers: order, what they see, and what they may change."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from mediator import (
    AroundMiddleware,
    EventHandlerRegistry,
    Handler,
    LocalEventBus,
    LocalRequestBus,
    MissingArgumentError,
    Next,
    RequestHandlerRegistry,
    around,
)
from mediator.common.modifiers import (
    ActionCallType,
    ActionResult,
    ActionSubject,
    ModifierFactory,
    ModifierStack,
)
from mediator.errors import ModifierError


@dataclass
class Query:
    value: int


class Tag(ModifierFactory):
    """Records the order modifiers run in, into a shared list."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
        async def tagged(action: ActionSubject) -> ActionResult:
            self.log.append(self.name)
            return await call(action)

        return tagged


async def test_order_is_bus_then_registry_then_register_then_handler() -> None:
    log: list[str] = []
    registry = RequestHandlerRegistry(modifiers=[Tag("registry", log)])

    @registry.register(modifiers=[Tag("register-1", log), Tag("register-2", log)])
    async def handler(query: Query) -> int:
        log.append("handler")
        return query.value

    bus = LocalRequestBus(modifiers=[Tag("bus-1", log), Tag("bus-2", log)])
    bus.include(registry)
    assert await bus.execute(Query(1)) == 1
    assert log == ["bus-1", "bus-2", "registry", "register-1", "register-2", "handler"]


async def test_event_handlers_each_get_their_own_chain_and_kwargs() -> None:
    log: list[str] = []

    class Inject(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            target: Handler = kwargs["target"]

            async def inject(action: ActionSubject) -> ActionResult:
                action.inject["who"] = target.fn.__name__
                return await call(action)

            return inject

    registry = EventHandlerRegistry(modifiers=[Tag("registry", log)])

    @registry.register
    async def first(event: Query, who: str) -> None:
        log.append(f"first:{who}")

    bus = LocalEventBus(modifiers=[Inject()])
    bus.include(registry)

    @bus.register
    async def second(event: Query, who: str) -> None:
        log.append(f"second:{who}")

    await bus.publish(Query(1))
    assert log == ["registry", "first:first", "second:second"]


async def test_a_modifier_can_change_the_message_and_the_kwargs() -> None:
    class Rewrite(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def rewrite(action: ActionSubject) -> ActionResult:
                assert action.key is Query
                action.subject = Query(action.subject.value * 10)
                action.inject["user"] = "from-modifier"
                return await call(action)

            return rewrite

    bus = LocalRequestBus(modifiers=[Rewrite()])

    @bus.register
    async def handler(query: Query, user: str) -> tuple[int, str]:
        return query.value, user

    assert await bus.execute(Query(2)) == (20, "from-modifier")


async def test_a_modifier_can_short_circuit_and_replace_the_result() -> None:
    class Cache(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def cached(action: ActionSubject) -> ActionResult:
                if action.subject.value == 0:
                    return ActionResult(result="cached")
                result = await call(action)
                return ActionResult(result=result.result + 1)

            return cached

    bus = LocalRequestBus()
    calls = []

    @bus.register(modifiers=[Cache()])
    async def handler(query: Query) -> int:
        calls.append(query.value)
        return query.value

    assert await bus.execute(Query(0)) == "cached"
    assert await bus.execute(Query(5)) == 6
    assert calls == [5]


async def test_a_modifier_returning_no_action_result_is_named() -> None:
    class Broken(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def broken(action: ActionSubject) -> Any:
                return (await call(action)).result

            return broken

    bus = LocalRequestBus(modifiers=[Broken()])

    @bus.register
    async def handler(query: Query) -> int:
        return 1

    with pytest.raises(ModifierError) as caught:
        await bus.execute(Query(1))
    error = caught.value
    assert (error.problem, error.value, error.handler) == ("action-result", 1, bus.handlers[0])


def test_create_returning_something_not_callable_fails_at_registration() -> None:
    class Broken(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            return None  # type: ignore[return-value]

    bus = LocalRequestBus(modifiers=[Broken()])

    async def handler(query: Query) -> None: ...

    with pytest.raises(ModifierError) as caught:
        bus.register(handler)
    error = caught.value
    assert (error.problem, error.value, type(error.modifier)) == ("create-result", None, Broken)
    assert error.handler is not None and error.handler.fn is handler
    assert len(bus.handlers) == 0


def test_factories_run_once_per_handler_at_registration_with_the_handler_as_target() -> None:
    targets: list[Any] = []

    class Spy(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            targets.append(kwargs["target"])
            return call

    bus = LocalRequestBus(modifiers=[Spy()])

    @bus.register
    async def handler(query: Query) -> None: ...

    assert len(targets) == 1
    assert isinstance(targets[0], Handler)
    assert targets[0].fn is handler and targets[0].message_types == (Query,)


async def test_a_factory_may_call_its_target_with_an_action() -> None:
    class Bypass(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            target = kwargs["target"]

            async def bypass(action: ActionSubject) -> ActionResult:
                result: ActionResult = await target(action)  # the handler, without the rest
                return result

            return bypass

    log: list[str] = []
    bus = LocalRequestBus(modifiers=[Bypass(), Tag("skipped", log)])

    @bus.register
    async def handler(query: Query, user: str = "-") -> str:
        return f"{query.value}:{user}"

    assert await bus.execute(Query(1), user="ada") == "1:ada"
    assert log == []


async def test_modifier_stack_build_order_and_target() -> None:
    log: list[str] = []
    seen: list[Any] = []

    class Spy(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            seen.append(kwargs["target"])
            return call

    async def endpoint(action: ActionSubject) -> ActionResult:
        log.append("endpoint")
        return ActionResult(action.subject)

    chain = ModifierStack.build([Tag("a", log), Spy(), Tag("b", log)], endpoint)
    result = await chain(ActionSubject(subject=3, inject={}))
    assert result == ActionResult(result=3)
    assert log == ["a", "b", "endpoint"]
    assert seen == [endpoint]


async def test_modifiers_wrap_sync_handlers_too() -> None:
    log: list[str] = []
    bus = LocalRequestBus(modifiers=[Tag("m", log)])

    @bus.register
    def handler(query: Query) -> int:
        return query.value + 1

    assert await bus.execute(Query(1)) == 2
    assert log == ["m"]


# -- middleware functions ------------------------------------------------------------


async def test_middleware_functions_see_message_and_kwargs_and_return_the_result() -> None:
    seen: list[Any] = []

    async def audit(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        seen.append((type(message).__name__, dict(kwargs), call_next.handler.fn.__name__))
        result = await call_next(message, {**kwargs, "user": "from-middleware"})
        return f"<{result}>"

    bus = LocalRequestBus(modifiers=[audit])

    @bus.register
    async def handler(query: Query, user: str) -> str:
        return f"{query.value}:{user}"

    assert await bus.execute(Query(1), user="ada", extra=True) == "<1:from-middleware>"
    assert seen == [("Query", {"user": "ada", "extra": True}, "handler")]


async def test_middleware_can_short_circuit_and_errors_pass_through() -> None:
    async def guard(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        if message.value < 0:
            return "rejected"
        try:
            return await call_next(message, kwargs)
        except MissingArgumentError:
            return "missing"

    bus = LocalRequestBus(modifiers=[guard])

    @bus.register
    async def handler(query: Query, user: str) -> str:
        return user

    assert await bus.execute(Query(-1)) == "rejected"
    assert await bus.execute(Query(1)) == "missing"
    assert await bus.execute(Query(1), user="ada") == "ada"


async def test_middleware_objects_with_an_async_call() -> None:
    class Prefix:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix

        async def __call__(self, message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
            return self.prefix + await call_next(message, kwargs)

    bus = LocalRequestBus(modifiers=[Prefix("a"), Prefix("b")])

    @bus.register
    def handler(query: Query) -> str:
        return "!"

    assert await bus.execute(Query(1)) == "ab!"


async def test_middleware_and_factories_mix_in_order() -> None:
    log: list[str] = []

    def middleware(name: str) -> Any:
        async def mw(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
            log.append(name)
            return await call_next(message, {**kwargs, name: True}) + 1

        return mw

    class Boxed(ModifierFactory):
        def __init__(self, name: str) -> None:
            self.name = name

        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def boxed(action: ActionSubject) -> ActionResult:
                log.append(self.name)
                action.inject[self.name] = True
                result = await call(action)
                return ActionResult(result.result + 10)

            return boxed

    registry = RequestHandlerRegistry(modifiers=[middleware("registry-mw")])

    @registry.register(modifiers=[Boxed("register-factory"), middleware("register-mw")])
    async def handler(query: Query, **kwargs: Any) -> int:
        log.append("handler:" + ",".join(sorted(kwargs)))
        return 0

    bus = LocalRequestBus(modifiers=[Boxed("bus-factory"), middleware("bus-mw")])
    bus.include(registry)
    assert await bus.execute(Query(1)) == 0 + 1 + 10 + 1 + 1 + 10
    assert log == [
        "bus-factory",
        "bus-mw",
        "registry-mw",
        "register-factory",
        "register-mw",
        "handler:bus-factory,bus-mw,register-factory,register-mw,registry-mw",
    ]


async def test_event_middleware_gets_its_own_kwargs_per_handler() -> None:
    async def tag(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        kwargs["who"] = call_next.handler.fn.__name__  # editing in place stays local
        return await call_next(message, kwargs)

    bus = LocalEventBus(modifiers=[tag])
    seen: list[str] = []

    @bus.register
    async def first(event: Query, who: str) -> None:
        seen.append(who)

    @bus.register
    async def second(event: Query, who: str) -> None:
        seen.append(who)

    given = {"who": "caller"}
    await bus.publish(Query(1), **given)
    assert seen == ["first", "second"]
    assert given == {"who": "caller"}


async def test_middleware_wraps_a_stream() -> None:
    async def doubled(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        items = await call_next(message, kwargs)

        async def double() -> AsyncIterator[int]:
            async with contextlib.aclosing(items):
                async for item in items:
                    yield item * 2

        return double()

    bus = LocalRequestBus(modifiers=[doubled])

    @bus.register
    async def numbers(query: Query) -> AsyncIterator[int]:
        for number in range(query.value):
            yield number

    assert [n async for n in bus.stream(Query(3))] == [0, 2, 4]


# -- around: middleware that spans the whole call -----------------------------------


def spanning(log: list[str]) -> AroundMiddleware:
    @around
    async def middleware(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        log.append("mw enter")
        try:
            result = await call_next(message, {**kwargs, "user": "ada"})
            log.append(f"mw got {result!r}")
            yield f"<{result}>"
        except Exception as error:
            log.append(f"mw saw {error!r}")
            raise
        finally:
            log.append("mw exit")

    return middleware


async def test_around_runs_its_teardown_before_the_caller_gets_the_result() -> None:
    log: list[str] = []
    bus = LocalRequestBus(modifiers=[spanning(log)])

    @bus.register
    async def handler(query: Query, user: str) -> str:
        log.append(f"handler {user}")
        return str(query.value)

    assert await bus.execute(Query(1)) == "<1>"
    assert log == ["mw enter", "handler ada", "mw got '1'", "mw exit"]


async def test_around_sees_the_handlers_error_at_its_yield() -> None:
    log: list[str] = []
    bus = LocalRequestBus(modifiers=[spanning(log)])

    @bus.register
    def handler(query: Query, user: str) -> str:
        raise LookupError(query.value)

    with pytest.raises(LookupError) as caught:
        await bus.execute(Query(7))
    assert caught.value.args == (7,)
    assert log == ["mw enter", "mw saw LookupError(7)", "mw exit"]


async def test_around_may_answer_instead_of_the_handler() -> None:
    @around
    async def fallback(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        if message.value < 0:
            yield "rejected"  # short-circuit: the handler does not run
            return
        try:
            yield await call_next(message, kwargs)
        except LookupError:
            yield "fallback"

    bus = LocalRequestBus(modifiers=[fallback])

    @bus.register
    async def handler(query: Query) -> str:
        if query.value == 0:
            raise LookupError
        return "found"

    assert await bus.execute(Query(-1)) == "rejected"
    assert await bus.execute(Query(0)) == "fallback"
    assert await bus.execute(Query(1)) == "found"


async def test_around_that_never_yields_or_yields_twice_is_an_error() -> None:
    log: list[str] = []

    @around
    async def silent(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        await call_next(message, kwargs)
        return
        yield  # an async generator that ends without yielding

    @around
    async def twice(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        try:
            yield await call_next(message, kwargs)
            yield "again"
        finally:
            log.append("twice closed")

    silent_bus = LocalRequestBus(modifiers=[silent])
    twice_bus = LocalRequestBus(modifiers=[twice])
    for bus in (silent_bus, twice_bus):

        @bus.register
        async def handler(query: Query) -> int:
            log.append("handler")
            return query.value

    with pytest.raises(
        RuntimeError,
        match=r"^the middleware .*\.silent \(.*\) finished without yielding: yield the result",
    ):
        await silent_bus.execute(Query(1))
    with pytest.raises(
        RuntimeError, match=r"^the middleware .*\.twice \(.*\) yielded more than once"
    ):
        await twice_bus.execute(Query(1))
    assert log == ["handler", "handler", "twice closed"]


async def test_around_on_event_handlers_each_get_their_own_call() -> None:
    log: list[str] = []

    @around
    async def per_handler(
        message: Any, kwargs: dict[str, Any], call_next: Next
    ) -> AsyncIterator[Any]:
        kwargs["who"] = call_next.handler.fn.__name__  # a copy per handler
        log.append(f"enter {kwargs['who']}")
        try:
            yield await call_next(message, kwargs)
        finally:
            log.append(f"exit {kwargs['who']}")

    bus = LocalEventBus(modifiers=[per_handler])

    @bus.register
    async def first(event: Query, who: str) -> None:
        log.append(f"handler {who}")

    @bus.register
    def second(event: Query, who: str) -> None:
        log.append(f"handler {who}")

    given = {"who": "caller"}
    await bus.publish(Query(1), **given)
    assert given == {"who": "caller"}
    assert log == [
        "enter first",
        "handler first",
        "exit first",
        "enter second",
        "handler second",
        "exit second",
    ]


async def test_around_mixes_with_middleware_and_factories_in_order() -> None:
    log: list[str] = []

    async def plain(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        log.append("plain")
        return await call_next(message, kwargs) + 1

    class Boxed(ModifierFactory):
        def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
            async def boxed(action: ActionSubject) -> ActionResult:
                log.append("factory")
                result = await call(action)
                return ActionResult(result.result * 10)

            return boxed

    @around
    async def outer(message: Any, kwargs: dict[str, Any], call_next: Next) -> AsyncIterator[Any]:
        log.append("around enter")
        yield await call_next(message, kwargs) + 100
        log.append("around exit")

    registry = RequestHandlerRegistry(modifiers=[plain])

    @registry.register(modifiers=[outer, Boxed()])
    async def handler(query: Query) -> int:
        log.append("handler")
        return query.value

    bus = LocalRequestBus(modifiers=[outer])
    bus.include(registry)
    assert await bus.execute(Query(1)) == ((1 * 10 + 100) + 1) + 100
    assert log == [
        "around enter",
        "plain",
        "around enter",
        "factory",
        "handler",
        "around exit",
        "around exit",
    ]


async def test_around_takes_callable_objects_and_says_what_it_provides() -> None:
    class Scoped:
        async def __call__(
            self, message: Any, kwargs: dict[str, Any], call_next: Next
        ) -> AsyncIterator[Any]:
            yield await call_next(message, {**kwargs, "scope": "request"})

    made = around(Scoped(), provides=("scope", "user"))
    assert isinstance(made, AroundMiddleware)
    assert made.provides == frozenset({"scope", "user"})
    assert isinstance(made.function, Scoped)
    assert re.fullmatch(
        r"around\(.*<locals>\.Scoped\.__call__ \(tests/test_modifiers\.py:\d+\), "
        r"provides=\['scope', 'user'\]\)",
        repr(made),
    )
    assert around(provides=["scope"])(Scoped()).provides == frozenset({"scope"})
    assert around(Scoped()).provides == frozenset()

    bus = LocalRequestBus(modifiers=[made])

    @bus.register
    async def handler(query: Query, scope: str) -> str:
        return scope

    assert await bus.execute(Query(1)) == "request"


def test_around_rejects_what_is_not_an_async_generator_function() -> None:
    async def returns(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
        return await call_next(message, kwargs)

    with pytest.raises(TypeError) as caught:
        around(returns)  # type: ignore[arg-type]
    assert re.fullmatch(
        r"around\(\) takes an async generator function \(`async def` with `yield`\), not "
        r".*<locals>\.returns \(tests/test_modifiers\.py:\d+\); "
        r"a middleware that returns its result needs no around\(\)",
        str(caught.value),
    )
    with pytest.raises(TypeError, match=r"^around\(provides='session'\): give a list of names"):
        around(provides="session")
