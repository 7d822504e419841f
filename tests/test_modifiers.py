"""Modifiers: order, what they see, and what they may change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from mediator import (
    ActionCallType,
    ActionResult,
    ActionSubject,
    EventHandlerRegistry,
    Handler,
    LocalEventBus,
    LocalRequestBus,
    ModifierError,
    ModifierFactory,
    ModifierStack,
    RequestHandlerRegistry,
)


@dataclass
class Query:
    value: int


class Tag(ModifierFactory):
    """Records the order modifiers run in, into a shared list."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
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
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
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
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
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
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
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
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
            async def broken(action: ActionSubject) -> Any:
                return (await call(action)).result

            return broken

    bus = LocalRequestBus(modifiers=[Broken()])

    @bus.register
    async def handler(query: Query) -> int:
        return 1

    with pytest.raises(
        ModifierError,
        match=r"modifier stack of .*handler \(.*\) returned 1 instead of an ActionResult",
    ):
        await bus.execute(Query(1))


def test_create_returning_something_not_callable_fails_at_registration() -> None:
    class Broken(ModifierFactory):
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
            return None  # type: ignore[return-value]

    bus = LocalRequestBus(modifiers=[Broken()])

    async def handler(query: Query) -> None: ...

    with pytest.raises(ModifierError, match=r"Broken\.create\(\) returned None"):
        bus.register(handler)
    assert len(bus.handlers) == 0


def test_factories_run_once_per_handler_at_registration_with_the_handler_as_target() -> None:
    targets: list[Any] = []

    class Spy(ModifierFactory):
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
            targets.append(kwargs["target"])
            return call

    bus = LocalRequestBus(modifiers=[Spy()])

    @bus.register
    async def handler(query: Query) -> None: ...

    assert len(targets) == 1
    assert isinstance(targets[0], Handler)
    assert targets[0].fn is handler and targets[0].message_types == (Query,)


async def test_modifier_stack_build_order_and_target() -> None:
    log: list[str] = []
    seen: list[Any] = []

    class Spy(ModifierFactory):
        def create(self, call: ActionCallType, /, **kwargs: Any) -> ActionCallType:
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
