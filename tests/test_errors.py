"""Each error class renders its message from its fields, once, here.

A message is a first line naming the handler (qualified name, file:line) or
the call, and the problem, then a ``Tip:`` line with the fix.  Other tests
assert fields only.
"""

from __future__ import annotations

import pickle
import re
import typing
from dataclasses import dataclass
from typing import Any

import pytest

from mediator import Handler, LocalEventBus, LocalRequestBus, PublishError
from mediator.errors import (
    AmbiguousHandlerError,
    BusStateError,
    BusStateProblem,
    ConfigEventAggregateError,
    ConfigurationError,
    ConfigurationProblem,
    DuplicateHandlerError,
    HandlerArgumentError,
    HandlerNotFoundError,
    MediatorError,
    MessageClassError,
    MissingArgumentError,
    ModifierError,
    ModifierProblem,
    RegistrationError,
    RegistrationProblem,
    UnresolvedAnnotationError,
)

HERE = __file__.rsplit("/", 1)[-1]


@dataclass
class Ping:
    pass


class Base: ...


class Other: ...


class Child(Base, Other): ...


async def on_ping(message: Ping, user: str) -> None: ...


async def on_base(message: Base) -> None: ...


async def on_other(message: Other) -> None: ...


def handler_of(fn: Any) -> Handler:
    bus = LocalRequestBus()
    bus.register(fn)
    return bus.handlers[0]


def described(fn: Any) -> str:
    """How errors name a module-level function of this file, with a line-number wildcard."""
    return rf"test_errors\.{fn.__name__} \(tests/{HERE}:\d+\)"


def test_registration_error() -> None:
    async def handler(event):  # type: ignore[no-untyped-def]
        ...

    with pytest.raises(RegistrationError) as caught:
        LocalEventBus().register(handler)
    assert re.fullmatch(
        rf"Cannot register test_errors\.test_registration_error\.<locals>\.handler "
        rf"\(tests/{HERE}:\d+\): its message parameter 'event' has no type annotation\.\n"
        r"Tip: Annotate it with the message class, `event: UserCreated`: the bus routes each "
        r"message by that annotation\.",
        str(caught.value),
    )


@pytest.mark.parametrize("problem", typing.get_args(RegistrationProblem))
def test_every_registration_problem_renders_a_problem_and_a_tip(problem: Any) -> None:
    if problem == "unresolved":
        return  # UnresolvedAnnotationError, below
    error = RegistrationError(on_ping, problem, parameter="x", annotation=int, detail="d")
    first, tip = str(error).split("\n")
    assert first.startswith("Cannot register test_errors.on_ping (")
    assert tip.startswith("Tip: ") and tip.endswith(".")


def test_unresolved_annotation_error() -> None:
    async def pay(invoice: Invoice) -> None:  # type: ignore[name-defined]  # noqa: F821
        ...

    bus = LocalRequestBus()
    bus.register(pay)
    with pytest.raises(UnresolvedAnnotationError) as caught:
        bus.freeze()
    assert re.fullmatch(
        r"Cannot route messages to test_errors\.test_unresolved_annotation_error\.<locals>\.pay "
        rf"\(tests/{HERE}:\d+\): its message parameter 'invoice' is annotated 'Invoice', which "
        r"is not defined in module test_errors\.\n"
        r"Tip: Import or define Invoice at run time \(an import under `if TYPE_CHECKING:` is not "
        r"enough\): at module level, or before registering the handler in the function that "
        r"defines it\.",
        str(caught.value),
    )


async def on_typo(event: Pnig | Base) -> None:  # type: ignore[name-defined]  # noqa: F821
    ...


async def on_missing(event: Invoice) -> None:  # type: ignore[name-defined]  # noqa: F821
    ...


def test_unresolved_annotation_error_suggests_the_closest_class() -> None:
    bus = LocalEventBus()
    bus.register(on_typo)
    with pytest.raises(UnresolvedAnnotationError) as caught:
        bus.freeze()
    assert re.fullmatch(
        rf"Cannot route messages to {described(on_typo)}: its message parameter 'event' is "
        r"annotated 'Pnig \| Base', and 'Pnig' is not defined in module test_errors\.\n"
        r"Tip: Did you mean `Ping`\?",
        str(caught.value),
    )
    bus = LocalEventBus()
    bus.register(on_missing)  # nothing close to it: what else it could be
    with pytest.raises(UnresolvedAnnotationError) as caught:
        bus.freeze()
    assert str(caught.value).endswith(
        "annotated 'Invoice', which is not defined in module test_errors.\n"
        "Tip: Import or define Invoice in module test_errors at run time (an import under "
        "`if TYPE_CHECKING:` is not enough)."
    )


