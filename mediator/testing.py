"""Test tools: record what goes through a bus, and swap a handler for the length of a test.

``record(bus, ...)`` watches the dispatch methods of the buses it is given
(``execute`` and ``stream`` of a `LocalRequestBus`, ``publish`` of a
`LocalEventBus`) by shadowing them with an instance attribute while it
records; the classes are never touched, so a bus nobody records runs exactly
the code it runs without this module.  ``override(bus, fn)`` routes the
message type of ``fn``'s annotation to ``fn`` and puts the bus's routes back
on exit.  Neither is a pytest plugin: the README shows the fixtures to write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

from ._errors import add_note
from ._event_bus import LocalEventBus
from ._handler import Handler, HandlerEntry
from ._inspect import (
    check_abandon,
    check_modifiers,
    check_policies,
    check_thread,
    inspect_handler,
    resolve,
)
from ._names import type_name
from ._providers import argument_problems
from ._registry import HandlerRegistry, _registering_namespace
from ._request_bus import LocalRequestBus

if TYPE_CHECKING:
    from typing import Self

    from ._chain import Modifier
    from ._policies import Policy

__all__ = ("RecordedCall", "Recorder", "override", "record")

T = TypeVar("T")

#: The bus method a call went through.
Method = Literal["execute", "publish", "stream"]

# Guards the taps' recorder lists, every recorder's calls, and the active overrides.  A
# call may be dispatched from any thread (a handler in a worker thread publishing), and a
# call recorded by two recorders must be in the same place in both of them.
_LOCK: Final = threading.Lock()


# -- record ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One ``execute``, ``publish`` or ``stream`` call, as it was made."""

    #: The message given to the call.
    message: Any
    #: The keyword arguments of the call: a dict of its own, which neither the bus nor
    #: its middleware change afterwards.
    kwargs: dict[str, Any]
    #: The bus the call was made on.
    bus: LocalRequestBus | LocalEventBus
    #: ``"execute"``, ``"publish"`` or ``"stream"``.
    method: Method


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Final = _Absent()


class _Tap:
    """What ``bus.execute`` (``stream``, ``publish``) is while one or more recorders watch it.

    One per bus and method, shared by every recorder of that bus, so recorders
    can start and stop in any order.  It returns what the method returns (the
    handler's coroutine, not awaited): the call behaves as it does unrecorded.
    """

    __slots__ = ("bus", "inner", "method", "previous", "recorders")

    def __init__(self, bus: LocalRequestBus | LocalEventBus, method: Method, previous: Any) -> None:
        self.bus = bus
        self.method: Method = method
        #: The instance attribute it shadows (someone else's stand-in), or _ABSENT.
        self.previous = previous
        self.inner = getattr(bus, method)
        self.recorders: tuple[Recorder, ...] = ()

    def __call__(self, message: Any, /, **kwargs: Any) -> Any:
        # Recorded before the call: a call it makes (a handler publishing) comes after it,
        # and a call that fails is recorded too.  `kwargs` is this call's own dict: the
        # inner call below gets another one.
        recorders = self.recorders
        if recorders:
            call = RecordedCall(message, kwargs, self.bus, self.method)
            with _LOCK:
                for recorder in recorders:
                    recorder._calls.append(call)
        return self.inner(message, **kwargs)


def _methods(bus: LocalRequestBus | LocalEventBus) -> tuple[Method, ...]:
    if isinstance(bus, LocalRequestBus):
        return ("execute", "stream")
    return ("publish",)


# The instance attributes are set and deleted with setattr and delattr, never through
# `vars(bus)`: reading an instance's __dict__ turns its attributes into a plain dict, and
# every attribute lookup on the hot path (`self._call_cache`) would stay slower for good.


