"""Every mistake in a handler is reported at registration, naming handler, parameter and fix.

The tests assert the errors' fields; `tests/test_errors.py` renders each
error class once.
"""

from __future__ import annotations

import gc
import re
import weakref
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

import pytest

from mediator import EventHandlerRegistry, LocalEventBus, LocalRequestBus, RegistrationError
from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy
from mediator.errors import ConfigurationError, ModifierError, UnresolvedAnnotationError

T = TypeVar("T")
HERE = re.escape(__file__.rsplit("/", 1)[-1])


@dataclass
class Ping:
    pass


def fails(bus: Any, handler: Any, **options: Any) -> RegistrationError:
    """Register, expecting a RegistrationError, and check the bus did not change."""
    before = list(bus)
    with pytest.raises(RegistrationError) as caught:
        bus.register(handler, **options)
    assert list(bus) == before
    assert isinstance(caught.value, TypeError)
    return caught.value


def located(error: RegistrationError, name: str) -> None:
    """The error names the handler by qualified name and file:line."""
    assert re.fullmatch(
        rf"test_registration_errors\.[\w.<>]*{name} \([^)]*{HERE}:\d+\)", error.where
    )


def test_no_parameters() -> None:
    async def handler() -> None: ...

    error = fails(LocalRequestBus(), handler)
    assert (error.problem, error.obj, error.parameter) == ("no-parameters", handler, None)
    located(error, "handler")


def test_unannotated_message_parameter() -> None:
    async def handler(query, user: str) -> None:  # type: ignore[no-untyped-def]
        ...

    error = fails(LocalRequestBus(), handler)
    assert (error.problem, error.parameter) == ("unannotated", "query")
    located(error, "handler")


@pytest.mark.parametrize(
    ("annotation", "problem", "detail"),
    [
        (list[int], "annotation-generic", "list"),
        (Optional[Ping], "annotation-none", None),  # noqa: UP045 - the spelling is the test
        (Ping | None, "annotation-none", None),
        (Any, "annotation-any", None),
        (T, "annotation-typevar", None),
        (Literal["x"], "annotation-not-class", None),
        (42, "annotation-not-class", None),
        (Annotated[list[str], "meta"], "annotation-generic", "list"),
    ],
)
def test_annotation_that_is_not_a_class(annotation: Any, problem: str, detail: str | None) -> None:
    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = annotation
    error = fails(LocalEventBus(), handler)
    assert (error.problem, error.parameter, error.detail) == (problem, "message", detail)
    assert error.annotation == annotation
    located(error, "handler")


def test_string_annotation_that_cannot_be_evaluated() -> None:
    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = "Ping["
    error = fails(LocalRequestBus(), handler)
    assert (error.problem, error.annotation) == ("annotation-error", "Ping[")
    assert error.detail is not None and error.detail.startswith("SyntaxError")


def test_not_callable() -> None:
    error = fails(LocalRequestBus(), 42)
    assert (error.problem, error.obj, error.where) == ("no-policy", 42, "42")
    assert error.detail == "CallableHandlerPolicy(): it is not callable"


def test_object_without_policy_for_it_suggests_a_method_policy() -> None:
    class Service:
        async def handle(self, message: Ping) -> None: ...

    error = fails(LocalRequestBus(), Service())
    assert (error.problem, error.parameter) == ("no-policy", "handle")
    assert "MethodHandlerPolicy(name='handle')" in str(error)


def test_a_method_policy_that_does_not_apply_says_why() -> None:
    class Service:
        async def run(self, message: Ping) -> None: ...

    policies = [
        MethodHandlerPolicy(name="handle"),
        MethodHandlerPolicy(name="run", subtype_of=[int]),
    ]
    error = fails(LocalRequestBus(), Service(), policies=policies)
    assert error.problem == "no-policy"
    assert error.detail == (
        "MethodHandlerPolicy(name='handle'): it has no method 'handle'; "
        "MethodHandlerPolicy(name='run'): it is not an instance of int"
    )


def test_a_class_instead_of_an_instance() -> None:
    class Service:
        async def handle(self, message: Ping) -> None: ...

    bus = LocalRequestBus(policies=[MethodHandlerPolicy(name="handle")])
    error = fails(bus, Service)
    assert (error.problem, error.obj) == ("class", Service)
    assert error.where == f"{__name__}.test_a_class_instead_of_an_instance.<locals>.Service"
    assert fails(LocalRequestBus(), Service).problem == "class"


