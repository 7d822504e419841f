"""Providers: per-call values a handler declares by parameter name (``bus.provide``).

A factory is read once, by `inspect_factory`, into a `Provider`.  When a
handler is compiled, `provision` looks at the handler's parameters: if none
has a provider, the handler's call is returned as it was, so a handler that
uses no provider pays nothing.  Otherwise its call is wrapped, at the end of
the middleware chain, in a function that makes the missing values, calls the
handler with them, and tears down generator providers, throwing the
handler's exception in at their ``yield``.

The scope is one handler call: each call makes its own values, each value
once however many factories need it, and a keyword argument of the call
always wins over a provider.
"""

from __future__ import annotations

import inspect
import keyword
import logging
from collections.abc import AsyncIterator, Callable, Collection, Generator, Iterable, Mapping
from dataclasses import dataclass
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Literal

from ._errors import MissingArgumentError, ProviderError, add_note
from ._invoke import compile_missing_check
from ._names import describe

if TYPE_CHECKING:
    from ._chain import Call
    from ._errors import MediatorError
    from ._handler import Handler, HandlerEntry
    from ._registry import HandlerRegistry

__all__ = [
    "Provider",
    "argument_problems",
    "check_acyclic",
    "inspect_factory",
    "merge",
    "needed",
    "provision",
]

logger = logging.getLogger("mediator")

ProviderKind = Literal["value", "async", "generator", "async-generator"]

_DONE: Any = object()  # what next(generator, _DONE) gives once the generator is over


@dataclass(frozen=True, slots=True)
class Provider:
    """A factory as the bus runs it."""

    name: str
    factory: Callable[..., Any]
    kind: ProviderKind
    #: The factory's parameters that can be filled by name, in signature order.
    parameters: tuple[str, ...]
    #: Those of them without a default.
    required: tuple[str, ...]

    @property
    def described(self) -> str:
        return describe(self.factory)


def inspect_factory(name: object, factory: object) -> Provider:
    """Read ``factory`` once; every mistake raises `ProviderError` here."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ProviderError(name, factory, "name")
    if not callable(factory):
        raise ProviderError(name, factory, "not-callable")
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError) as error:
        raise ProviderError(name, factory, "signature", detail=str(error)) from None
    parameters: list[str] = []
    required: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        has_default = parameter.default is not parameter.empty
        if parameter.kind is parameter.POSITIONAL_ONLY:
            if has_default:
                continue
            raise ProviderError(name, factory, "positional-only", detail=parameter.name)
        parameters.append(parameter.name)
        if not has_default:
            required.append(parameter.name)
    return Provider(name, factory, _kind(factory), tuple(parameters), tuple(required))


def _kind(factory: Callable[..., Any]) -> ProviderKind:
    call = factory if inspect.isroutine(factory) or inspect.isclass(factory) else None
    candidates = (factory,) if call is not None else (factory, type(factory).__call__)
    for candidate in candidates:
        if inspect.isasyncgenfunction(candidate):
            return "async-generator"
        if inspect.isgeneratorfunction(candidate):
            return "generator"
        if inspect.iscoroutinefunction(candidate):
            return "async"
    return "value"


def merge(current: Mapping[str, Provider], new: Collection[Provider]) -> dict[str, Provider]:
    """``current`` with ``new`` added; a name provided twice by two factories is an error."""
    merged = dict(current)
    for provider in new:
        known = merged.get(provider.name)
        if known is not None and known.factory is not provider.factory:
            raise ProviderError(provider.name, provider.factory, "duplicate", other=known.factory)
        merged[provider.name] = provider
    check_acyclic(merged, [provider.name for provider in new])
    return merged


def check_acyclic(providers: Mapping[str, Provider], names: Collection[str]) -> None:
    """Raise `ProviderError` ``"cycle"`` if a factory of ``names`` ends up needing itself."""
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            loop = (*path[path.index(name) :], name)
            first = providers[loop[0]]
            raise ProviderError(first.name, first.factory, "cycle", chain=loop)
        if name in done:
            return
        for parameter in providers[name].parameters:
            if parameter in providers:
                visit(parameter, (*path, name))
        done.add(name)

    for name in names:
        visit(name, ())


# -- what a handler needs -----------------------------------------------------------------


def needed(handler: Handler, providers: Mapping[str, Provider]) -> tuple[str, ...]:
    """The provided names a handler declares a parameter for, as the call would name them.

    In the order of the handler's parameters, which is the order of their setup.

    A handler with ``**kwargs`` gets every keyword argument of the call, but
    declares none of them: it gets no provider.
    """
    if not providers or not handler.injectable:
        return ()
    by_parameter = {handler.arg_map.get(name, name): name for name in providers}
    return tuple(
        by_parameter[parameter] for parameter in handler.injectable if parameter in by_parameter
    )


def argument_problems(
    registry: HandlerRegistry, entries: Iterable[HandlerEntry] | None = None
) -> list[MediatorError]:
    """Every required handler (or factory) parameter that nothing can supply.

    Known only once the registry declares its call-time arguments
    (``registry.expect(...)``, maybe with no names): empty otherwise.  ``entries``: those to check
    against the registry's declarations and providers (default: its own).
    Handlers whose annotation is still unresolved are left out (they have
    their own problem), and so are handlers with a python-mediator modifier
    factory, which may inject any argument.
    """
    from ._chain import provided_names

    declared = registry._expected
    if declared is None:
        return []
    providers = registry._providers
    problems: list[MediatorError] = []
    for entry in registry if entries is None else entries:
        handler = entry.handler
        added = provided_names(entry.modifiers)
        if handler.unresolved is not None or added is None:
            continue
        given = declared | added
        renamed = {target: source for source, target in handler.arg_map.items()}
        missing = [
            name
            for parameter in handler.required
            if (name := renamed.get(parameter, parameter)) not in given and name not in providers
        ]
        if missing:
            problems.append(
                MissingArgumentError(
                    handler, parameters=missing, given=sorted(declared), declared=True
                )
            )
        for name in needed(handler, providers):
            if name in given:
                continue
            problem = _unsupplied(handler, providers, name, given, sorted(declared))
            if problem is not None:
                problems.append(problem)
    return problems


def _unsupplied(
    handler: Handler,
    providers: Mapping[str, Provider],
    name: str,
    given: frozenset[str],
    declared: list[str],
) -> MissingArgumentError | None:
    """The first factory parameter in the chain under ``name`` that nothing supplies."""

    def walk(name: str, chain: tuple[str, ...]) -> MissingArgumentError | None:
        provider = providers[name]
        chain = (*chain, name)
        for parameter in provider.parameters:
            if parameter in given:
                continue
            if parameter in providers:
                found = walk(parameter, chain)
                if found is not None:
                    return found
            elif parameter in provider.required:
                return MissingArgumentError(
                    handler, parameters=[parameter], given=declared, chain=chain, declared=True
                )
        return None

    return walk(name, ())


# -- the call -------------------------------------------------------------------------------


def provision(handler: Handler, call: Call, providers: Mapping[str, Provider]) -> Call:
    """``call`` with the handler's provided parameters filled in, or ``call`` itself."""
    names = needed(handler, providers)
    if not names:
        return call
    check = compile_missing_check(handler, names, before_chain=False)
    if len(names) == 1 and check is None and handler.kind != "stream":
        only = providers[names[0]]
        if not only.parameters and only.kind in ("value", "generator"):
            return _one(call, only)
    return _general(handler, call, providers, names, check)