def _attach(recorder: Recorder, bus: LocalRequestBus | LocalEventBus, method: Method) -> _Tap:
    """Add ``recorder`` to the tap of ``bus.<method>``, shadowing the method if need be."""
    current = getattr(bus, method)
    if isinstance(current, _Tap) and current.bus is bus:
        tap = current
    else:
        own = getattr(type(bus), method, None)
        unshadowed = getattr(current, "__func__", None) is own and (
            getattr(current, "__self__", None) is bus
        )
        tap = _Tap(bus, method, _ABSENT if unshadowed else current)
        setattr(bus, method, tap)
    tap.recorders = (*tap.recorders, recorder)
    return tap


def _detach(recorder: Recorder, tap: _Tap) -> None:
    """Take ``recorder`` off ``tap``; the last one out puts back what the tap shadowed."""
    tap.recorders = tuple(other for other in tap.recorders if other is not recorder)
    if tap.recorders:
        return
    if getattr(tap.bus, tap.method) is not tap:
        # Something shadowed the tap since (a monkeypatch): not ours to remove.  If it puts
        # the tap back, the tap only forwards, and the next recorder reuses it.
        return
    if tap.previous is _ABSENT:
        delattr(tap.bus, tap.method)
    else:
        setattr(tap.bus, tap.method, tap.previous)