def test_sync_generator() -> None:
    def handler(message: Ping):  # type: ignore[no-untyped-def]
        yield 1

    error = fails(LocalRequestBus(), handler)
    assert error.problem == "sync-generator"
    located(error, "handler")


def test_thread_option_on_an_async_handler() -> None:
    async def handler(message: Ping) -> None: ...

    async def stream(message: Ping):  # type: ignore[no-untyped-def]
        yield 1

    error = fails(LocalRequestBus(), handler, thread=True)
    assert (error.problem, error.detail) == ("thread-on-async", "async")
    assert fails(LocalRequestBus(), stream, thread=True).detail == "async generator"


def test_stream_handler_on_an_event_bus() -> None:
    async def handler(message: Ping):  # type: ignore[no-untyped-def]
        yield 1

    for bus in (LocalEventBus(), EventHandlerRegistry()):
        error = fails(bus, handler)
        assert error.problem == "stream-on-event-bus"
        located(error, "handler")


def test_positional_only_extra_without_default() -> None:
    async def handler(message: Ping, user: str, /) -> None: ...

    error = fails(LocalRequestBus(), handler)
    assert (error.problem, error.parameter) == ("positional-only", "user")


def test_first_parameter_variadic() -> None:
    async def star(*messages: Ping) -> None: ...

    async def stars(**messages: Ping) -> None: ...

    error = fails(LocalRequestBus(), star)
    assert (error.problem, error.parameter, error.detail) == ("variadic-message", "messages", "*")
    assert fails(LocalRequestBus(), stars).detail == "**"


def test_subject_arg_errors() -> None:
    async def handler(user: str, query: Ping, *rest: Any) -> None: ...

    def policy(name: str) -> list[CallableHandlerPolicy]:
        return [CallableHandlerPolicy(subject_arg=name)]

    error = fails(LocalRequestBus(), handler, policies=policy("missing"))
    assert (error.problem, error.parameter) == ("subject-arg-unknown", "missing")
    assert error.detail == "its parameters: 'user', 'query', 'rest'"
    error = fails(LocalRequestBus(), handler, policies=policy("rest"))
    assert (error.problem, error.parameter) == ("subject-arg-variadic", "rest")

    async def positional(first: Ping, second: Ping, /) -> None: ...

    error = fails(LocalRequestBus(), positional, policies=policy("second"))
    assert (error.problem, error.parameter) == ("subject-arg-positional", "second")


def test_arg_map_errors() -> None:
    async def handler(query: Ping, user: str) -> None: ...

    unknown = [CallableHandlerPolicy(arg_map={"who": "usr"})]
    error = fails(LocalRequestBus(), handler, policies=unknown)
    assert (error.problem, error.parameter, error.detail) == ("arg-map-unknown", "usr", "who")
    onto_message = [CallableHandlerPolicy(arg_map={"q": "query"})]
    error = fails(LocalRequestBus(), handler, policies=onto_message)
    assert (error.problem, error.parameter, error.detail) == ("arg-map-message", "query", "q")


def test_bad_options_are_reported_where_they_are_given() -> None:
    async def handler(query: Ping) -> None: ...

    bus = LocalRequestBus()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"policies": []}, "policies", "policies"),
        ({"policies": ["handle"]}, "policy", "policies"),
        ({"thread": "yes"}, "thread", "thread"),
    ]
    for options, problem, option in cases:
        with pytest.raises(ConfigurationError) as caught:
            bus.register(handler, **options)
        assert (caught.value.problem, caught.value.option) == (problem, option)
        assert caught.value.where == "LocalRequestBus.register()"
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    with pytest.raises(ConfigurationError) as caught:
        LocalRequestBus(policies="handle")  # type: ignore[arg-type]
    assert (caught.value.where, caught.value.value) == ("LocalRequestBus()", "handle")
    assert len(bus.handlers) == 0


async def _two_arguments(message: Any, call_next: Any) -> Any: ...


class _FactoryClass:
    def create(self, call: Any, **kwargs: Any) -> Any:
        return call