def _one(call: Call, provider: Provider) -> Call:
    """The common case: one provider without parameters of its own, a plain or generator def."""
    name, factory = provider.name, provider.factory

    if provider.kind == "value":

        async def fill(message: Any, kwargs: dict[str, Any]) -> Any:
            if name in kwargs:
                return await call(message, kwargs)
            try:
                value = factory()
                if type(value) is CoroutineType:  # a def returning a coroutine
                    value = await value
            except Exception as error:
                _blame(provider, error)
                raise
            return await call(message, {**kwargs, name: value} if kwargs else {name: value})

        return fill

    async def fill_from_generator(message: Any, kwargs: dict[str, Any]) -> Any:
        if name in kwargs:
            return await call(message, kwargs)
        try:
            steps: Generator[Any, Any, Any] = factory()
            value = next(steps, _DONE)
        except Exception as error:
            _blame(provider, error)
            raise
        if value is _DONE:
            raise ProviderError(name, factory, "no-yield")
        try:
            result = await call(message, {**kwargs, name: value} if kwargs else {name: value})
        except BaseException as error:
            _throw(provider, steps, error)
            raise
        if next(steps, _DONE) is not _DONE:
            steps.close()
            raise ProviderError(name, factory, "yielded-twice")
        return result

    return fill_from_generator


def _general(
    handler: Handler,
    call: Call,
    providers: Mapping[str, Provider],
    names: tuple[str, ...],
    check: Callable[[dict[str, Any]], None] | None,
) -> Call:
    """Any providers; for a stream handler, the values live until its iteration is over."""
    stream = handler.kind == "stream"

    async def fill(message: Any, kwargs: dict[str, Any]) -> Any:
        if check is not None:
            check(kwargs)
        scope = _Scope(handler, providers, kwargs)
        try:
            values = {name: await scope.value(name, ()) for name in names if name not in kwargs}
            result = await call(message, {**kwargs, **values} if values else kwargs)
        except BaseException as error:
            await scope.close(error)
            raise
        if stream:
            return _items_then_close(result, scope)
        await scope.close(None)
        return result

    return fill


async def _items_then_close(items: AsyncIterator[Any], scope: _Scope) -> AsyncIterator[Any]:
    try:
        async for item in items:
            yield item
    except BaseException as error:  # raised by the handler, thrown in, or closed early
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
        await scope.close(error)
        raise
    await scope.close(None)