class Recorder:
    """The calls made through some buses: what `record` returns.

    Usable as a context manager, once at a time: it records inside the
    ``with`` block, and keeps what it recorded afterwards.  The lists it
    returns are copies, in call order: a call is recorded when it is made,
    before its handlers run, so the calls a handler makes come after it.
    """

    def __init__(self, buses: Sequence[LocalRequestBus | LocalEventBus]) -> None:
        self._buses = tuple(buses)
        self._calls: list[RecordedCall] = []
        self._taps: list[_Tap] = []  # non-empty while recording

    @property
    def buses(self) -> tuple[LocalRequestBus | LocalEventBus, ...]:
        """The buses it records."""
        return self._buses

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call recorded, ``execute``, ``publish`` and ``stream`` alike, in order."""
        with _LOCK:
            return list(self._calls)

    @overload
    def executed(self) -> list[Any]: ...
    @overload
    def executed(self, message_type: type[T]) -> list[T]: ...
    def executed(self, message_type: type[Any] | None = None) -> list[Any]:
        """The messages given to ``execute``; with a class, those that are instances of it."""
        return self._messages("execute", message_type)

    @overload
    def published(self) -> list[Any]: ...
    @overload
    def published(self, message_type: type[T]) -> list[T]: ...
    def published(self, message_type: type[Any] | None = None) -> list[Any]:
        """The events given to ``publish``; with a class, those that are instances of it."""
        return self._messages("publish", message_type)

    @overload
    def streamed(self) -> list[Any]: ...
    @overload
    def streamed(self, message_type: type[T]) -> list[T]: ...
    def streamed(self, message_type: type[Any] | None = None) -> list[Any]:
        """The requests given to ``stream``; with a class, those that are instances of it."""
        return self._messages("stream", message_type)

    def __enter__(self) -> Self:
        with _LOCK:
            if self._taps:
                raise RuntimeError(
                    "This recorder is already recording: a Recorder is entered once at a time."
                    "\nTip: call record(bus) again for a second recorder."
                )
            self._taps = [
                _attach(self, bus, method) for bus in self._buses for method in _methods(bus)
            ]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with _LOCK:
            for tap in reversed(self._taps):
                _detach(self, tap)
            self._taps = []

    def __repr__(self) -> str:
        state = "recording" if self._taps else "stopped"
        return f"<Recorder {state}, {len(self._calls)} calls>"

    def _messages(self, method: Method, message_type: type[Any] | None) -> list[Any]:
        if message_type is not None and not isinstance(message_type, type):
            raise TypeError(
                f"Recorder.{_FILTERS[method]}() takes a message class, not "
                f"{type_name(message_type)}."
                f"\nTip: pass the class, `{_FILTERS[method]}({_class_hint(message_type)})`, or "
                f"nothing for every message."
            )
        with _LOCK:
            calls = list(self._calls)
        return [
            call.message
            for call in calls
            if call.method == method
            and (message_type is None or isinstance(call.message, message_type))
        ]


_FILTERS: Final[dict[Method, str]] = {
    "execute": "executed",
    "publish": "published",
    "stream": "streamed",
}


def _class_hint(value: object) -> str:
    """How the tip names the class the caller probably meant (that of an instance given)."""
    name = getattr(type(value), "__qualname__", None)
    return name if isinstance(name, str) else "MessageClass"


def record(*buses: LocalRequestBus | LocalEventBus) -> Recorder:
    """Record every message executed, published or streamed through ``buses``, in order.

    Use it as ``with record(bus) as recorder:``; it changes nothing in what
    the calls do (results, errors, timing aside).  Calls that handlers make
    from inside other handlers are recorded too, after the call that runs them.
    """
    if not buses:
        raise TypeError(
            "record() needs at least one bus.\nTip: `with record(bus) as recorder: ...`."
        )
    unique: list[LocalRequestBus | LocalEventBus] = []
    for bus in buses:
        _check_bus(bus, "record() takes LocalRequestBus and LocalEventBus objects")
        if not any(bus is seen for seen in unique):
            unique.append(bus)
    return Recorder(unique)


def _check_bus(bus: object, where: str) -> None:
    if isinstance(bus, (LocalRequestBus, LocalEventBus)):
        return
    tip = (
        "A registry does not dispatch: pass the bus that includes it"
        if isinstance(bus, HandlerRegistry)
        else "Pass the bus your code dispatches through"
    )
    raise TypeError(f"{where}; it was given a {type_name(type(bus))}.\nTip: {tip}.")


# -- override ----------------------------------------------------------------------------

#: The overrides in effect, per bus, oldest first: one that ends while a later override of
#: the same type still hides it hands its saved routes to that one.
_ACTIVE: Final[weakref.WeakKeyDictionary[HandlerRegistry, list[_Override]]] = (
    weakref.WeakKeyDictionary()
)


class _Override:
    """The context manager `override` returns."""

    __slots__ = ("_bus", "_entry", "_saved")

    def __init__(self, bus: LocalRequestBus | LocalEventBus, entry: HandlerEntry) -> None:
        self._bus = bus
        self._entry = entry
        #: While in effect: each overridden type's routes (None: it had none) before it.
        self._saved: dict[type, list[HandlerEntry] | None] | None = None

    def __enter__(self) -> Handler:
        bus, entry = self._bus, self._entry
        with bus._lock:
            if self._saved is not None:
                raise RuntimeError(
                    f"This override of {entry.handler.described} is already in effect."
                    "\nTip: enter each override() once at a time."
                )
            try:
                # As the first dispatch would: later, routing them would rebuild the tables
                # from the registered handlers, which the override is not one of.
                bus._resolve_pending()
            except Exception as error:
                add_note(error, "override() routes the handlers not resolved yet first")
                raise
            bus._accept([entry])  # compiled as a registered handler is
            table = self._table()
            saved: dict[type, list[HandlerEntry] | None] = {}
            for tp in entry.handler.message_types:
                saved[tp] = table.get(tp)
                table[tp] = [entry]
            self._saved = saved
            with _LOCK:
                _ACTIVE.setdefault(bus, []).append(self)
            bus._routes_changed()
        return entry.handler

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        bus, entry, saved = self._bus, self._entry, self._saved
        if saved is None:
            return
        with bus._lock:
            with _LOCK:
                active = _ACTIVE.get(bus, [])
                active.remove(self)
                if not active:
                    _ACTIVE.pop(bus, None)
            table = self._table()  # the current table: a registration may have rebuilt it
            for tp, previous in saved.items():
                routed = table.get(tp)
                if routed is not None and entry in routed:
                    _put(table, tp, _splice(routed, entry, previous))
                    continue
                for later in active:  # a later override of the type hides this one
                    hiding = later._saved or {}
                    hidden = hiding.get(tp)
                    if hidden is not None and entry in hidden:
                        hiding[tp] = _splice(hidden, entry, previous) or None
                        break
            bus._calls.pop(entry, None)
            openers = getattr(bus, "_openers", None)
            if openers is not None:
                openers.pop(entry, None)
            self._saved = None
            bus._routes_changed()  # what was cached meanwhile, subclasses included, is gone

    def _table(self) -> dict[type, list[HandlerEntry]]:
        if self._entry.handler.kind == "stream":
            return self._bus._stream_table
        return self._bus._table


def _splice(
    routed: list[HandlerEntry], entry: HandlerEntry, previous: list[HandlerEntry] | None
) -> list[HandlerEntry]:
    """``routed`` with ``entry`` replaced by ``previous`` (what it hid)."""
    restored: list[HandlerEntry] = []
    for item in routed:
        if item is entry:
            restored += [hidden for hidden in previous or () if hidden not in routed]
        else:
            restored.append(item)
    return restored


def _put(table: dict[type, list[HandlerEntry]], tp: type, routed: list[HandlerEntry]) -> None:
    if routed:
        table[tp] = routed
    else:
        table.pop(tp, None)


def override(
    bus: LocalRequestBus | LocalEventBus,
    fn: object,
    /,
    *,
    policies: Sequence[Policy] | None = None,
    modifiers: Sequence[Modifier] = (),
    thread: bool = False,
    abandon_on_cancel: bool = False,
) -> contextlib.AbstractContextManager[Handler]:
    """Route the message type of ``fn``'s annotation to ``fn`` inside a ``with`` block.

    ``fn`` is inspected here as ``bus.register(fn, ...)`` would inspect it (the
    bus's policies unless ``policies`` is given, the bus's modifiers around
    ``modifiers``, the same options), and a mistake raises the same error,
    with the bus unchanged; so does a required parameter that neither the
    names declared with ``bus.expect()`` nor a provider supply, as
    ``freeze()`` would report it.  The bus's providers fill its parameters.

    Inside the block, on a `LocalRequestBus`, ``fn`` is the handler of that
    exact type (plain or stream, after ``fn``'s kind), whether or not one was
    registered; on a `LocalEventBus`, it is the only handler of that exact
    type (handlers of its base classes still run).  Subclasses without a
    handler of their own reach it as usual.

    On exit, also on error, the bus is routed as before, and what it cached
    meanwhile is dropped.  It works on a frozen bus.  Entering it returns the
    `Handler` record of ``fn``.
    """
    caller = _registering_namespace()  # the function calling override()
    _check_bus(bus, "override() takes a LocalRequestBus or a LocalEventBus")
    where = "override()"
    chosen = check_policies(policies, where) or bus._policies
    in_thread = check_thread(thread, where)
    abandon = check_abandon(abandon_on_cancel, in_thread, where)
    handler = inspect_handler(
        fn,
        chosen,
        thread=in_thread,
        streams=bus._streams,
        caller=caller,
        shared=chosen is bus._policies,
    )
    handler = resolve(handler)  # the type must be known now
    own = (*bus._modifiers, *check_modifiers(modifiers, where, handler))
    if abandon:
        handler = dataclasses.replace(handler, abandon_on_cancel=True)
    entry = HandlerEntry(handler, own)
    _check_arguments(bus, entry)
    return _Override(bus, entry)


def _check_arguments(bus: LocalRequestBus | LocalEventBus, entry: HandlerEntry) -> None:
    """What ``freeze()`` checks of a registered handler, once ``bus.expect(...)`` was called.

    ``freeze()`` never sees an override (it is not registered), so it is checked here.
    """
    if not bus._expected:
        return
    probe = HandlerRegistry()  # the bus's declarations, with this handler alone
    probe._entries = [entry]
    probe._expected = bus._expected
    probe._providers = bus._providers
    problems = argument_problems(probe)
    if problems:
        raise problems[0]
