"""python-mediator 0.7's model, kept at the edge of the core.

Its modifier factories wrap an *action call*, ``async (ActionSubject) ->
ActionResult``.  When a handler's chain is built, each run of factories
becomes one layer of the core chain (`factory_layer`): the layer boxes the
message and keyword arguments into an ``ActionSubject`` on the way in and
unboxes the ``ActionResult`` on the way out, so only handlers that use
factories pay for them.  The interfaces and error names python-mediator
documented, re-exported from ``mediator.request``, ``mediator.event`` and
``mediator.common.*``, live here too.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ._errors import (
    ConfigurationError,
    DuplicateHandlerError,
    HandlerNotFoundError,
    MediatorError,
    ModifierError,
    RegistrationError,
)
from ._handler import Handler

if TYPE_CHECKING:
    from ._chain import Call, Layer, Next

__all__ = [
    "ActionCallType",
    "ActionResult",
    "ActionSubject",
    "CollisionHandlerStoreError",
    "ConfigHandlerFactoryCascadeError",
    "HandlerFactoryCascadeError",
    "HandlerFactoryError",
    "HandlerStoreError",
    "IncompatibleHandlerFactoryCascadeError",
    "IncompatibleHandlerFactoryError",
    "InspectionHandlerFactoryCascadeError",
    "InspectionHandlerStoreError",
    "LookupHandlerStoreError",
    "ModifierFactory",
    "ModifierStack",
    "RequestExecutor",
    "call_handler",
    "factory_layer",
    "is_factory",
    "strategy_of_sync_mode",
]


@dataclass(slots=True)
class ActionSubject:
    """What a modifier factory's call sees: the message and the extra keyword arguments.

    A modifier may replace ``subject`` or edit ``inject`` before calling on;
    the handler receives whatever reaches the end of the chain.  Each handler
    of an event gets its own ``ActionSubject`` (and its own ``inject`` dict).
    """

    subject: Any
    inject: dict[str, Any]

    @property
    def key(self) -> type:
        """The message type, as python-mediator exposed it."""
        return type(self.subject)


@dataclass(slots=True)
class ActionResult:
    """The handler's return value on its way back up a chain of modifier factories.

    For a stream handler ``result`` is the async iterator of its items, which
    a modifier may wrap.
    """

    result: Any


ActionCallType = Callable[[ActionSubject], Awaitable[ActionResult]]


@runtime_checkable
class ModifierFactory(Protocol):
    """Makes the modifier that wraps one handler's call (python-mediator's middleware).

    Subclass it, or write any object with this method::

        class Timing(ModifierFactory):
            def create(self, call, **kwargs):
                async def timed(action):
                    started = time.perf_counter()
                    try:
                        return await call(action)
                    finally:
                        print(type(action.subject).__name__, time.perf_counter() - started)
                return timed

    ``create`` runs once per handler, when the handler is added to a bus; its
    keyword arguments carry ``target``: the `mediator.Handler` at the end of
    the stack.  Either way, ``isinstance(obj, ModifierFactory)`` is true.
    """

    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType: ...


def is_factory(modifier: object) -> bool:
    """A modifier factory (an instance with ``create``), as opposed to a middleware function."""
    return not isinstance(modifier, type) and callable(getattr(modifier, "create", None))


class ModifierStack:
    """Builds chains of modifier factories."""

    @classmethod
    def build(
        cls, factories: Sequence[ModifierFactory], call: ActionCallType, *, target: Any = None
    ) -> ActionCallType:
        """Wrap ``call``; ``factories[0]`` ends up outermost: ``[A, B]`` runs A -> B -> call.

        Each factory gets ``target=`` (default: ``call`` itself).
        """
        if target is None:
            target = call
        for factory in reversed(factories):
            wrapped: Any = factory.create(call, target=target)
            if not callable(wrapped):
                handler = target if isinstance(target, Handler) else None
                raise ModifierError(
                    "create-result", modifier=factory, handler=handler, value=wrapped
                )
            call = wrapped
        return call


_new = object.__new__  # skips the dataclass __init__: the boxing runs on every call


def factory_layer(factories: Sequence[ModifierFactory], handler: Handler) -> Layer:
    """A run of modifier factories as one layer of the core chain."""

    def layer(call_next: Next, copy: bool) -> Call:
        chain = ModifierStack.build(factories, _boxed(call_next), target=handler)

        async def through(message: Any, kwargs: dict[str, Any]) -> Any:
            action: ActionSubject = _new(ActionSubject)
            action.subject = message
            action.inject = dict(kwargs) if copy else kwargs
            result = await chain(action)
            try:
                return result.result
            except AttributeError:
                raise ModifierError("action-result", handler=handler, value=result) from None

        return through

    return layer


def _boxed(call: Next | Call) -> ActionCallType:
    async def boxed(action: ActionSubject) -> ActionResult:
        value = await call(action.subject, action.inject)
        result: ActionResult = _new(ActionResult)
        result.result = value
        return result

    return boxed


_endpoints: weakref.WeakKeyDictionary[Handler, ActionCallType] = weakref.WeakKeyDictionary()


def call_handler(handler: Handler, action: ActionSubject) -> Awaitable[ActionResult]:
    """``handler(action)``: python-mediator's handlers could be called with an action."""
    endpoint = _endpoints.get(handler)
    if endpoint is None:
        from ._invoke import compile_call

        endpoint = _endpoints[handler] = _boxed(compile_call(handler))
    return endpoint(action)


def strategy_of_sync_mode(
    sync_mode: bool | None, strategy: object
) -> Literal["concurrent", "background"] | None:
    """python-mediator's ``sync_mode``: True waited for the handlers, False did not."""
    if sync_mode is None:
        return None
    if strategy is not None:
        raise ConfigurationError(
            "LocalEventBus()", "strategy-and-sync-mode", option="sync_mode", value=sync_mode
        )
    return "concurrent" if sync_mode else "background"


@runtime_checkable
class RequestExecutor(Protocol):
    """Anything that executes requests (python-mediator's interface); buses satisfy it."""

    def execute(self, request: Any, /, **kwargs: Any) -> Awaitable[Any]: ...


# Where python-mediator defined them, for reprs and pickling (the first public
# module to import them would otherwise decide).
ActionSubject.__module__ = ActionResult.__module__ = "mediator.common.types"
ModifierFactory.__module__ = ModifierStack.__module__ = "mediator.common.modifiers"
RequestExecutor.__module__ = "mediator.request"

# python-mediator's error names, as the closest of this library's errors (so
# that its `except` clauses keep catching what they meant).
HandlerStoreError = MediatorError
InspectionHandlerStoreError = RegistrationError
CollisionHandlerStoreError = DuplicateHandlerError
LookupHandlerStoreError = HandlerNotFoundError
HandlerFactoryError = RegistrationError
IncompatibleHandlerFactoryError = RegistrationError
HandlerFactoryCascadeError = RegistrationError
InspectionHandlerFactoryCascadeError = RegistrationError
IncompatibleHandlerFactoryCascadeError = RegistrationError
ConfigHandlerFactoryCascadeError = ConfigurationError