class Service:
    async def handle(self, event: Ping) -> None: ...

    @classmethod
    async def build(cls, event: Ping) -> None: ...


def test_registration_errors_that_advise_another_way_to_register() -> None:
    where = rf"test_errors\.Service\.(handle|build) \(tests/{HERE}:\d+\)"
    cases = [
        (
            Service.handle,
            rf"Cannot register {where}: it is a method of Service, not bound to an instance, "
            r"so 'self' would receive the message\.\n"
            r"Tip: Register the method of an instance, `bus\.register\(Service\(\.\.\.\)\.handle\)`, "
            r"or register instances with policies=\[MethodHandlerPolicy\(name='handle'\)\]\.",
        ),
        (
            vars(Service)["build"],  # the classmethod object, as @bus.register above it sees it
            rf"Cannot register {where}: it is a classmethod object, which is not bound to its "
            r"class yet\.\n"
            r"Tip: Register it after the class body, `bus\.register\(Service\.build\)`: "
            r"@bus\.register above @classmethod runs before the class exists\.",
        ),
        (
            Service.build.__func__,  # what @bus.register below @classmethod sees
            rf"Cannot register {where}: it is the function of a classmethod of Service, so "
            r"'cls' would receive the message\.\n"
            r"Tip: Register it after the class body, `bus\.register\(Service\.build\)`, bound "
            r"to the class\.",
        ),
        (
            None,
            r"Cannot register None: register\(\) was given None instead of a handler\.\n"
            r"Tip: Pass the handler, `bus\.register\(handle\)`\. Under @bus\.register, None means "
            r"the decorator below it returned nothing: make it return the function\.",
        ),
    ]
    for handler, message in cases:
        with pytest.raises(RegistrationError) as caught:
            LocalEventBus().register(handler)
        assert re.fullmatch(message, str(caught.value)), str(caught.value)


def test_a_lambda_is_advised_to_be_a_function() -> None:
    with pytest.raises(RegistrationError) as caught:
        LocalEventBus().register(lambda event: None)
    assert re.fullmatch(
        r"Cannot register test_errors\.test_a_lambda_is_advised_to_be_a_function\.<locals>\."
        rf"<lambda> \(tests/{HERE}:\d+\): it is a lambda, so its message parameter 'event' "
        r"cannot have the type annotation the bus routes by\.\n"
        r"Tip: Define it with def: `def handle\(event: UserCreated\): \.\.\.` \(or async def\)\.",
        str(caught.value),
    )


def test_the_examples_of_a_request_bus_are_requests() -> None:
    async def handler(query, user: str) -> None:  # type: ignore[no-untyped-def]
        ...

    async def nothing() -> None: ...

    with pytest.raises(RegistrationError) as caught:
        LocalRequestBus().register(handler)
    assert str(caught.value).splitlines()[1] == (
        "Tip: Annotate it with the message class, `query: GetUser`: the bus routes each "
        "message by that annotation."
    )
    with pytest.raises(RegistrationError) as caught:
        LocalRequestBus().register(nothing)
    assert str(caught.value).endswith("`async def handle(query: GetUser): ...`.")


def test_duplicate_handler_error() -> None:
    error = DuplicateHandlerError(
        message_type=Base, existing=handler_of(on_base), new=handler_of(on_other), stream=False
    )
    assert re.fullmatch(
        rf"Cannot register {described(on_other)} for test_errors\.Base: {described(on_base)} "
        r"is already its handler\.\n"
        r"Tip: A request has exactly one handler: remove one of them, or give them different "
        r"message classes\.",
        str(error),
    )


def test_handler_not_found_error() -> None:
    registered = [type(f"Message{index}", (), {}) for index in range(12)]
    error = HandlerNotFoundError(Ping, registered=registered)
    assert str(error) == (
        "No handler for test_errors.Ping (registered: test_errors.Message0, test_errors.Message1, "
        "test_errors.Message10, test_errors.Message11, test_errors.Message2, "
        "test_errors.Message3, test_errors.Message4, test_errors.Message5, "
        "test_errors.Message6, test_errors.Message7 and 2 more).\n"
        "Tip: Register an `async def` function whose first parameter is annotated with Ping "
        "(or a base class of it) with @bus.register."
    )
    namesake = type("Ping", (), {"__module__": "elsewhere"})
    assert str(HandlerNotFoundError(Ping, namesake=namesake)).endswith(
        "Tip: A handler is registered for another class of the same name, elsewhere.Ping: is "
        "the class defined (or imported) twice? Otherwise, register an `async def` function "
        "whose first parameter is annotated with Ping (or a base class of it) with @bus.register."
    )
    assert re.fullmatch(
        rf"No stream handler for test_errors\.Ping: it is handled by {described(on_ping)}, "
        r"which returns a single result\.\nTip: Use `await bus\.execute\(\.\.\.\)` instead of "
        r"bus\.stream\(\)\.",
        str(HandlerNotFoundError(Ping, stream=True, other=handler_of(on_ping))),
    )