@pytest.mark.parametrize(
    ("modifiers", "problem"),
    [
        (object(), "not-a-sequence"),
        ([print], "not-async"),
        ([_two_arguments], "signature"),
        ([42], "not-callable"),
        ([_FactoryClass], "class"),
    ],
)
def test_bad_modifiers(modifiers: Any, problem: str) -> None:
    async def handler(query: Ping) -> None: ...

    bus = LocalRequestBus()
    with pytest.raises(ModifierError) as caught:
        bus.register(handler, modifiers=modifiers)
    assert caught.value.problem == problem
    assert caught.value.where == "LocalRequestBus.register()"
    if problem != "not-a-sequence":
        assert caught.value.modifier is modifiers[0]
    with pytest.raises(ModifierError) as caught:
        LocalEventBus(modifiers=modifiers)
    assert (caught.value.problem, caught.value.where) == (problem, "LocalEventBus()")
    assert len(bus.handlers) == 0


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


def test_the_handler_record_describes_the_handler() -> None:
    bus = LocalRequestBus()

    async def get(query: Ping, user: str, tenant: str = "-", **rest: Any) -> None: ...

    bus.register(get)
    (handler,) = bus.handlers
    assert (handler.obj, handler.fn, handler.kind) == (get, get, "async")
    assert handler.name == f"{__name__}.test_the_handler_record_describes_the_handler.<locals>.get"
    assert (handler.message_parameter, handler.message_by_keyword) == ("query", False)
    assert (handler.injectable, handler.required, handler.var_keyword) == (
        ("user", "tenant"),
        ("user",),
        True,
    )
    assert handler.location is not None and re.fullmatch(rf".*{HERE}:\d+", handler.location)
    assert repr(handler) == f"<Handler {handler.described} for test_registration_errors.Ping>"
    with pytest.raises(AttributeError):
        handler.kind = "sync"  # type: ignore[misc]


def test_an_annotation_with_a_broken_repr_is_still_reported() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = Unprintable()
    error = fails(LocalRequestBus(), handler)
    assert error.problem == "annotation-not-class"
    assert "Unprintable object at" in str(error)


def test_an_annotation_is_shown_as_written() -> None:
    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = None  # evaluated, it would be NoneType
    error = fails(LocalRequestBus(), handler)
    assert (error.problem, error.annotation) == ("annotation-none", None)


def test_a_late_annotation_that_fails_to_evaluate_names_the_handler() -> None:
    bus = LocalRequestBus()

    async def handler(message: Any) -> None: ...

    handler.__annotations__["message"] = "Later[int]"
    bus.register(handler)  # Later does not exist yet: resolved at freeze()
    handler.__globals__["Later"] = type("Later", (), {})  # not generic
    try:
        with pytest.raises(RegistrationError) as caught:
            bus.freeze()
    finally:
        del handler.__globals__["Later"]
    assert (caught.value.problem, caught.value.annotation) == ("annotation-error", "Later[int]")
    assert caught.value.detail is not None and caught.value.detail.startswith("TypeError")


def test_include_of_something_that_is_not_a_registry() -> None:
    async def handler(message: Ping) -> None: ...

    for wrong in (5, handler):
        with pytest.raises(RegistrationError) as caught:
            LocalRequestBus().include(wrong)  # type: ignore[arg-type]
        assert (caught.value.problem, caught.value.obj) == ("include-item", wrong)


def test_no_policy_suggests_a_method_only_when_no_policy_names_it() -> None:
    class Base: ...

    class Service:
        async def handle(self, message: Ping) -> None: ...

    policies = [MethodHandlerPolicy(name="handle", subtype_of=[Base])]
    error = fails(LocalRequestBus(), Service(), policies=policies)
    assert (error.problem, error.parameter) == ("no-policy", None)
    assert "subtype_of" in str(error).splitlines()[1]


def test_sync_mode_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalEventBus(sync_mode="no")  # type: ignore[arg-type]
    assert (caught.value.problem, caught.value.value) == ("sync-mode", "no")


def test_an_object_whose_attributes_raise_is_reported() -> None:
    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

        async def __call__(self, message: Ping) -> None: ...

    error = fails(LocalRequestBus(), Hostile())
    assert error.problem == "signature"
    assert error.detail == "RuntimeError: no __wrapped__"


# -- how a handler is registered -----------------------------------------------------------


