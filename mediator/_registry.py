"""Registries: where handlers are collected, checked and routed by type.

A registry only records handlers; a bus is a registry that can also dispatch.
``bus.include(registry)`` takes over a registry's handlers, so a module can
declare its handlers without knowing which bus will run them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, overload

from ._errors import BusStateError, CollisionHandlerStoreError, MediatorError, RegistrationError
from ._handler import Handler
from ._modifiers import Modifier, check_modifiers
from ._names import type_name
from ._policies import CallableHandlerPolicy, Policy, build_handler, check_policies

__all__ = ["EventHandlerRegistry", "HandlerEntry", "HandlerRegistry", "RequestHandlerRegistry"]

_T = TypeVar("_T")


@dataclass(frozen=True, eq=False, slots=True)
class HandlerEntry:
    """A handler as a registry holds it: the handler and its modifiers, outermost first."""

    handler: Handler
    modifiers: tuple[Modifier, ...] = ()

    @property
    def key(self) -> type | tuple[type, ...]:
        """The message type(s) of the handler."""
        return self.handler.key

    def stacked(self, modifiers: Sequence[Modifier]) -> HandlerEntry:
        """A new entry for the same handler, with ``modifiers`` wrapped around its own."""
        return HandlerEntry(self.handler, (*modifiers, *self.modifiers))


class HandlerRegistry:
    """Common base of registries and buses: ``register``, ``include``, iteration, ``freeze``."""

    _accepts_streams: ClassVar[bool] = False

    def __init__(
        self,
        policies: Sequence[Policy] | None = None,
        *,
        modifiers: Sequence[Modifier] = (),
    ) -> None:
        where = f"{type(self).__name__}()"
        self._policies: tuple[Policy, ...] = check_policies(policies, where) or (
            CallableHandlerPolicy(),
        )
        self._modifiers = check_modifiers(modifiers, where)
        self._entries: list[HandlerEntry] = []
        self._pending: list[HandlerEntry] = []
        self._frozen = False
        self._setup()

    def _setup(self) -> None:
        """Hook: create the routing tables (subclasses extend it)."""

    # -- registration ---------------------------------------------------------

    @overload
    def register(
        self,
        obj: None = None,
        *,
        policies: Sequence[Policy] | None = None,
        modifiers: Sequence[Modifier] = (),
        thread: bool = False,
    ) -> Callable[[_T], _T]: ...

    @overload
    def register(
        self,
        obj: _T,
        *,
        policies: Sequence[Policy] | None = None,
        modifiers: Sequence[Modifier] = (),
        thread: bool = False,
    ) -> _T: ...

    def register(
        self,
        obj: Any = None,
        *,
        policies: Sequence[Policy] | None = None,
        modifiers: Sequence[Modifier] = (),
        thread: bool = False,
    ) -> Any:
        """Register a handler; usable as ``@register``, ``@register(...)`` or ``register(obj)``.

        The handler is inspected now: every mistake in it raises here, naming
        it. Returns ``obj`` unchanged.

        Args:
            policies: replace the registry's policies for this handler.
            modifiers: modifiers for this handler only, innermost of its stack.
            thread: run a plain ``def`` handler in a worker thread
                (``anyio.to_thread.run_sync``) instead of inline.
        """
        self._check_open()
        where = f"{type(self).__name__}.register()"
        chosen = check_policies(policies, where) or self._policies
        own = (*self._modifiers, *check_modifiers(modifiers, where))
        if not isinstance(thread, bool):
            raise RegistrationError(f"{where}: thread must be True or False, got {thread!r}")
        localns = _registering_namespace()

        def add(target: _T) -> _T:
            handler = build_handler(
                target, chosen, thread=thread, streams=self._accepts_streams, localns=localns
            )
            self._admit([HandlerEntry(handler, own)])
            return target

        if obj is None:
            return add
        return add(obj)

    def include(self, entries: Iterable[HandlerEntry]) -> None:
        """Take over the handlers of a registry (or bus), as they are now.

        The included handlers get this registry's modifiers around their own.
        All or nothing: on a collision nothing is added.
        """
        self._check_open()
        batch: list[HandlerEntry] = []
        for entry in entries:
            if not isinstance(entry, HandlerEntry):
                raise RegistrationError(
                    f"{type(self).__name__}.include() takes a registry (or an iterable of its "
                    f"HandlerEntry items), got an item {entry!r}"
                )
            if entry.handler.kind == "stream" and not self._accepts_streams:
                raise RegistrationError(
                    f"Cannot include {entry.handler.described} into {type(self).__name__}: it is "
                    f"a stream handler, and only a LocalRequestBus can run stream handlers"
                )
            batch.append(entry.stacked(self._modifiers))
        self._admit(batch)

    def __iter__(self) -> Iterator[HandlerEntry]:
        """The registered handlers, in registration order."""
        return iter(list(self._entries))

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """The registered handlers, in registration order."""
        return tuple(entry.handler for entry in self._entries)

    def freeze(self) -> None:
        """Check every handler now and refuse later registrations.

        Resolves message annotations that named classes not yet defined at
        registration, so an unresolvable one fails at start-up rather than on
        the first message. Calling it again is harmless.
        """
        self._resolve_pending()
        self._frozen = True

    # -- internals ------------------------------------------------------------

    def _check_open(self) -> None:
        if self._frozen:
            raise BusStateError(
                f"{type(self).__name__} is frozen: freeze() was called, so no handler can be "
                f"added any more. Register every handler before calling freeze()"
            )

    def _admit(self, entries: list[HandlerEntry]) -> None:
        self._check_open()
        self._place([entry for entry in entries if entry.handler.unresolved is None])
        self._entries.extend(entries)
        self._pending.extend(entry for entry in entries if entry.handler.unresolved is not None)
        self._changed()

    def _resolve_pending(self) -> None:
        """Route handlers whose annotation could not be resolved at registration."""
        if not self._pending:
            return
        ready: list[HandlerEntry] = []
        error: MediatorError | None = None
        for entry in self._pending:
            try:
                entry.handler.resolve()
            except MediatorError as exc:
                error = error or exc
            else:
                ready.append(entry)
        if ready:
            self._place_late(ready)
            self._pending = [entry for entry in self._pending if entry not in ready]
            self._changed()
        if error is not None:
            raise error

    def _place(self, entries: list[HandlerEntry]) -> None:
        """Add resolved entries to the routing tables, all or none."""
        raise NotImplementedError

    def _place_late(self, entries: list[HandlerEntry]) -> None:
        self._place(entries)

    def _changed(self) -> None:
        """Hook: the routing tables changed (buses drop their caches)."""


def _registering_namespace() -> Mapping[str, Any] | None:
    """The local variables of the function that called ``register``, if not module level.

    A handler defined inside a function, with string annotations (``from
    __future__ import annotations``), may name a class local to that function;
    the module namespace alone cannot resolve it.  Only used at registration.
    """
    frame = sys._getframe(2)
    if frame.f_locals is frame.f_globals:
        return None
    return frame.f_locals


class RequestHandlerRegistry(HandlerRegistry):
    """Collects request handlers (one per message type) for a `LocalRequestBus`."""

    _accepts_streams = True

    def _setup(self) -> None:
        self._calls: dict[type, HandlerEntry] = {}
        self._streams: dict[type, HandlerEntry] = {}

    def _place(self, entries: list[HandlerEntry]) -> None:
        staged: dict[tuple[bool, type], HandlerEntry] = {}
        for entry in entries:
            streams = entry.handler.kind == "stream"
            table = self._streams if streams else self._calls
            for tp in entry.handler.message_types:
                existing = table.get(tp) or staged.get((streams, tp))
                if existing is not None:
                    raise _collision(tp, existing.handler, entry.handler, streams)
                staged[streams, tp] = entry
        for (streams, tp), entry in staged.items():
            (self._streams if streams else self._calls)[tp] = entry


def _collision(
    tp: type, existing: Handler, new: Handler, streams: bool
) -> CollisionHandlerStoreError:
    kind = "stream handler" if streams else "handler"
    via = ""
    if len(new.message_types) > 1:
        via = f" (one of the classes of its annotation {new.annotation!r})"
    return CollisionHandlerStoreError(
        f"Cannot register {new.described} for {type_name(tp)}{via}: {existing.described} is "
        f"already its {kind}. A request has exactly one {kind}: remove one of them, or give them "
        f"different message classes",
        message_type=tp,
        existing=existing,
        new=new,
    )


class EventHandlerRegistry(HandlerRegistry):
    """Collects event handlers (any number per message type) for a `LocalEventBus`."""

    def _setup(self) -> None:
        self._subscribers: dict[type, list[HandlerEntry]] = {}

    def _place(self, entries: list[HandlerEntry]) -> None:
        for entry in entries:
            for tp in entry.handler.message_types:
                self._subscribers.setdefault(tp, []).append(entry)

    def _place_late(self, entries: list[HandlerEntry]) -> None:
        # Keep registration order within each type: rebuild from the full list.
        self._subscribers.clear()
        self._place([entry for entry in self._entries if entry.handler.unresolved is None])
