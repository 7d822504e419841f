"""Registries: where handlers are collected and routed by type.

A registry records `HandlerEntry` items (a handler and its modifiers) and
keeps the routing tables, ``{message type: [entries]}``, for plain and for
stream handlers.  A bus is a registry that can also dispatch: it overrides the
one hook, `HandlerRegistry._accept`, to compile the calls of entries about to
be routed.  The checks themselves are `mediator._inspect`'s.
``bus.include(registry)`` takes over a registry's handlers, so a
module can declare its handlers without knowing which bus will run them.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from ._annotations import Caller
from ._chain import Modifier
from ._errors import BusStateError, ConfigurationError, MediatorError, ProviderError, add_note
from ._handler import Handler, HandlerEntry
from ._inspect import (
    check_abandon,
    check_distinct,
    check_entries,
    check_entry,
    check_modifiers,
    check_policies,
    check_thread,
    check_unique,
    inspect_handler,
    resolve,
)
from ._policies import CallableHandlerPolicy, Policy
from ._providers import Provider, argument_problems, inspect_factory, merge, needed

if TYPE_CHECKING:
    from ._routes import Route

__all__ = ["EventHandlerRegistry", "HandlerRegistry", "RequestHandlerRegistry"]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


class _Decorate:
    """``register()``'s default: no handler given, so it returns a decorator."""

    def __repr__(self) -> str:
        return "<decorator>"


_DECORATE: Any = _Decorate()