def test_register_none_is_a_mistake_and_register_without_argument_a_decorator() -> None:
    bus = LocalEventBus()
    error = fails(bus, None)
    assert (error.problem, error.obj, error.where, error.registry) == (
        "none",
        None,
        "None",
        "event",
    )

    async def handler(event: Ping) -> None: ...

    async def other(event: Ping) -> None: ...

    assert bus.register()(handler) is handler  # without an argument: a decorator
    assert bus.register(thread=False)(other) is other
    assert [h.fn for h in bus.handlers] == [handler, other]


def test_a_method_registered_unbound_is_reported_with_its_class() -> None:
    bus = LocalRequestBus()
    with pytest.raises(RegistrationError) as caught:

        class Service:
            @bus.register
            async def handle(self, query: Ping) -> None: ...

    error = caught.value
    assert (error.problem, error.parameter, error.detail) == (
        "unbound-method",
        "self",
        "Service.handle",
    )
    assert error.registry == "request"
    located(error, "Service.handle")

    class Later:
        async def handle(self, query: Ping) -> None: ...

        @classmethod
        async def build(cls, query: Ping) -> None: ...

    assert fails(bus, Later.handle).problem == "unbound-method"
    error = fails(bus, Later.build.__func__)
    assert (error.problem, error.parameter) == ("unbound-method", "cls")
    error = fails(bus, vars(Later)["build"])  # @bus.register above @classmethod
    assert (error.problem, error.obj) == ("classmethod", vars(Later)["build"])
    located(error, "Later.build")
    # What the tips advise works.
    bus.register(Later().handle)
    LocalRequestBus().register(Later.build)
    LocalRequestBus(policies=[MethodHandlerPolicy(name="handle")]).register(Later())


def test_a_staticmethod_under_register_is_its_function() -> None:
    bus = LocalEventBus()

    class Handlers:
        @bus.register
        @staticmethod
        async def on_ping(event: Ping) -> None: ...

    (handler,) = bus.handlers
    assert handler.kind == "async" and handler.fn is vars(Handlers)["on_ping"].__func__


def test_a_function_of_a_class_body_with_a_message_first_is_fine() -> None:
    class Namespace:
        async def on_ping(event: Ping) -> None: ...  # type: ignore[misc]

    bus = LocalEventBus()
    bus.register(Namespace.on_ping)
    assert bus.handlers[0].message_types == (Ping,)


def test_a_lambda() -> None:
    error = fails(LocalEventBus(), lambda event: None)
    assert (error.problem, error.parameter) == ("lambda", "event")
    located(error, "<lambda>")
    assert fails(LocalEventBus(), lambda: None).problem == "no-parameters"


def test_the_registry_kind_is_recorded_for_the_examples() -> None:
    async def handler(message) -> None:  # type: ignore[no-untyped-def]
        ...

    assert fails(LocalRequestBus(), handler).registry == "request"
    assert fails(EventHandlerRegistry(), handler).registry == "event"


# -- arg_map shared by a bus ---------------------------------------------------------------


async def test_a_bus_wide_arg_map_applies_to_the_handlers_that_have_the_parameter() -> None:
    bus = LocalRequestBus(policies=[CallableHandlerPolicy(arg_map={"current_user": "user"})])

    @bus.register
    async def with_user(query: Ping, user: str) -> str:
        return user

    @dataclass
    class Other:
        pass

    @bus.register
    async def without_user(query: Other, current_user: str = "-") -> str:
        return current_user

    @dataclass
    class Third:
        pass

    @bus.register
    async def user_is_the_message(user: Third) -> str:
        return "third"

    assert [h.arg_map for h in bus.handlers] == [{"current_user": "user"}, {}, {}]
    assert await bus.execute(Ping(), current_user="ada") == "ada"
    assert await bus.execute(Other(), current_user="ada") == "ada"
    assert await bus.execute(Third(), current_user="ada") == "third"


def test_an_arg_map_given_to_register_must_fit_the_handler() -> None:
    shared = CallableHandlerPolicy(arg_map={"current_user": "user"})

    async def without_user(query: Ping) -> None: ...

    error = fails(LocalRequestBus(), without_user, policies=[shared])
    assert (error.problem, error.parameter) == ("arg-map-unknown", "user")
    registry = EventHandlerRegistry(policies=[MethodHandlerPolicy(name="handle", policy=shared)])

    class Service:
        async def handle(self, event: Ping) -> None: ...

    registry.register(Service())  # the registry's policy: fine
    assert registry.handlers[0].arg_map == {}


