"""Test tools: record what goes through a bus, and swap a handler for the length of a test.

``record(bus, ...)`` watches the dispatch methods of the buses it is given
(``execute`` and ``stream`` of a `LocalRequestBus`, ``publish`` of a
`LocalEventBus`) by shadowing them with an instance attribute while it
records; the classes are never touched, so a bus nobody records runs exactly
the code it runs without this module.  ``override(bus, fn)`` routes the
message type of ``fn``'s annotation to ``fn`` and puts the bus's routes back
on exit.  Neither is a pytest plugin: the README shows the fixtures to write.
"""

# Only modules and private names are imported: this namespace holds the public API alone.
import collections.abc
import contextlib
import dataclasses
import threading
import types
import typing
import weakref

from . import (
    _chain,
    _errors,
    _event_bus,
    _handler,
    _inspect,
    _names,
    _policies,
    _providers,
    _registry,
    _request_bus,
)

__all__ = ("RecordedCall", "Recorder", "override", "record")

_T = typing.TypeVar("_T")

#: What record() and override() take.
_Bus: typing.TypeAlias = _request_bus.LocalRequestBus | _event_bus.LocalEventBus

#: The bus method a call went through.
_Method = typing.Literal["execute", "publish", "stream"]

# Guards the taps' recorder lists, every recorder's calls, and the active overrides.  A
# call may be dispatched from any thread (a handler in a worker thread publishing), and a
# call recorded by two recorders must be in the same place in both of them.
_LOCK: typing.Final = threading.Lock()


# -- record ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedCall:
    """One ``execute``, ``publish`` or ``stream`` call, as it was made."""

    #: The message given to the call.
    message: typing.Any
    #: The keyword arguments of the call: a dict of its own, which neither the bus nor
    #: its middleware change afterwards.
    kwargs: dict[str, typing.Any]
    #: The bus the call was made on.
    bus: _request_bus.LocalRequestBus | _event_bus.LocalEventBus
    #: ``"execute"``, ``"publish"`` or ``"stream"``.
    method: _Method


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: typing.Final = _Absent()


class _Tap:
    """What ``bus.execute`` (``stream``, ``publish``) is while one or more recorders watch it.

    One per bus and method, shared by every recorder of that bus, so recorders
    can start and stop in any order.  It returns what the method returns (the
    handler's coroutine, not awaited): the call behaves as it does unrecorded.
    """

    __slots__ = ("bus", "inner", "method", "previous", "recorders")

    def __init__(self, bus: _Bus, method: _Method, previous: typing.Any) -> None:
        self.bus = bus
        self.method: _Method = method
        #: The instance attribute it shadows (someone else's stand-in), or _ABSENT.
        self.previous = previous
        self.inner = getattr(bus, method)
        self.recorders: tuple[Recorder, ...] = ()

    def __call__(self, message: typing.Any, /, **kwargs: typing.Any) -> typing.Any:
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


def _methods(bus: _Bus) -> tuple[_Method, ...]:
    if isinstance(bus, _request_bus.LocalRequestBus):
        return ("execute", "stream")
    return ("publish",)


# The instance attributes are set and deleted with setattr and delattr, never through
# `vars(bus)`: reading an instance's __dict__ turns its attributes into a plain dict, and
# every attribute lookup on the hot path (`self._call_cache`) would stay slower for good.


def _attach(recorder: "Recorder", bus: _Bus, method: _Method) -> _Tap:
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


