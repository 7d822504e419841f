"""Every mistake in a handler is reported at registration, naming handler, parameter and fix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

import pytest

from mediator import (
    CallableHandlerPolicy,
    EventHandlerRegistry,
    LocalEventBus,
    LocalRequestBus,
    MethodHandlerPolicy,
    ModifierError,
    RegistrationError,
)

T = TypeVar("T")
HERE = re.escape(__file__.rsplit("/", 1)[-1])


@dataclass
class Ping:
    pass


def located(name: str) -> str:
    """The pattern of a handler reference: qualified name then (file:line)."""
    return rf"test_registration_errors\.[\w.<>]*{name} \([^)]*{HERE}:\d+\)"


def registers(bus: Any, handler: Any, **options: Any) -> str:
    """Register and return the error message, checking the bus did not change."""
    before = list(bus)
    with pytest.raises(RegistrationError) as caught:
        bus.register(handler, **options)
    assert list(bus) == before
    assert isinstance(caught.value, TypeError)
    return str(caught.value)


def test_no_parameters() -> None:
    async def handler() -> None: ...

    message = registers(LocalRequestBus(), handler)
    assert re.search(f"Cannot register {located('handler')}: it takes no parameters", message)
    assert "async def handle(message: UserCreated)" in message


def test_unannotated_message_parameter() -> None:
    async def handler(query, user: str) -> None:  # type: ignore[no-untyped-def]
        ...

    message = registers(LocalRequestBus(), handler)
    assert re.search(located("handler"), message)
    assert "message parameter 'query' has no type annotation" in message
    assert "`query: UserCreated`" in message


@pytest.mark.parametrize(
    ("annotation", "problem", "fix"),
    [
        (list[int], "is a parameterized type", "annotate it as list"),
        (Optional[Ping], "includes None", "drop the None"),  # noqa: UP045 - the spelling is the test
        (Ping | None, "includes None", "drop the None"),
        (Any, "is Any", "annotate it as `object`"),
        (T, "is a type variable", "name the message class"),
        (Literal["x"], "is not a class", "message class"),
        (42, "is not a class", "routes by type(message)"),
        (Annotated[list[str], "meta"], "is a parameterized type", "list"),
    ],
)
def test_annotation_that_is_not_a_class(annotation: Any, problem: str, fix: str) -> None:
    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = annotation
    message = registers(LocalEventBus(), handler)
    assert re.search(located("handler"), message)
    assert f"the annotation of its message parameter 'message', {annotation!r}" in message or (
        "message parameter 'message'" in message
    )
    assert problem in message
    assert fix in message


def test_string_annotation_that_cannot_be_evaluated() -> None:
    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = "Ping["
    message = registers(LocalRequestBus(), handler)
    assert re.search(located("handler"), message)
    assert "'Ping[', cannot be evaluated (SyntaxError" in message


def test_not_callable() -> None:
    message = registers(LocalRequestBus(), 42)
    assert "Cannot register 42: no handler policy applies to it" in message
    assert "CallableHandlerPolicy(): it is not callable" in message


def test_object_without_policy_for_it_suggests_a_method_policy() -> None:
    class Service:
        async def handle(self, message: Ping) -> None: ...

    message = registers(LocalRequestBus(), Service())
    assert "no handler policy applies" in message
    assert "MethodHandlerPolicy(name='handle')" in message


def test_a_class_instead_of_an_instance() -> None:
    class Service:
        async def handle(self, message: Ping) -> None: ...

    bus = LocalRequestBus(policies=[MethodHandlerPolicy(name="handle")])
    message = registers(bus, Service)
    assert "test_a_class_instead_of_an_instance.<locals>.Service: it is a class" in message
    assert "bus.register(Service(...))" in message
    message = registers(LocalRequestBus(), Service)
    assert "it is a class" in message


def test_sync_generator() -> None:
    def handler(message: Ping):  # type: ignore[no-untyped-def]
        yield 1

    message = registers(LocalRequestBus(), handler)
    assert re.search(f"{located('handler')}: it is a sync generator function", message)
    assert "add `async`" in message


def test_thread_option_on_an_async_handler() -> None:
    async def handler(message: Ping) -> None: ...

    message = registers(LocalRequestBus(), handler, thread=True)
    assert re.search(
        f"{located('handler')}: thread=True was given but it is an async function", message
    )


def test_stream_handler_on_an_event_bus() -> None:
    async def handler(message: Ping):  # type: ignore[no-untyped-def]
        yield 1

    for bus in (LocalEventBus(), EventHandlerRegistry()):
        message = registers(bus, handler)
        assert re.search(located("handler"), message)
        assert "event handlers cannot stream" in message


def test_positional_only_extra_without_default() -> None:
    async def handler(message: Ping, user: str, /) -> None: ...

    message = registers(LocalRequestBus(), handler)
    assert re.search(located("handler"), message)
    assert "parameter 'user' is positional-only and has no default" in message


def test_first_parameter_variadic() -> None:
    async def star(*messages: Ping) -> None: ...

    async def stars(**messages: Ping) -> None: ...

    assert "its first parameter is *messages" in registers(LocalRequestBus(), star)
    assert "it only takes **messages" in registers(LocalRequestBus(), stars)


def test_subject_arg_errors() -> None:
    async def handler(user: str, query: Ping, *rest: Any) -> None: ...

    def policy(name: str) -> list[CallableHandlerPolicy]:
        return [CallableHandlerPolicy(subject_arg=name)]

    message = registers(LocalRequestBus(), handler, policies=policy("missing"))
    assert re.search(located("handler"), message)
    assert (
        "subject_arg='missing' names no parameter of it (its parameters: 'user', 'query', 'rest')"
        in message
    )
    assert "names its variadic parameter" in registers(
        LocalRequestBus(), handler, policies=policy("rest")
    )

    async def positional(first: Ping, second: Ping, /) -> None: ...

    assert "positional-only parameter that is not the first" in registers(
        LocalRequestBus(), positional, policies=policy("second")
    )


def test_arg_map_errors() -> None:
    async def handler(query: Ping, user: str) -> None: ...

    message = registers(
        LocalRequestBus(), handler, policies=[CallableHandlerPolicy(arg_map={"who": "usr"})]
    )
    assert re.search(located("handler"), message)
    assert (
        "arg_map maps 'who' to 'usr', but it has no parameter 'usr' (injectable parameters: 'user')"
        in message
    )
    message = registers(
        LocalRequestBus(), handler, policies=[CallableHandlerPolicy(arg_map={"q": "query"})]
    )
    assert "arg_map maps 'q' onto its message parameter 'query'" in message


def test_bad_options() -> None:
    async def handler(query: Ping) -> None: ...

    bus = LocalRequestBus()
    with pytest.raises(RegistrationError, match="policies must be a non-empty list"):
        bus.register(handler, policies=[])
    with pytest.raises(RegistrationError, match="is not a handler policy"):
        bus.register(handler, policies=["handle"])  # type: ignore[list-item]
    with pytest.raises(RegistrationError, match="thread must be True or False"):
        bus.register(handler, thread="yes")  # type: ignore[arg-type]
    with pytest.raises(ModifierError, match="modifiers must be a sequence"):
        bus.register(handler, modifiers=object())  # type: ignore[arg-type]
    with pytest.raises(ModifierError, match=r"<built-in function print> is not an async function"):
        bus.register(handler, modifiers=[print])  # type: ignore[list-item]

    async def two_arguments(message: Any, call_next: Any) -> Any: ...

    with pytest.raises(
        ModifierError, match=r"cannot be called with \(message, kwargs, call_next\)"
    ):
        bus.register(handler, modifiers=[two_arguments])
    with pytest.raises(ModifierError, match="is neither callable nor has a create"):
        bus.register(handler, modifiers=[42])  # type: ignore[list-item]
    with pytest.raises(RegistrationError, match=r"LocalRequestBus\(\): policies must be"):
        LocalRequestBus(policies="handle")  # type: ignore[arg-type]
    assert len(bus.handlers) == 0


def test_modifier_class_instead_of_instance() -> None:
    class Passthrough:
        def create(self, call: Any, **kwargs: Any) -> Any:
            return call

    with pytest.raises(ModifierError, match=r"Passthrough is a class; pass an instance of it"):
        LocalRequestBus(modifiers=[Passthrough])  # type: ignore[list-item]


def test_annotated_and_unions_are_accepted() -> None:
    @dataclass
    class Pong:
        pass

    bus = LocalEventBus()

    async def annotated(message: Annotated[Ping, "doc"]) -> None: ...

    async def union(message: Union[Ping, Pong]) -> None: ...  # noqa: UP007 - the spelling is the test

    async def pipe(message: Ping | Annotated[Pong, "x"] | Ping) -> None: ...

    assert bus.register(annotated) is annotated
    bus.register(union)
    bus.register(pipe)
    assert [h.message_types for h in bus.handlers] == [(Ping,), (Ping, Pong), (Ping, Pong)]
    assert bus.handlers[1].key == (Ping, Pong)
    assert bus.handlers[0].key is Ping