def test_ambiguous_handler_error() -> None:
    error = AmbiguousHandlerError(
        Child, bases=[Base, Other], candidates=[handler_of(on_base), handler_of(on_other)]
    )
    assert re.fullmatch(
        rf"No handler for test_errors\.Child: it has no handler of its own, and its base classes "
        rf"test_errors\.Base \(handled by {described(on_base)}\) and test_errors\.Other "
        rf"\(handled by {described(on_other)}\) are equally close to it\.\n"
        r"Tip: Register a handler for test_errors\.Child itself to choose\.",
        str(error),
    )


def test_missing_argument_error() -> None:
    error = MissingArgumentError(handler_of(on_ping), parameters=["user"], given=["tenant"])
    assert re.fullmatch(
        rf"{described(on_ping)} needs the argument 'user', which the call did not give "
        r"\(it gave: tenant\)\.\n"
        r"Tip: Pass user=\.\.\. to execute\(\)/publish\(\), set it in a middleware, provide it "
        r"\(bus\.provide\('user', factory\)\) or give the parameter a default\.",
        str(error),
    )


def test_handler_argument_error() -> None:
    error = HandlerArgumentError(handler_of(on_ping), "unexpected", detail="got an extra 'x'")
    assert re.fullmatch(
        rf"{described(on_ping)} cannot take the keyword arguments of this call: got an extra "
        r"'x'\.\nTip: With arg_strict=True every keyword argument of the call is passed on: drop "
        r"arg_strict, or accept them with \*\*kwargs\.",
        str(error),
    )


def test_configuration_error() -> None:
    error = ConfigurationError("LocalEventBus()", "strategy", option="strategy", value="fast")
    assert str(error) == (
        "LocalEventBus(): strategy='fast' is not a strategy.\n"
        "Tip: Use 'sequential', 'concurrent' or 'background'."
    )


@pytest.mark.parametrize("problem", typing.get_args(ConfigurationProblem))
def test_every_configuration_problem_renders(problem: Any) -> None:
    first, tip = str(ConfigurationError("X()", problem, option="o", value=1)).split("\n")
    assert first.startswith("X(): o=1 ") and tip.startswith("Tip: ")


def test_modifier_error() -> None:
    error = ModifierError("not-async", modifier=print, where="LocalRequestBus.register()")
    assert str(error) == (
        "Cannot use the middleware builtins.print in LocalRequestBus.register(): it is not an "
        "async function.\n"
        "Tip: A modifier is a middleware function `async def middleware(message, kwargs, "
        "call_next)` or a factory with a create(call, **kwargs) method."
    )


def audit(message: Any, call_next: Any) -> Any: ...


class Timing:
    def create(self, call: Any, **kwargs: Any) -> Any:
        return None


def test_modifier_errors_name_the_middleware_and_the_fix() -> None:
    with pytest.raises(ModifierError) as caught:
        LocalEventBus(modifiers=[audit])
    assert re.fullmatch(
        rf"Cannot use the middleware {described(audit)} in LocalEventBus\(\): it is not an async "
        r"function\.\nTip: Make it `async def audit\(message, kwargs, call_next\)`\.",
        str(caught.value),
    )

    async def two(message: Any, call_next: Any) -> Any: ...

    with pytest.raises(ModifierError) as caught:
        LocalRequestBus().register(on_ping, modifiers=[two])
    assert re.fullmatch(
        r"Cannot use the middleware test_errors\.test_modifier_errors_name_the_middleware_and_the_"
        rf"fix\.<locals>\.two \(tests/{HERE}:\d+\) in LocalRequestBus\.register\(\) for "
        rf"test_errors\.on_ping \(tests/{HERE}:\d+\): it takes "
        r"\(message, call_next\), but a middleware is called with "
        r"\(message, kwargs, call_next\)\.\n"
        r"Tip: Make it `async def two\(message, kwargs, call_next\)`\.",
        str(caught.value),
    )
    with pytest.raises(ModifierError) as caught:
        LocalRequestBus(modifiers=[Timing()]).register(on_ping)
    assert re.fullmatch(
        r"Cannot use the modifier factory test_errors\.Timing for "
        rf"{described(on_ping)}: its create\(\) returned None\.\n"
        r"Tip: `create\(call, \*\*kwargs\)` must return the async function that wraps `call`\.",
        str(caught.value),
    )