def _detach(recorder: "Recorder", tap: _Tap) -> None:
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

    def __init__(self, buses: collections.abc.Sequence[_Bus]) -> None:
        self._buses = tuple(buses)
        self._calls: list[RecordedCall] = []
        self._taps: list[_Tap] = []  # non-empty while recording

    @property
    def buses(self) -> tuple[_request_bus.LocalRequestBus | _event_bus.LocalEventBus, ...]:
        """The buses it records."""
        return self._buses

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call recorded, ``execute``, ``publish`` and ``stream`` alike, in order."""
        with _LOCK:
            return list(self._calls)

    @typing.overload
    def executed(self) -> list[typing.Any]: ...
    @typing.overload
    def executed(self, message_type: type[_T]) -> list[_T]: ...
    def executed(self, message_type: type[typing.Any] | None = None) -> list[typing.Any]:
        """The messages given to ``execute``; with a class, those that are instances of it."""
        return self._messages("execute", message_type)

    @typing.overload
    def published(self) -> list[typing.Any]: ...
    @typing.overload
    def published(self, message_type: type[_T]) -> list[_T]: ...
    def published(self, message_type: type[typing.Any] | None = None) -> list[typing.Any]:
        """The events given to ``publish``; with a class, those that are instances of it."""
        return self._messages("publish", message_type)

    @typing.overload
    def streamed(self) -> list[typing.Any]: ...
    @typing.overload
    def streamed(self, message_type: type[_T]) -> list[_T]: ...
    def streamed(self, message_type: type[typing.Any] | None = None) -> list[typing.Any]:
        """The requests given to ``stream``; with a class, those that are instances of it."""
        return self._messages("stream", message_type)

    def __enter__(self) -> typing.Self:
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
        traceback: types.TracebackType | None,
    ) -> None:
        with _LOCK:
            for tap in reversed(self._taps):
                _detach(self, tap)
            self._taps = []

    def __repr__(self) -> str:
        state = "recording" if self._taps else "stopped"
        return f"<Recorder {state}, {len(self._calls)} calls>"

    def _messages(self, method: _Method, message_type: type[typing.Any] | None) -> list[typing.Any]:
        if message_type is not None and not isinstance(message_type, type):
            raise TypeError(
                f"Recorder.{_FILTERS[method]}() takes a message class, not "
                f"{_names.type_name(message_type)}."
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


_FILTERS: typing.Final[dict[_Method, str]] = {
    "execute": "executed",
    "publish": "published",
    "stream": "streamed",
}


def _class_hint(value: object) -> str:
    """How the tip names the class the caller probably meant (that of an instance given)."""
    name = getattr(type(value), "__qualname__", None)
    return name if isinstance(name, str) else "MessageClass"


def record(*buses: _request_bus.LocalRequestBus | _event_bus.LocalEventBus) -> Recorder:
    """Record every message executed, published or streamed through ``buses``, in order.

    Use it as ``with record(bus) as recorder:``; it changes nothing in what
    the calls do (results, errors, timing aside).  Calls that handlers make
    from inside other handlers are recorded too, after the call that runs them.
    """
    if not buses:
        raise TypeError(
            "record() needs at least one bus.\nTip: `with record(bus) as recorder: ...`."
        )
    unique: list[_Bus] = []
    for bus in buses:
        _check_bus(bus, "record() takes LocalRequestBus and LocalEventBus objects")
        if not any(bus is seen for seen in unique):
            unique.append(bus)
    return Recorder(unique)


def _check_bus(bus: object, where: str) -> None:
    if isinstance(bus, (_request_bus.LocalRequestBus, _event_bus.LocalEventBus)):
        return
    tip = (
        "A registry does not dispatch: pass the bus that includes it"
        if isinstance(bus, _registry.HandlerRegistry)
        else "Pass the bus your code dispatches through"
    )
    raise TypeError(f"{where}; it was given a {_names.type_name(type(bus))}.\nTip: {tip}.")


# -- override ----------------------------------------------------------------------------

#: The overrides in effect, per bus, oldest first: one that ends while a later override of
#: the same type still hides it hands its saved routes to that one.
_ACTIVE: typing.Final[weakref.WeakKeyDictionary[_registry.HandlerRegistry, list["_Override"]]] = (
    weakref.WeakKeyDictionary()
)


class _Override:
    """The context manager `override` returns."""

    __slots__ = ("_bus", "_entry", "_saved")

    def __init__(self, bus: _Bus, entry: _handler.HandlerEntry) -> None:
        self._bus = bus
        self._entry = entry
        #: While in effect: each overridden type's routes (None: it had none) before it.
        self._saved: dict[type, list[_handler.HandlerEntry] | None] | None = None

    def __enter__(self) -> _handler.Handler:
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
                _errors.add_note(error, "override() routes the handlers not resolved yet first")
                raise
            bus._accept([entry])  # compiled as a registered handler is
            table = self._table()
            saved: dict[type, list[_handler.HandlerEntry] | None] = {}
            for tp in entry.handler.message_types:
                saved[tp] = table.get(tp)
                table[tp] = [entry]
            self._saved = saved
            with _LOCK:
                _ACTIVE.setdefault(bus, []).append(self)
            bus._overrides += 1  # registering meanwhile is refused: see _check_open
            bus._routes_changed()
        return entry.handler

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
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
            bus._overrides -= 1
            bus._calls.pop(entry, None)
            openers = getattr(bus, "_openers", None)
            if openers is not None:
                openers.pop(entry, None)
            self._saved = None
            bus._routes_changed()  # what was cached meanwhile, subclasses included, is gone

    def _table(self) -> dict[type, list[_handler.HandlerEntry]]:
        if self._entry.handler.kind == "stream":
            return self._bus._stream_table
        return self._bus._table


def _splice(
    routed: list[_handler.HandlerEntry],
    entry: _handler.HandlerEntry,
    previous: list[_handler.HandlerEntry] | None,
) -> list[_handler.HandlerEntry]:
    """``routed`` with ``entry`` replaced by ``previous`` (what it hid)."""
    restored: list[_handler.HandlerEntry] = []
    for item in routed:
        if item is entry:
            restored += [hidden for hidden in previous or () if hidden not in routed]
        else:
            restored.append(item)
    return restored


def _put(
    table: dict[type, list[_handler.HandlerEntry]], tp: type, routed: list[_handler.HandlerEntry]
) -> None:
    if routed:
        table[tp] = routed
    else:
        table.pop(tp, None)


def override(
    bus: _request_bus.LocalRequestBus | _event_bus.LocalEventBus,
    fn: object,
    /,
    *,
    policies: collections.abc.Sequence[_policies.Policy] | None = None,
    modifiers: collections.abc.Sequence[_chain.Modifier] = (),
    thread: bool = False,
    abandon_on_cancel: bool = False,
) -> contextlib.AbstractContextManager[_handler.Handler]:
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
    caller = _registry._registering_namespace()  # the function calling override()
    _check_bus(bus, "override() takes a LocalRequestBus or a LocalEventBus")
    where = "override()"
    chosen = _inspect.check_policies(policies, where) or bus._policies
    in_thread = _inspect.check_thread(thread, where)
    abandon = _inspect.check_abandon(abandon_on_cancel, in_thread, where)
    entry = bus._entry_of(fn, chosen, modifiers, in_thread, abandon, caller, where)
    # The type must be known now: resolved here, as a dispatch would.
    entry = _handler.HandlerEntry(_inspect.resolve(entry.handler), entry.modifiers)
    _check_arguments(bus, entry)
    return _Override(bus, entry)


def _check_arguments(bus: _Bus, entry: _handler.HandlerEntry) -> None:
    """What ``freeze()`` checks of a registered handler, once ``bus.expect(...)`` was called.

    ``freeze()`` never sees an override (it is not registered), so it is checked here.
    """
    if bus._expected is None:
        return
    problems = _providers.argument_problems(bus, [entry])
    if problems:
        raise problems[0]
