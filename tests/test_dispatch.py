"""Dispatch along class hierarchies and unions, lazy annotations, and a reference model."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediator import HandlerNotFoundError, LocalEventBus, LocalRequestBus
from mediator.errors import (
    AmbiguousHandlerError,
    BusStateError,
    DuplicateHandlerError,
    MessageClassError,
    UnresolvedAnnotationError,
)


class Event:
    pass


class UserEvent(Event):
    pass


class UserCreated(UserEvent):
    pass


class Audited:
    pass


class UserDeleted(UserEvent, Audited):
    pass


# -- events --------------------------------------------------------------------------


async def test_event_handlers_run_most_specific_class_first_then_along_the_mro() -> None:
    bus = LocalEventBus()
    calls: list[str] = []

    def recorder(name: str, annotation: Any) -> Callable[..., Any]:
        async def handler(event: Any) -> None:
            calls.append(name)

        handler.__annotations__["event"] = annotation
        return handler

    bus.register(recorder("object", object))
    bus.register(recorder("event", Event))
    bus.register(recorder("audited", Audited))
    bus.register(recorder("deleted-1", UserDeleted))
    bus.register(recorder("user", UserEvent))
    bus.register(recorder("deleted-2", UserDeleted))

    await bus.publish(UserDeleted())
    # MRO: UserDeleted, UserEvent, Event, Audited, object
    assert calls == ["deleted-1", "deleted-2", "user", "event", "audited", "object"]
    calls.clear()
    await bus.publish(UserCreated())
    assert calls == ["user", "event", "object"]
    calls.clear()
    await bus.publish(42)
    assert calls == ["object"]


async def test_a_handler_matching_through_several_bases_runs_once() -> None:
    bus = LocalEventBus()
    calls: list[str] = []

    @bus.register
    async def both(event: UserEvent | Audited) -> None:
        calls.append("both")

    await bus.publish(UserDeleted())
    assert calls == ["both"]


async def test_registering_after_a_dispatch_invalidates_the_cache() -> None:
    bus = LocalEventBus()
    calls: list[str] = []

    @bus.register
    async def specific(event: UserCreated) -> None:
        calls.append("specific")

    await bus.publish(UserCreated())

    @bus.register
    async def general(event: Event) -> None:
        calls.append("general")

    await bus.publish(UserCreated())
    assert calls == ["specific", "specific", "general"]


async def test_annotated_and_union_subjects() -> None:
    bus = LocalEventBus()
    calls: list[str] = []

    @bus.register
    async def annotated(event: Annotated[UserCreated, "meta"]) -> None:
        calls.append("annotated")

    @bus.register
    async def union(event: UserCreated | Audited) -> None:
        calls.append("union")

    await bus.publish(UserCreated())
    await bus.publish(Audited())
    assert calls == ["annotated", "union", "union"]


# -- requests ------------------------------------------------------------------------


async def test_object_is_the_last_resort_never_a_tie() -> None:
    class Base: ...

    class Specific(Base): ...

    class Mixin: ...

    class Placed(Mixin, Specific): ...  # Base at distance 2, and object too, through Mixin

    class Deep(Placed): ...

    bus = LocalRequestBus()

    @bus.register
    async def for_object(query: object) -> str:
        return "object"

    @bus.register
    async def for_base(query: Base) -> str:
        return "base"

    assert await bus.execute(Placed()) == "base"
    assert await bus.execute(Deep()) == "base"
    assert await bus.execute(Mixin()) == "object"


async def test_exact_type_wins_then_the_nearest_base() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def for_event(query: Event) -> str:
        return "event"

    @bus.register
    async def for_user_event(query: UserEvent) -> str:
        return "user-event"

    @bus.register
    async def for_object(query: object) -> str:
        return "object"

    assert await bus.execute(Event()) == "event"
    assert await bus.execute(UserCreated()) == "user-event"
    assert await bus.execute(UserDeleted()) == "user-event"  # UserEvent: 1, Audited: 1 (no handler)
    assert await bus.execute(Audited()) == "object"
    assert await bus.execute("text") == "object"

    @bus.register
    async def for_user_created(query: UserCreated) -> str:
        return "created"

    assert await bus.execute(UserCreated()) == "created"


async def test_two_equally_close_bases_with_handlers_are_ambiguous() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def for_user_event(query: UserEvent) -> str:
        return "user-event"

    @bus.register
    async def for_audited(query: Audited) -> str:
        return "audited"

    with pytest.raises(AmbiguousHandlerError) as caught:
        await bus.execute(UserDeleted())
    error = caught.value
    assert isinstance(error, HandlerNotFoundError)
    assert (error.message_type, error.bases) == (UserDeleted, (UserEvent, Audited))
    assert [h.fn for h in error.candidates] == [for_user_event, for_audited]

    @bus.register
    async def for_deleted(query: UserDeleted) -> str:
        return "deleted"

    assert await bus.execute(UserDeleted()) == "deleted"


async def test_one_union_handler_reached_through_two_bases_is_not_ambiguous() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def both(query: UserEvent | Audited) -> str:
        return "both"

    assert await bus.execute(UserDeleted()) == "both"


async def test_a_union_that_collides_names_both_handlers() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def for_audited(query: Audited) -> str:
        return "audited"

    async def for_both(query: UserCreated | Audited) -> str:
        return "both"

    with pytest.raises(DuplicateHandlerError) as caught:
        bus.register(for_both)
    error = caught.value
    assert (error.message_type, error.existing.fn, error.new.fn) == (Audited, for_audited, for_both)
    assert error.stream is False
    # Nothing of the union was added.
    with pytest.raises(HandlerNotFoundError):
        await bus.execute(UserCreated())


async def test_a_cached_base_match_is_dropped_when_a_closer_handler_arrives() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def general(query: Event) -> str:
        return "general"

    assert await bus.execute(UserCreated()) == "general"

    @bus.register
    async def closer(query: UserEvent) -> str:
        return "closer"

    assert await bus.execute(UserCreated()) == "closer"


# -- annotations resolved later ------------------------------------------------------------


@pytest.fixture
def fresh_module() -> Callable[[str], Any]:
    loaded: list[str] = []

    def load(name: str) -> Any:
        sys.modules.pop(name, None)
        loaded.append(name)
        return importlib.import_module(name)

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


async def test_classes_defined_below_their_handlers(fresh_module: Callable[[str], Any]) -> None:
    module = fresh_module("handlers_defined_later")
    assert module.requests.handlers[0].message_types == ()  # not resolved yet
    assert await module.requests.execute(module.Report(3)) == "report 3"
    await module.events.publish(module.Created())
    assert module.calls == ["first", "second"]
    module.events.include(module.registry)
    module.calls.clear()
    await module.events.publish(module.Created())
    assert module.calls == ["first", "second", "registry"]


def test_freeze_resolves_and_then_refuses_registrations(fresh_module: Callable[[str], Any]) -> None:
    module = fresh_module("handlers_defined_later")
    module.events.freeze()
    assert [h.message_types for h in module.events.handlers] == [
        (module.Created,),
        (module.Created, module.Report),
    ]

    async def late(event: Any) -> None: ...

    with pytest.raises(BusStateError) as caught:
        module.events.register(late)
    assert (caught.value.problem, caught.value.owner) == ("frozen", "LocalEventBus")
    module.events.freeze()  # again: harmless


async def test_type_checking_only_import_fails_at_freeze_and_dispatch(
    fresh_module: Callable[[str], Any],
) -> None:
    module = fresh_module("handlers_type_checking")
    with pytest.raises(UnresolvedAnnotationError) as caught:
        module.requests.freeze()
    error = caught.value
    assert (error.name, error.parameter, error.annotation) == ("Invoice", "invoice", "Invoice")
    assert (error.problem, error.handler.fn) == ("unresolved", module.pay)
    assert re.fullmatch(
        r"handlers_type_checking\.pay \(.*handlers_type_checking\.py:\d+\)", error.where
    )
    assert isinstance(error, NameError)
    with pytest.raises(UnresolvedAnnotationError) as caught:
        await module.requests.execute(module.Known())
    assert caught.value.name == "Invoice"
    # Defining the name later fixes it.
    module.Invoice = type("Invoice", (), {})
    assert await module.requests.execute(module.Invoice()) == "paid"
    assert await module.requests.execute(module.Known(), session=None) == "known"


# -- a reference model, against random hierarchies --------------------------------------


@st.composite
def hierarchies(draw: st.DrawFn) -> list[type]:
    """Up to 7 classes, each with 0 to 3 earlier classes as bases (valid MROs only)."""
    classes: list[type] = []
    for index in range(draw(st.integers(1, 7))):
        bases = draw(st.lists(st.sampled_from(classes), max_size=3, unique=True)) if classes else []
        try:
            classes.append(type(f"C{index}", tuple(bases) or (object,), {}))
        except TypeError:  # no consistent MRO for this base order
            classes.append(type(f"C{index}", (object,), {}))
    return classes


def distances(tp: type) -> dict[type, int]:
    """Shortest inheritance distance from ``tp`` to each ancestor, computed recursively."""
    best: dict[type, int] = {tp: 0}

    def walk(cls: type, depth: int) -> None:
        for base in cls.__bases__:
            if depth + 1 < best.get(base, sys.maxsize):
                best[base] = depth + 1
                walk(base, depth + 1)

    walk(tp, 0)
    return best


def handler_sets(classes: list[type]) -> st.SearchStrategy[list[tuple[type, ...]]]:
    targets = [*classes, object]
    return st.lists(
        st.lists(st.sampled_from(targets), min_size=1, max_size=2, unique=True).map(tuple),
        max_size=6,
    )


# Sync tests driving their own event loop per example: hypothesis and the anyio
# plugin's per-test loop do not mix, so the backend is a plain parameter here.
BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])


@BACKENDS
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_event_dispatch_matches_the_reference_model(backend: str, data: st.DataObject) -> None:

    classes = data.draw(hierarchies())
    handlers = data.draw(handler_sets(classes))
    bus = LocalEventBus()
    calls: list[int] = []
    for index, types in enumerate(handlers):

        async def handler(event: Any, index: int = index) -> None:
            calls.append(index)

        handler.__annotations__["event"] = types[0] if len(types) == 1 else types[0] | types[1]
        bus.register(handler)

    for cls in classes:
        calls.clear()
        anyio.run(bus.publish, cls(), backend=backend)
        mro = cls.__mro__
        # Reference: every handler with a type in the MRO, ordered by its most
        # specific matching class, then by registration.
        expected = sorted(
            (index for index, types in enumerate(handlers) if any(t in mro for t in types)),
            key=lambda index: (min(mro.index(t) for t in handlers[index] if t in mro), index),
        )
        assert calls == expected


@BACKENDS
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_request_dispatch_matches_the_reference_model(backend: str, data: st.DataObject) -> None:

    classes = data.draw(hierarchies())
    handlers = data.draw(handler_sets(classes))
    bus = LocalRequestBus()
    owner: dict[type, int] = {}
    for index, types in enumerate(handlers):

        async def handler(query: Any, index: int = index) -> int:
            return index

        handler.__annotations__["query"] = types[0] if len(types) == 1 else types[0] | types[1]
        if any(t in owner for t in types):
            with pytest.raises(DuplicateHandlerError):
                bus.register(handler)
            continue
        bus.register(handler)
        owner.update(dict.fromkeys(types, index))

    for cls in classes:
        reach = distances(cls)
        # object is the last resort: it counts only when nothing else has a handler.
        registered = [t for t in reach if t in owner and t is not object]
        registered = registered or [t for t in reach if t in owner]
        if not registered:
            with pytest.raises(HandlerNotFoundError):
                anyio.run(bus.execute, cls(), backend=backend)
            continue
        closest = min(reach[t] for t in registered)
        winners = {owner[t] for t in registered if reach[t] == closest}
        if len(winners) > 1:
            with pytest.raises(AmbiguousHandlerError):
                anyio.run(bus.execute, cls(), backend=backend)
        else:
            assert anyio.run(bus.execute, cls(), backend=backend) == winners.pop()


# -- a class passed where an instance is expected -------------------------------------


async def test_a_class_passed_instead_of_an_instance_says_so() -> None:
    requests = LocalRequestBus()
    events = LocalEventBus()
    seen: list[object] = []

    @requests.register
    async def get_event(query: Event) -> str:
        return "event"

    @events.register
    async def anything(event: object) -> None:  # would otherwise receive the class
        seen.append(event)

    with pytest.raises(MessageClassError) as caught:
        await requests.execute(Event)
    assert (caught.value.message_class, caught.value.call) == (Event, "execute")
    assert str(caught.value) == (
        f"execute() was given the class {Event.__module__}.Event, not an instance of it.\n"
        "Tip: Pass an instance: `execute(Event(...))`."
    )
    with pytest.raises(MessageClassError) as caught:
        requests.stream(Event)
    assert caught.value.call == "stream"
    with pytest.raises(MessageClassError) as caught:
        await events.publish(UserCreated)
    assert (caught.value.message_class, caught.value.call) == (UserCreated, "publish")
    assert seen == []
    await events.publish(UserCreated())
    assert len(seen) == 1


async def test_a_class_is_a_message_where_its_metaclass_has_a_handler() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def describe(query: type) -> str:
        return query.__name__

    assert await bus.execute(Event) == "Event"