@pytest.mark.parametrize("problem", typing.get_args(ModifierProblem))
def test_every_modifier_problem_renders(problem: Any) -> None:
    first, tip = str(ModifierError(problem, modifier=print, where="X()", value=1)).split("\n")
    assert "X()" in first and first.endswith(".") and tip.startswith("Tip: ")


def test_bus_state_error() -> None:
    assert str(BusStateError("frozen", owner="LocalEventBus")) == (
        "LocalEventBus is frozen: freeze() was called, so no handler can be added.\n"
        "Tip: Register every handler before calling freeze()."
    )


@pytest.mark.parametrize("problem", typing.get_args(BusStateProblem))
def test_every_bus_state_problem_renders(problem: Any) -> None:
    assert "\nTip: " in str(BusStateError(problem, owner="LocalEventBus"))


def test_publish_error() -> None:
    failure = handler_of(on_ping)
    error = PublishError.from_failures(Ping(), [mediator_failure(failure)], 3)
    assert (
        str(error)
        == "1 of 3 handlers failed for test_errors.Ping: test_errors.on_ping (1 sub-exception)"
    )


class OwnGroup(ExceptionGroup[Exception]):
    """A handler's own group class, without a derive() of its own."""


async def test_split_and_except_star_keep_the_failures_of_nested_publish_errors() -> None:
    inner, outer = LocalEventBus(), LocalEventBus()

    @inner.register
    async def inner_value(event: Base) -> None:
        raise ValueError("inner")

    @inner.register
    async def inner_key(event: Base) -> None:
        raise KeyError("inner")

    @outer.register
    async def relay(event: Ping) -> None:
        await inner.publish(Base())  # its PublishError is this handler's failure

    @outer.register
    async def grouped(event: Ping) -> None:
        raise OwnGroup("its own group", [ValueError("own"), KeyError("own")])

    @outer.register
    async def plain(event: Ping) -> None:
        raise KeyError("outer")

    def handlers(error: BaseException | None) -> list[Any]:
        assert isinstance(error, PublishError)
        assert [f.exception for f in error.failures] == list(error.exceptions)
        return [f.handler.fn for f in error.failures]

    with pytest.raises(PublishError) as caught:
        await outer.publish(Ping())
    values, rest = caught.value.split(ValueError)
    assert handlers(values) == [relay, grouped]
    assert values is not None and handlers(values.exceptions[0]) == [inner_value]
    assert handlers(rest) == [relay, grouped, plain]
    assert rest is not None and handlers(rest.exceptions[0]) == [inner_key]
    assert handlers(caught.value.subgroup(lambda e: "outer" in str(e))) == [plain]

    seen: dict[str, list[Any]] = {}
    try:
        await outer.publish(Ping())
    except* KeyError as group:
        seen["key"] = handlers(group)
        seen["inner key"] = handlers(group.exceptions[0])
    except* ValueError as group:
        seen["value"] = handlers(group)
    assert seen == {
        "key": [relay, grouped, plain],
        "inner key": [inner_key],
        "value": [relay, grouped],
    }


def mediator_failure(handler: Handler) -> Any:
    from mediator import Failure

    return Failure(handler, ValueError("boom"))


def test_config_event_aggregate_error() -> None:
    class Account: ...

    assert str(ConfigEventAggregateError(Account())) == (
        "Account.commit() has no publisher.\n"
        "Tip: Call use(bus) first, for example `aggregate.use(event_bus)`."
    )


@pytest.mark.parametrize(
    "error",
    [
        RegistrationError(on_ping, "no-parameters"),
        HandlerNotFoundError(Ping, registered=[Base]),
        ConfigurationError("X()", "thread", option="thread", value="yes"),
        BusStateError("frozen", owner="LocalEventBus"),
        PublishError("1 of 1 handlers failed", [ValueError("boom")]),
        MessageClassError(Ping, call="execute"),
    ],
    ids=type,
)
def test_errors_survive_pickling(error: MediatorError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


async def on_ping_module_level(message: Ping, user: str) -> None: ...


def test_errors_naming_a_handler_survive_pickling() -> None:
    error = MissingArgumentError(handler_of(on_ping_module_level), parameters=["user"], given=[])
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.handler.fn is on_ping_module_level and copy.parameters == ("user",)


def test_tips_keep_code_as_written() -> None:
    error = ConfigurationError("LocalEventBus()", "sync-mode", option="sync_mode", value="no")
    assert str(error).splitlines()[1].startswith("Tip: `sync_mode=True` means")