class _Scope:
    """The values of one handler call, and the generators to finish after it."""

    __slots__ = ("_handler", "_kwargs", "_open", "_providers", "_values")

    def __init__(
        self, handler: Handler, providers: Mapping[str, Provider], kwargs: dict[str, Any]
    ) -> None:
        self._handler = handler
        self._providers = providers
        self._kwargs = kwargs
        self._values: dict[str, Any] = {}
        self._open: list[tuple[Provider, Any]] = []

    async def value(self, name: str, chain: tuple[str, ...]) -> Any:
        if name in self._values:
            return self._values[name]
        provider = self._providers[name]
        chain = (*chain, name)
        arguments: dict[str, Any] = {}
        for parameter in provider.parameters:
            if parameter in self._kwargs:
                arguments[parameter] = self._kwargs[parameter]
            elif parameter in self._providers:
                arguments[parameter] = await self.value(parameter, chain)
            elif parameter in provider.required:
                raise MissingArgumentError(
                    self._handler, parameters=[parameter], given=tuple(self._kwargs), chain=chain
                )
        try:
            value = await self._make(provider, arguments)
        except Exception as error:
            _blame(provider, error)
            raise
        self._values[name] = value
        return value

    async def _make(self, provider: Provider, arguments: dict[str, Any]) -> Any:
        made = provider.factory(**arguments)
        match provider.kind:
            case "value":
                return await made if type(made) is CoroutineType else made
            case "async":
                return await made
            case "generator":
                value = _first(provider, made)
                self._open.append((provider, made))
                return value
            case "async-generator":
                try:
                    value = await made.__anext__()
                except StopAsyncIteration:
                    raise ProviderError(provider.name, provider.factory, "no-yield") from None
                self._open.append((provider, made))
                return value

    async def close(self, error: BaseException | None) -> None:
        """Finish the generators, last made first; ``error`` (the handler's) is thrown in.

        The handler's error is the call's outcome whatever a teardown does: a
        teardown error is added to it as a note and logged.  After a
        successful call, the first teardown error becomes the outcome and is
        thrown into the generators left.
        """
        failed = error
        while self._open:
            provider, steps = self._open.pop()
            try:
                if failed is None:
                    await _alast(provider, steps)
                else:
                    await _athrow(provider, steps, failed)
            except BaseException as teardown:
                if failed is None:
                    failed = teardown
                elif teardown is not failed:
                    _hidden(provider, failed, teardown)
        if error is None and failed is not None:
            raise failed


def _first(provider: Provider, steps: Generator[Any, Any, Any]) -> Any:
    try:
        return next(steps)
    except StopIteration:
        raise ProviderError(provider.name, provider.factory, "no-yield") from None


def _last(provider: Provider, steps: Generator[Any, Any, Any]) -> None:
    try:
        next(steps)
    except StopIteration:
        return
    steps.close()
    raise ProviderError(provider.name, provider.factory, "yielded-twice")


def _throw(provider: Provider, steps: Generator[Any, Any, Any], error: BaseException) -> None:
    """Throw the handler's ``error`` in at the ``yield``; whatever happens, ``error`` wins."""
    try:
        steps.throw(error)
    except StopIteration:  # it swallowed the error: the call still failed
        return
    except BaseException as teardown:
        if teardown is not error:
            _hidden(provider, error, teardown)
        return
    steps.close()
    _hidden(provider, error, ProviderError(provider.name, provider.factory, "yielded-twice"))


async def _alast(provider: Provider, steps: Any) -> None:
    if inspect.isgenerator(steps):
        _last(provider, steps)
        return
    try:
        await steps.__anext__()
    except StopAsyncIteration:
        return
    await steps.aclose()
    raise ProviderError(provider.name, provider.factory, "yielded-twice")


async def _athrow(provider: Provider, steps: Any, error: BaseException) -> None:
    if inspect.isgenerator(steps):
        _throw(provider, steps, error)
        return
    try:
        await steps.athrow(error)
    except StopAsyncIteration:
        return
    except BaseException as teardown:
        if teardown is not error:
            _hidden(provider, error, teardown)
        return
    await steps.aclose()
    _hidden(provider, error, ProviderError(provider.name, provider.factory, "yielded-twice"))


def _blame(provider: Provider, error: Exception) -> None:
    """Name the provider on an error its factory raised while making the value."""
    if not isinstance(error, ProviderError):
        add_note(error, f"raised by the provider {provider.name!r} ({provider.described})")


def _hidden(provider: Provider, error: BaseException, teardown: BaseException) -> None:
    """A teardown failed while the handler's ``error`` was on its way: keep both, raise that.

    A teardown cancelled in turn (the call was cancelled, or timed out, and the
    teardown awaited) is not a failure of its own: the cancellation goes on.
    """
    if not isinstance(teardown, Exception):
        return
    add_note(
        error,
        f"then the teardown of the provider {provider.name!r} ({provider.described}) raised "
        f"{type(teardown).__name__}: {teardown}",
    )
    logger.error(
        "The teardown of the provider %r (%s) failed after its handler failed",
        provider.name,
        provider.described,
        exc_info=(type(teardown), teardown, teardown.__traceback__),
    )