# -- string annotations: where they resolve ------------------------------------------------


def test_a_string_annotation_resolves_in_the_handler_module_not_where_it_is_registered() -> None:
    import handlers_shop

    class OrderPlaced:  # another class of that name, where the handler is registered
        pass

    bus = LocalEventBus()
    bus.register(handlers_shop.on_order_placed)
    assert bus.handlers[0].message_types == (handlers_shop.OrderPlaced,)
    assert OrderPlaced is not handlers_shop.OrderPlaced


def register_from_a_helper(bus: Any, handler: Any) -> None:
    class Ping:  # the point: a namesake where the handler is registered
        pass

    bus.register(handler)


def test_a_helper_that_registers_does_not_lend_its_locals() -> None:
    async def handler(event: Ping) -> None: ...

    bus = LocalEventBus()
    register_from_a_helper(bus, handler)
    assert bus.handlers[0].message_types == (Ping,)  # the module's Ping


async def test_a_handler_defined_where_it_is_registered_sees_the_local_classes() -> None:
    @dataclass
    class Local:
        number: int

    bus = LocalRequestBus()

    @bus.register
    async def handler(query: Local) -> int:
        return query.number

    class Holder:
        async def handle(self, query: Local | Ping) -> str:
            return "held"

    other = LocalRequestBus(policies=[MethodHandlerPolicy(name="handle")])
    other.register(Holder())
    assert await bus.execute(Local(4)) == 4
    assert other.handlers[0].message_types == (Local, Ping)


class Kept:
    pass


def test_a_pending_handler_keeps_only_the_local_names_its_annotation_uses() -> None:
    bus = LocalEventBus()

    def register() -> tuple[type, weakref.ref[Kept]]:
        class Local:
            pass

        big = Kept()

        async def handler(event: Local | LaterName) -> None:  # type: ignore[name-defined]  # noqa: F821
            ...

        bus.register(handler)

        @bus.register()
        async def decorated(event: LaterName) -> None:  # type: ignore[name-defined]  # noqa: F821
            ...

        return Local, weakref.ref(big)

    local, big = register()
    gc.collect()
    assert big() is None  # nothing keeps the registering function's variables alive
    globals()["LaterName"] = type("LaterName", (), {})
    try:
        bus.freeze()
        assert [h.message_types for h in bus.handlers] == [
            (local, globals()["LaterName"]),
            (globals()["LaterName"],),
        ]
    finally:
        del globals()["LaterName"]


def test_a_typo_in_a_late_annotation_names_the_closest_class() -> None:
    import handlers_shop

    bus = LocalEventBus()
    bus.register(handlers_shop.on_order_typo)
    with pytest.raises(UnresolvedAnnotationError) as caught:
        bus.freeze()
    error = caught.value
    assert (error.problem, error.name, error.suggestion) == (
        "unresolved",
        "OrderPlacd",
        "OrderPlaced",
    )
    assert (error.parameter, error.annotation, error.handler.fn) == (
        "event",
        "OrderPlacd",
        handlers_shop.on_order_typo,
    )


def test_a_late_annotation_may_suggest_a_local_class() -> None:
    class Shipment:
        pass

    async def handler(event: Shipmnt) -> None:  # type: ignore[name-defined]  # noqa: F821
        ...

    bus = LocalEventBus()
    bus.register(handler)
    with pytest.raises(UnresolvedAnnotationError) as caught:
        bus.freeze()
    assert (caught.value.name, caught.value.suggestion) == ("Shipmnt", "Shipment")
    assert Shipment  # only its name was kept


def test_bad_middleware_signature_is_recorded() -> None:
    async def two(message: Any, call_next: Any) -> Any: ...

    async def handler(query: Ping) -> None: ...

    with pytest.raises(ModifierError) as caught:
        LocalRequestBus().register(handler, modifiers=[two])
    assert (caught.value.problem, caught.value.modifier, caught.value.detail) == (
        "signature",
        two,
        "(message, call_next)",
    )
    assert caught.value.handler is not None and caught.value.handler.fn is handler