class HandlerRegistry:
    """Common base of registries and buses: ``register``, ``include``, iteration, ``freeze``.

    Args:
        policies: how registered objects are turned into handlers (default:
            ``[CallableHandlerPolicy()]``, the object is the handler).
        modifiers: modifiers wrapped around every handler registered here.
    """

    #: One handler per message type (requests), or any number (events).
    _unique: ClassVar[bool] = False
    #: Whether stream handlers (async generators) can be registered.
    _streams: ClassVar[bool] = False

    def __init__(
        self,
        policies: Sequence[Policy] | None = None,
        *,
        modifiers: Sequence[Modifier] | None = (),
    ) -> None:
        where = f"{type(self).__name__}()"
        self._policies = check_policies(policies, where) or (CallableHandlerPolicy(),)
        self._modifiers = check_modifiers(modifiers, where)
        self._entries: list[HandlerEntry] = []
        self._pending: list[HandlerEntry] = []  # message annotation not resolved yet
        self._table: dict[type, list[HandlerEntry]] = {}
        self._stream_table: dict[type, list[HandlerEntry]] = {}
        self._providers: dict[str, Provider] = {}
        # The keyword arguments calls pass, once declared (None: not declared, not checked).
        self._expected: frozenset[str] | None = None
        self._frozen = False
        self._overrides = 0  # mediator.testing.override() blocks in effect
        # Registration may come from any thread; dispatch never takes this lock.
        self._lock = threading.RLock()

    # -- registration ---------------------------------------------------------

    @overload
    def register(
        self,
        *,
        policies: Sequence[Policy] | None = None,
        modifiers: Sequence[Modifier] = (),
        thread: bool = False,
        abandon_on_cancel: bool = False,
    ) -> Callable[[_T], _T]: ...

    @overload
    def register(
        self,
        obj: _T,
        *,
        policies: Sequence[Policy] | None = None,
        modifiers: Sequence[Modifier] = (),
        thread: bool = False,
        abandon_on_cancel: bool = False,
    ) -> _T: ...

    def register(
        self,
        obj: Any = _DECORATE,
        *,
        policies: Sequence[Policy] | None = None,
        modifiers: Sequence[Modifier] = (),
        thread: bool = False,
        abandon_on_cancel: bool = False,
    ) -> Any:
        """Register a handler; usable as ``@register``, ``@register(...)`` or ``register(obj)``.

        The handler is inspected now: every mistake in it raises here, naming
        it, and leaves the registry unchanged.  Returns ``obj`` unchanged.

        Args:
            policies: replace the registry's policies for this handler.
            modifiers: modifiers for this handler only, innermost of its stack.
            thread: run a plain ``def`` handler in a worker thread
                (``anyio.to_thread.run_sync``) instead of inline.  A cancelled
                call (a timeout) then waits for the thread to finish, since a
                thread cannot be interrupted...
            abandon_on_cancel: ...unless this is set: the call is cancelled at
                once and the thread runs on, its result and errors dropped.
        """
        self._check_open()
        where = f"{type(self).__name__}.register()"
        chosen = check_policies(policies, where) or self._policies

        in_thread = check_thread(thread, where)
        abandon = check_abandon(abandon_on_cancel, in_thread, where)
        caller = _registering_namespace()

        def add(target: _T) -> _T:
            self._admit([self._entry_of(target, chosen, modifiers, in_thread, abandon, caller)])
            return target

        if obj is _DECORATE:  # `@register(...)`; `register(None)` is a mistake
            return add
        return add(obj)

    def include(self, entries: Iterable[HandlerEntry]) -> None:
        """Take over the handlers of a registry (or bus), as they are now.

        The included handlers get this registry's modifiers around their own.
        A registry's providers and ``expect``-ed names come along.  All or
        nothing: on an error nothing is added.
        """
        self._check_open()
        batch = [
            check_entry(entry, streams=self._streams).stacked(self._modifiers)
            for entry in check_entries(entries)
        ]
        if not isinstance(entries, HandlerRegistry):
            self._admit(batch)
            return
        with self._lock:
            if entries._providers:
                self._check_not_overridden()
            before = self._providers
            self._use_providers(merge(before, entries._providers.values()))
            try:
                self._admit(batch)
            except BaseException:
                self._use_providers(before)
                raise
            if entries._expected is not None:
                self._expected = (self._expected or frozenset()) | entries._expected

    @overload
    def provide(self, name: str, /) -> Callable[[_F], _F]: ...
    @overload
    def provide(self, name: str, factory: _F, /) -> _F: ...

    def provide(self, name: str, factory: Any = _DECORATE, /) -> Any:
        """Fill the handler parameter called ``name``, when a call does not pass it.

        ``factory`` makes the value for one handler call: a function, an ``async
        def``, or a generator (sync or async) that yields the value once and
        tears it down after the handler (the handler's exception is thrown in
        at its ``yield``).  Its own parameters are filled by name from the
        call's keyword arguments and from other providers.  It runs only for
        handlers with a parameter of that name, once per call.  Usable as
        ``@bus.provide("session")``.  Returns ``factory``.

        Raises:
            ProviderError: ``name`` is already provided by another factory, the
                factory cannot be used, or providers would depend on each other
                in a cycle.  Nothing is changed.
        """
        self._check_open()

        def add(factory: _F) -> _F:
            provider = inspect_factory(name, factory)
            with self._lock:
                self._check_open()
                self._check_not_overridden()
                self._use_providers(merge(self._providers, [provider]))
            return factory

        if factory is _DECORATE:
            if not isinstance(name, str):  # `@bus.provide` without the name
                raise ProviderError(name, None, "name")
            return add
        return add(factory)

    def expect(self, *names: str) -> None:
        """Declare keyword arguments the callers pass (or a middleware adds) at every call.

        Once declared (``expect()`` with no names declares that calls pass
        none), ``freeze()`` checks that every required parameter of every
        handler and provider is declared or provided, and reports the first
        one that is not, with the chain of providers leading to it.
        """
        self._check_open()
        given: tuple[object, ...] = names  # typed as str, but not checked by Python
        for name in given:
            if not (isinstance(name, str) and name.isidentifier()):
                raise ConfigurationError(
                    f"{type(self).__name__}.expect()", "expect", option="names", value=name
                )
        with self._lock:
            self._expected = (self._expected or frozenset()) | frozenset(names)

    def add(self, entry: HandlerEntry) -> None:
        """Include one entry (python-mediator's ``HandlerStore.add``)."""
        self.include([entry])

    def __iter__(self) -> Iterator[HandlerEntry]:
        """The registered handlers, in registration order."""
        return iter(tuple(self._entries))

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """The registered handlers, in registration order."""
        return tuple(entry.handler for entry in self._entries)

    def routes(self) -> list[Route]:
        """The handler map, as data: every route, in dispatch order.

        See `Route`; ``python -m mediator graph`` prints it.
        """
        from ._routes import routes_of

        return routes_of(self)

    def freeze(self) -> None:
        """Check every handler now and refuse later registrations.

        Resolves message annotations that named classes not yet defined at
        registration, so an unresolvable one fails at start-up rather than on
        the first message.  With call-time arguments declared (``expect``),
        also checks that every required parameter is declared or provided.
        Calling it again is harmless.

        Raises:
            UnresolvedAnnotationError: a message annotation names no class.
            MissingArgumentError: a parameter nothing supplies (its ``chain``
                names the providers on the way); nothing is frozen.
        """
        self._resolve_pending()
        problems = argument_problems(self)
        if problems:
            if len(problems) > 1:
                add_note(
                    problems[0],
                    f"and {len(problems) - 1} more: `python -m mediator graph module:bus "
                    f"--check` lists all of them",
                )
            raise problems[0]
        self._frozen = True

    def _entry_of(
        self,
        target: object,
        policies: Sequence[Policy],
        modifiers: Sequence[Modifier],
        thread: bool,
        abandon: bool,
        caller: Caller | None,
        where: str | None = None,
    ) -> HandlerEntry:
        """Inspect ``target`` as ``register`` does (options checked already), into an entry."""
        handler = inspect_handler(
            target,
            policies,
            thread=thread,
            streams=self._streams,
            caller=caller,
            shared=policies is self._policies,
        )
        # Checked with the handler known, so that a mistake names it too.
        where = where or f"{type(self).__name__}.register()"
        own = (*self._modifiers, *check_modifiers(modifiers, where, handler))
        if abandon:
            handler = dataclasses.replace(handler, abandon_on_cancel=True)
        return HandlerEntry(handler, own)

    # -- the hook -------------------------------------------------------------

    def _accept(self, entries: Sequence[HandlerEntry]) -> None:
        """Called before ``entries`` are routed; raising leaves the registry unchanged.

        A bus compiles their calls here.
        """

    def _use_providers(self, providers: dict[str, Provider]) -> None:
        """Switch to ``providers``, recompiling the handlers whose provided names changed."""
        before = self._providers
        changed = {
            name
            for name in before.keys() | providers.keys()
            if before.get(name) is not providers.get(name)
        }
        self._providers = providers
        if not changed:
            return
        touched = {name: providers.get(name) or before[name] for name in changed}
        affected = [
            entry
            for entry in self._entries
            if entry.handler.unresolved is None and needed(entry.handler, touched)
        ]
        if affected:
            self._accept(affected)
            self._routes_changed()

    def _routes_changed(self) -> None:
        """Called after the routing tables were replaced: a bus drops the routes it cached.

        The caches are replaced, not cleared, and a route is stored into the
        cache it was looked up in: a dispatch that read the old tables while
        another thread registered stores its route into a cache nobody reads.
        """

    # -- internals ------------------------------------------------------------

    def _check_open(self) -> None:
        if self._frozen:
            raise BusStateError("frozen", owner=type(self).__name__)

    def _check_not_overridden(self) -> None:
        """Refuse what an override in effect would hide, or be undone by.

        A provider would not reach the override's handler (it is not
        registered), and routing a late annotation rebuilds the tables from the
        registered handlers.
        """
        if self._overrides:
            raise BusStateError("overridden", owner=type(self).__name__)

    def _admit(self, entries: list[HandlerEntry]) -> None:
        with self._lock:
            self._check_open()
            ready = [entry for entry in entries if entry.handler.unresolved is None]
            if len(ready) < len(entries):
                self._check_not_overridden()
            self._check_new(ready)
            self._accept(ready)
            self._entries.extend(entries)
            self._pending.extend(entry for entry in entries if entry.handler.unresolved is not None)
            self._install(ready)

    def _check_new(self, ready: Sequence[HandlerEntry]) -> None:
        if self._unique:
            check_unique(ready, self._table, self._stream_table)
        else:
            check_distinct(ready, self._table)

    def _resolve_pending(self) -> None:
        """Route the handlers whose message annotation could not be resolved at registration."""
        if not self._pending:
            return
        with self._lock:
            resolved: dict[HandlerEntry, HandlerEntry] = {}
            error: MediatorError | None = None
            for entry in self._pending:
                try:
                    resolved[entry] = HandlerEntry(resolve(entry.handler), entry.modifiers)
                except MediatorError as exc:
                    error = error or exc
            if resolved:
                ready = list(resolved.values())
                self._check_new(ready)
                self._accept(ready)
                self._entries = [resolved.get(entry, entry) for entry in self._entries]
                self._pending = [entry for entry in self._pending if entry not in resolved]
                # Rebuilt from the full list: registration order holds within each type.
                self._table, self._stream_table = {}, {}
                self._install(
                    [entry for entry in self._entries if entry.handler.unresolved is None]
                )
            if error is not None:
                raise error

    def _install(self, entries: Sequence[HandlerEntry]) -> None:
        """Route ``entries``, then have the bus drop the routes it cached.

        Edited in place, which a dispatch in another thread may read meanwhile:
        under the GIL it sees each list and dict before or after a change, and
        whatever it caches from a half-edited table is dropped right after.
        """
        for entry in entries:
            routed = self._stream_table if entry.handler.kind == "stream" else self._table
            for tp in entry.handler.message_types:
                routed.setdefault(tp, []).append(entry)
        self._routes_changed()


def _registering_namespace() -> Caller | None:
    """The function that called ``register`` (None at module or class level).

    A handler defined inside a function, with string annotations (``from
    __future__ import annotations``), may name a class local to that function;
    the module namespace alone cannot resolve it.  Its locals are used only
    for a handler defined by that very function (`Caller.namespace_of`): a
    handler from another module must not resolve its annotation to a class
    that happens to have the same name where it is registered.  A copy of the
    locals is kept, not the frame, and only until the handler is inspected.
    """
    frame = sys._getframe(2)
    code = frame.f_code
    if not code.co_flags & _CO_OPTIMIZED:  # module level or a class body: no function's locals
        return None
    return Caller(code.co_qualname, frame.f_globals, dict(frame.f_locals))


_CO_OPTIMIZED = 0x1  # inspect.CO_OPTIMIZED: the code of a function


class RequestHandlerRegistry(HandlerRegistry):
    """Collects request handlers (one per message type, plus stream handlers) for a bus."""

    _unique = True
    _streams = True


class EventHandlerRegistry(HandlerRegistry):
    """Collects event handlers (any number per message type) for a `LocalEventBus`."""
