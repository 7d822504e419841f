"""How a handler is called: the invokers compiled once per handler.

``invoke(message, kwargs)`` binds the call's keyword arguments to the
handler's parameters without ``inspect`` (the shape was read at registration)
and returns the handler's own coroutine, or async iterator for a stream
handler, so that a dispatch adds no coroutine frame of its own.  Argument
errors are raised at once, before any handler code runs, and explained by
`explain_argument_error` on that slow path only.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread

from ._errors import HandlerArgumentError, MissingArgumentError
from ._modifiers import ActionCallType, ActionResult, ActionSubject

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = ["Invoker", "boxing", "compile_endpoint", "compile_invoker", "explain_argument_error"]

#: ``invoke(message, kwargs)``: starts the handler and returns its coroutine
#: (or, for a stream handler, its async iterator).
Invoker = Callable[[Any, dict[str, Any]], Any]

_NO_KWARGS: Final[dict[str, Any]] = {}


def explain_argument_error(
    handler: Handler, kwargs: Mapping[str, Any], given: Mapping[str, Any] | None = None
) -> None:
    """Raise a `HandlerArgumentError` if ``kwargs`` cannot bind to the handler; else return.

    ``given`` is what the call passed, before renaming and filtering.

    Only called after the handler raised ``TypeError`` while being started, so
    this slow path costs nothing on successful calls.
    """
    missing = [name for name in handler.required if name not in kwargs]
    if missing:
        renamed = {target: source for source, target in handler.arg_map.items()}
        wanted = ", ".join(f"{renamed.get(name, name)}=..." for name in missing)
        received = ", ".join(sorted(kwargs if given is None else given)) or "none"
        plural = "s" if len(missing) > 1 else ""
        names = ", ".join(repr(name) for name in missing)
        raise MissingArgumentError(
            f"{handler.described} needs the argument{plural} {names}, which the call did not "
            f"give (keyword arguments it received: {received}). Pass {wanted} to execute()/"
            f"publish(), set it from a modifier (action.inject), or give the parameter a default.",
            handler=handler,
            parameters=missing,
        )
    try:
        signature = inspect.signature(handler.fn)
    except (TypeError, ValueError):  # pragma: no cover - inspected fine at registration
        return
    arguments = dict(kwargs)
    if handler.subject_keyword:
        if handler.subject in arguments:
            raise HandlerArgumentError(
                f"{handler.described}: the keyword argument {handler.subject!r} collides with "
                f"its message parameter; rename the keyword argument",
                handler=handler,
            )
        arguments[handler.subject] = None
        args: tuple[Any, ...] = ()
    else:
        args = (None,)
    try:
        signature.bind(*args, **arguments)
    except TypeError as error:
        raise HandlerArgumentError(
            f"{handler.described} cannot take the keyword arguments of this call: {error}. "
            f"With arg_strict=True every keyword argument of the call is passed on; drop "
            f"arg_strict, or accept them with **kwargs",
            handler=handler,
        ) from None


def compile_invoker(handler: Handler) -> Invoker:
    """Pick the cheapest correct way to call this handler."""
    fn = handler.fn
    if handler.kind in ("sync", "thread"):
        pick = _picker(handler)
        runner = _run_in_thread if handler.kind == "thread" else _run_inline

        def invoke_sync(message: Any, given: dict[str, Any]) -> Any:
            kwargs = pick(given) if (pick is not None and given) else _NO_KWARGS
            return runner(handler, message, kwargs, given)

        return invoke_sync

    # Calling an async (generator) function only binds its arguments: its body
    # has not run, so a TypeError here is an argument error and can be explained
    # or, below, retried with the keyword arguments filtered.
    if handler.subject_keyword or handler.arg_map or handler.var_keyword or handler.arg_strict:
        return _general_invoker(handler)
    accepts = handler.accepts
    if not accepts:
        return lambda message, kwargs: fn(message)

    def call_by_name(message: Any, kwargs: dict[str, Any]) -> Any:
        picked = kwargs
        if not kwargs.keys() <= accepts:
            picked = {k: v for k, v in kwargs.items() if k in accepts}
        try:
            return fn(message, **picked)
        except TypeError:
            explain_argument_error(handler, picked, kwargs)
            raise

    positional = handler.positional
    if not positional:
        return call_by_name

    # The call usually passes exactly the handler's extra parameters: then they
    # go positionally, which is much cheaper than unpacking a dict.
    count = len(positional)
    take = operator.itemgetter(*positional)

    if count == 1:

        def invoke_one(message: Any, kwargs: dict[str, Any]) -> Any:
            if len(kwargs) == 1:
                try:
                    value = take(kwargs)
                except KeyError:
                    pass
                else:
                    return fn(message, value)
            return call_by_name(message, kwargs)

        return invoke_one

    def invoke_many(message: Any, kwargs: dict[str, Any]) -> Any:
        if len(kwargs) == count:
            try:
                values = take(kwargs)
            except KeyError:
                pass
            else:
                return fn(message, *values)
        return call_by_name(message, kwargs)

    return invoke_many


def _general_invoker(handler: Handler) -> Invoker:
    fn = handler.fn
    pick = _picker(handler)
    subject = handler.subject
    keyword = handler.subject_keyword

    def invoke(message: Any, given: dict[str, Any]) -> Any:
        kwargs = pick(given) if (pick is not None and given) else _NO_KWARGS
        try:
            if keyword:
                return fn(**kwargs, **{subject: message})
            return fn(message, **kwargs)
        except TypeError:
            explain_argument_error(handler, kwargs, given)
            raise

    return invoke


def compile_endpoint(handler: Handler) -> ActionCallType:
    """The innermost link of a modifier chain: run the handler, box its result."""
    invoke = handler.invoke
    direct = handler.direct
    new = object.__new__  # skips the dataclass __init__: this runs on every call

    if direct is not None:

        async def endpoint_direct(action: ActionSubject) -> ActionResult:
            value = await direct(action.subject)
            boxed: ActionResult = new(ActionResult)
            boxed.result = value
            return boxed

        return endpoint_direct

    if handler.kind == "stream":

        async def endpoint_stream(action: ActionSubject) -> ActionResult:
            boxed: ActionResult = new(ActionResult)
            boxed.result = invoke(action.subject, action.inject)
            return boxed

        return endpoint_stream

    return boxing(invoke)


def boxing(call: Callable[[Any, dict[str, Any]], Awaitable[Any]]) -> ActionCallType:
    """``call(message, kwargs)`` seen as an action call: ``ActionSubject -> ActionResult``."""
    new = object.__new__

    async def boxed(action: ActionSubject) -> ActionResult:
        value = await call(action.subject, action.inject)
        result: ActionResult = new(ActionResult)
        result.result = value
        return result

    return boxed


def _picker(handler: Handler) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The function that turns a call's kwargs into the handler's, or None if it takes none."""
    arg_map = handler.arg_map
    if handler.var_keyword or handler.arg_strict:
        if arg_map:
            return lambda kwargs: {arg_map.get(k, k): v for k, v in kwargs.items()}
        return lambda kwargs: kwargs
    accepts = handler.accepts
    if not accepts:
        return None
    if arg_map:
        return lambda kwargs: {
            name: v for k, v in kwargs.items() if (name := arg_map.get(k, k)) in accepts
        }
    return lambda kwargs: {k: v for k, v in kwargs.items() if k in accepts}


def _bind(handler: Handler, message: Any, kwargs: dict[str, Any]) -> Callable[[], Any]:
    if handler.subject_keyword:
        return functools.partial(handler.fn, **kwargs, **{handler.subject: message})
    return functools.partial(handler.fn, message, **kwargs)


async def _run_inline(
    handler: Handler, message: Any, kwargs: dict[str, Any], given: dict[str, Any]
) -> Any:
    call = _bind(handler, message, kwargs)
    try:
        result = call()
    except TypeError:
        # The body may have raised it: explain only if binding is the cause.
        explain_argument_error(handler, kwargs, given)
        raise
    if inspect.iscoroutine(result):  # a sync decorator around an async handler
        return await result
    return result


async def _run_in_thread(
    handler: Handler, message: Any, kwargs: dict[str, Any], given: dict[str, Any]
) -> Any:
    # anyio copies the caller's contextvars into the worker thread.
    call = _bind(handler, message, kwargs)
    try:
        return await anyio.to_thread.run_sync(call)
    except TypeError:
        explain_argument_error(handler, kwargs, given)
        raise
