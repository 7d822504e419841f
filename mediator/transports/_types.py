"""`EventTypes`: stable wire names for the event classes that leave the process.

A wire name (``"orders.placed"``) outlives refactorings: moving or renaming the
class changes nothing on the wire, and a consumer in another code base maps the
name to its own class.  Mistakes are raised at registration, and `check` lets
an outbox or worker refuse to start with a class nobody registered.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TypeVar, overload

from .._errors import MediatorError
from .._names import describe

__all__ = ["EventTypeError", "EventTypeProblem", "EventTypes", "describe_class"]

T = TypeVar("T", bound=type)

EventTypeProblem = Literal[
    "not-a-class",
    "name",
    "version",
    "class-registered",
    "name-taken",
    "unregistered",
    "unknown-name",
    "missing",
]


def describe_class(cls: object) -> str:
    """``module.QualName (path:line)`` for a class: `describe` plus where the class is defined."""
    if not isinstance(cls, type):
        return describe(cls)
    try:
        return _describe_type(cls)
    except TypeError:  # a metaclass that makes its classes unhashable
        return describe(cls)


@functools.lru_cache(maxsize=256)
def _describe_type(cls: type) -> str:
    # Finding a class's line parses its module: once per class, not once per error.
    where = describe(cls)
    if "(" in where:
        return where
    try:
        path = inspect.getsourcefile(cls)
        line = inspect.findsource(cls)[1] + 1
    except Exception:  # a class made at run time, a builtin, a file gone: the name alone
        return where
    if path is None:
        return where
    try:
        relative = os.path.relpath(path)
    except (ValueError, OSError):
        relative = os.pardir
    if not relative.startswith(os.pardir):
        path = relative
    return f"{where} ({path}:{line})"


class EventTypeError(MediatorError, TypeError, LookupError):
    """An event class or wire name is registered wrongly, or asked for and not registered.

    Attributes:
        problem: which rule it breaks (see `EventTypeProblem`).
        event_type: the class concerned (``None`` for ``"unknown-name"``).
        name: the wire name concerned, if any.
        version: the version given, if any.
        other: for ``"class-registered"`` its registered name; for ``"name-taken"``
            the class already registered under ``name``.
        missing: for ``"missing"``: every class `EventTypes.check` did not find.
    """

    def __init__(
        self,
        problem: EventTypeProblem,
        *,
        event_type: object = None,
        name: object = None,
        version: object = None,
        other: object = None,
        missing: tuple[type, ...] = (),
    ) -> None:
        super().__init__()
        self.problem: EventTypeProblem = problem
        self.event_type = event_type
        self.name = name
        self.version = version
        self.other = other
        self.missing = missing
        line, tip = self._explain()
        self._say(line, tip)

    def _explain(self) -> tuple[str, str | None]:
        cls = describe_class(self.event_type)
        short = getattr(self.event_type, "__name__", "Event")
        match self.problem:
            case "not-a-class":
                return f"EventTypes.register(): {cls} is not a class", (
                    "register the event's class, e.g. types.register(OrderPlaced, "
                    "name='orders.placed', version=1)"
                )
            case "name":
                return f"EventTypes.register({cls}): name={self.name!r} is not a wire name", (
                    "pass a non-empty name without spaces, e.g. name='orders.placed'"
                )
            case "version":
                return (
                    f"EventTypes.register({cls}): version={self.version!r} is not a positive int"
                ), "pass version=1, and raise it when the payload's meaning changes"
            case "class-registered":
                return (
                    f"EventTypes.register({cls}): the class is already registered as "
                    f"{self.other!r}, so it cannot also be {self.name!r} v{self.version}"
                ), "register each class once, under one name"
            case "name-taken":
                return (
                    f"EventTypes.register({cls}): the name {self.name!r} is taken by "
                    f"{describe_class(self.other)}"
                ), "a wire name stands for one class: pick another name for one of them"
            case "unregistered":
                bases = ", ".join(
                    describe(base) for base in getattr(self.event_type, "__mro__", ())[1:-1]
                )
                hint = f" (its bases {bases} do not count)" if bases else ""
                return f"{cls} is not a registered event type{hint}", (
                    f"register it: types.register({short}, name='...', version=1); subclasses "
                    "are not registered with their base class"
                )
            case "unknown-name":
                return f"No event type is registered under the name {self.name!r}", (
                    f"register its class: types.register(Event, name={self.name!r}, version=1)"
                )
            case "missing":
                listed = "; ".join(describe_class(cls) for cls in self.missing)
                count = len(self.missing)
                noun = "class is" if count == 1 else "classes are"
                return f"{count} event {noun} not registered: {listed}", (
                    "register each one: types.register(Event, name='...', version=1)"
                )


def _valid_name(name: str) -> bool:
    return bool(name) and name.isprintable() and not any(char.isspace() for char in name)


class EventTypes:
    """Which classes travel between processes, and under which stable name and version.

    One name stands for one class and one class has one name.  A subclass of a
    registered class is not registered by it: it gets its own name, or is
    refused, since decoding it as its base would drop its fields.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, tuple[str, int]] = {}

    @overload
    def register(self, cls: T, /, *, name: str, version: int = 1) -> T: ...

    @overload
    def register(self, /, *, name: str, version: int = 1) -> Callable[[T], T]: ...

    def register(
        self, cls: T | None = None, /, *, name: str, version: int = 1
    ) -> T | Callable[[T], T]:
        """Register ``cls`` as ``name`` at ``version``; without ``cls``, a class decorator.

        Registering the same class again under the same name and version is a no-op.
        """
        if cls is None:

            def decorate(cls: T) -> T:
                return self.register(cls, name=name, version=version)

            return decorate
        given: tuple[object, object, object] = (cls, name, version)  # checked, whatever typed
        if not isinstance(given[0], type):
            raise EventTypeError("not-a-class", event_type=cls)
        if not isinstance(given[1], str) or not _valid_name(given[1]):
            raise EventTypeError("name", event_type=cls, name=name)
        if isinstance(given[2], bool) or not isinstance(given[2], int) or version < 1:
            raise EventTypeError("version", event_type=cls, name=name, version=version)
        known = self._by_class.get(cls)
        if known is not None:
            if known == (name, version):
                return cls
            raise EventTypeError(
                "class-registered", event_type=cls, name=name, version=version, other=known[0]
            )
        taken = self._by_name.get(name)
        if taken is not None:
            raise EventTypeError(
                "name-taken", event_type=cls, name=name, version=version, other=taken
            )
        self._by_name[name] = cls
        self._by_class[cls] = (name, version)
        return cls

    def name_of(self, cls: type) -> tuple[str, int]:
        """The wire name and version of ``cls``: an `EventTypeError` if it is not registered."""
        try:
            return self._by_class[cls]
        except (KeyError, TypeError):
            raise EventTypeError("unregistered", event_type=cls) from None

    def class_of(self, name: str) -> type:
        """The class registered as ``name``: an `EventTypeError` if there is none."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise EventTypeError("unknown-name", name=name) from None

    def check(self, classes: Iterable[type]) -> None:
        """Raise one `EventTypeError` listing every class of ``classes`` not registered.

        For set-up: an outbox or worker that knows its classes refuses to
        start, rather than failing on its first message.
        """
        missing = tuple(dict.fromkeys(cls for cls in classes if cls not in self._by_class))
        if missing:
            raise EventTypeError("missing", missing=missing)

    def __contains__(self, item: object) -> bool:
        """A registered class, or a registered wire name."""
        try:
            return item in self._by_class or item in self._by_name
        except TypeError:  # unhashable
            return False

    def __len__(self) -> int:
        return len(self._by_class)

    def __iter__(self) -> Iterator[type]:
        return iter(self._by_class)

    def __repr__(self) -> str:
        names = ", ".join(f"{name!r}: v{version}" for name, version in self._by_class.values())
        return f"EventTypes({{{names}}})"
