"""Every exception the library raises; each renders its own message from its fields.

A message is a first line that names the handler (qualified name and
``file:line``) or the call, and the problem, then a ``Tip:`` line with the fix.
Raise sites pass fields, never prose, and one class tells its problems apart
by its ``problem`` field.  Every class also derives from the builtin a caller
would naturally catch (``TypeError`` for a badly written handler,
``LookupError`` for a message nobody handles, ...).

Field names mean the same everywhere: ``handler`` is always a registered
`Handler`; ``where`` is the described name of what is being registered, or of
the call that was given a wrong option.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ._names import describe, type_name

if TYPE_CHECKING:
    from typing import Self

    from ._handler import Handler


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def add_note(error: BaseException, note: str) -> None:
    """Add ``note`` to ``error`` once, best effort: explaining a failure must never replace it.

    A frozen exception class (``__setattr__`` refusing) or a note already there
    leaves the error as it is.
    """
    with contextlib.suppress(Exception):
        if note not in getattr(error, "__notes__", ()):
            error.add_note(note)


class MediatorError(Exception):
    """Base class of every error raised by this library."""

    def _say(self, line: str, tip: str | None = None) -> None:
        if tip is not None:
            if re.match(r"[a-z]+ ", tip):  # a word, not code such as `thread=True`
                tip = tip[0].upper() + tip[1:]
            line = f"{line}\nTip: {tip}{'' if tip.endswith('?') else '.'}"
        self.args = (line,)

    def __reduce__(self) -> Any:
        # The constructors take fields, not the message: pickle the state.
        return _restore, (type(self), self.args, self.__dict__)


# -- registration -----------------------------------------------------------------------

RegistrationProblem = Literal[
    "none",
    "class",
    "classmethod",
    "unbound-method",
    "no-policy",
    "sync-generator",
    "thread-on-async",
    "stream-on-event-bus",
    "signature",
    "no-parameters",
    "variadic-message",
    "positional-only",
    "subject-arg-unknown",
    "subject-arg-variadic",
    "subject-arg-positional",
    "arg-map-message",
    "arg-map-unknown",
    "unannotated",
    "lambda",
    "annotation-error",
    "annotation-none",
    "annotation-any",
    "annotation-typevar",
    "annotation-generic",
    "annotation-not-class",
    "unresolved",
    "include-item",
]

#: Which kind of bus or registry a handler was given to: events or requests.
RegistryKind = Literal["event", "request"]

#: The message class and parameter name the tips use as examples.
_EXAMPLE: dict[RegistryKind | None, tuple[str, str]] = {
    "event": ("event", "UserCreated"),
    "request": ("query", "GetUser"),
    None: ("message", "UserCreated"),
}


class RegistrationError(MediatorError, TypeError):
    """A handler cannot be registered as written; the bus or registry is left unchanged.

    Raised by ``register`` and ``include`` (or, for a message annotation that
    could only be resolved later, by the first dispatch or ``freeze()``).

    Attributes:
        obj: what was given to ``register`` (or ``include``).
        where: the described name of the handler: ``module.QualName (path:line)``.
        problem: which rule it breaks (see `RegistrationProblem`).
        parameter: the parameter concerned, if any (for ``"no-policy"``: an async
            method the object has, which a MethodHandlerPolicy could name).
        annotation: the message annotation concerned, if any.
        detail: more about the problem (an underlying error, the alternatives; for
            ``"unbound-method"``: ``Class.method``).
        registry: ``"event"`` or ``"request"``: the kind of bus or registry it was
            given to, if known (the tips' examples follow it).
    """

    def __init__(
        self,
        obj: object,
        problem: RegistrationProblem,
        *,
        fn: object = None,
        parameter: str | None = None,
        annotation: object = None,
        detail: str | None = None,
        registry: RegistryKind | None = None,
    ) -> None:
        super().__init__()
        self.obj = obj
        self.where = describe(obj if fn is None else fn)
        self.problem: RegistrationProblem = problem
        self.parameter = parameter
        self.annotation = annotation
        self.detail = detail
        self.registry: RegistryKind | None = registry
        what, tip = self._explain()
        self._say(f"{self._failed} {self.where}: {what}.", tip)

    _failed = "Cannot register"

    def _explain(self) -> tuple[str, str]:
        p, detail = self.parameter, self.detail
        shown = _show(self.annotation)
        of_message = f"the annotation of its message parameter {p!r}, {shown},"
        name, example = _EXAMPLE[self.registry]
        handle = f"`async def handle({name}: {example}): ...`"
        match self.problem:
            case "none":
                return "register() was given None instead of a handler", (
                    "pass the handler, `bus.register(handle)`. Under @bus.register, None "
                    "means the decorator below it returned nothing: make it return the function"
                )
            case "classmethod":
                owner, method = _method_of(getattr(self.obj, "__func__", None))
                return "it is a classmethod object, which is not bound to its class yet", (
                    f"register it after the class body, `bus.register({owner}.{method})`: "
                    f"@bus.register above @classmethod runs before the class exists"
                )
            case "unbound-method":
                owner, _, method = (detail or "Class.handle").rpartition(".")
                if p == "cls":
                    return (
                        f"it is the function of a classmethod of {owner}, so {p!r} would "
                        f"receive the message"
                    ), (
                        f"register it after the class body, `bus.register({owner}.{method})`, "
                        f"bound to the class"
                    )
                return (
                    f"it is a method of {owner}, not bound to an instance, so {p!r} would "
                    f"receive the message"
                ), (
                    f"register the method of an instance, `bus.register({owner}(...).{method})`, "
                    f"or register instances with policies=[MethodHandlerPolicy(name={method!r})]"
                )
            case "class":
                short = getattr(self.obj, "__name__", "Handler")
                return "it is a class", (
                    f"register an instance, `bus.register({short}(...))`, with a "
                    f"MethodHandlerPolicy(name=...) naming the method to call, or register a "
                    f"bound method of an instance"
                )
            case "no-policy":
                return f"no handler policy applies to it ({detail})", (
                    "register an async function, or an object the policies of the bus or "
                    "registry apply to (check their method names and subtype_of)"
                    if self.parameter is None
                    else f"it has the async method {p!r}: add MethodHandlerPolicy(name={p!r}) "
                    f"to the policies of the bus or registry"
                )
            case "sync-generator":
                return "it is a sync generator function", (
                    "a stream handler is an `async def` function that yields: add `async`"
                )
            case "thread-on-async":
                return f"thread=True was given but it is an {detail} function", (
                    "`thread=True` runs a plain `def` handler in a worker thread: drop it"
                )
            case "stream-on-event-bus":
                return "it is a stream handler (an async generator), and events cannot stream", (
                    "register stream handlers on a LocalRequestBus (or RequestHandlerRegistry) "
                    "and iterate them with bus.stream(...)"
                )
            case "signature":
                return f"its signature cannot be read ({detail})", (
                    "wrap it in a Python function whose first parameter is the message"
                )
            case "no-parameters":
                return "it takes no parameters", (
                    f"its first parameter receives the message and its annotation picks the "
                    f"messages it handles: {handle}"
                )
            case "variadic-message":
                return f"its first parameter is {detail}{p}", (
                    f"declare the message parameter first: "
                    f"`async def handle({name}: {example}, *args, **kwargs)`"
                )
            case "positional-only":
                return (
                    f"parameter {p!r} is positional-only and has no default, but the bus "
                    f"passes extra arguments by name"
                ), "make it a regular parameter (move it after the `/`) or give it a default"
            case "subject-arg-unknown":
                return f"subject_arg={p!r} names none of its parameters ({detail})", (
                    "fix subject_arg in its CallableHandlerPolicy"
                )
            case "subject-arg-variadic":
                return f"subject_arg={p!r} names a variadic parameter", (
                    "name a regular parameter as the message parameter"
                )
            case "subject-arg-positional":
                return (
                    f"subject_arg={p!r} names a positional-only parameter that is not the first "
                    f"one, so the message cannot be passed to it"
                ), "make it a regular parameter (move it after the `/`)"
            case "arg-map-message":
                return f"arg_map maps {detail!r} onto its message parameter {p!r}", (
                    "`arg_map` renames extra keyword arguments; the message is always passed"
                )
            case "arg-map-unknown":
                return f"arg_map maps {detail!r} to {p!r}, which is not one of its parameters", (
                    "fix the name in arg_map, or add the parameter"
                )
            case "unannotated":
                return f"its message parameter {p!r} has no type annotation", (
                    f"annotate it with the message class, `{p}: {example}`: the bus routes "
                    f"each message by that annotation"
                )
            case "lambda":
                return (
                    f"it is a lambda, so its message parameter {p!r} cannot have the type "
                    f"annotation the bus routes by"
                ), f"define it with def: `def handle({p}: {example}): ...` (or async def)"
            case "annotation-error":
                return f"{of_message} cannot be evaluated ({detail})", (
                    "annotate it with the message class"
                )
            case "annotation-none":
                return f"{of_message} includes None", (
                    "a message is never None: drop None (Optional) from the annotation"
                )
            case "annotation-any":
                return f"{of_message} is Any", (
                    "annotate it as `object` to receive every message, or name the message class"
                )
            case "annotation-typevar":
                return f"{of_message} is a type variable", (
                    "the bus needs a concrete class to route messages: name the message class"
                )
            case "annotation-generic":
                return f"{of_message} is a parameterized type", (
                    f"the bus routes by type(message), which is the bare class: annotate it as "
                    f"{detail}"
                )
            case "annotation-not-class":
                return f"{of_message} is not a class", (
                    "the bus routes by type(message): annotate it with the message class "
                    "(or a union of classes)"
                )
            case "include-item":
                return "include() takes a registry, a bus or their HandlerEntry items", (
                    "pass the registry itself: `bus.include(registry)`"
                )
            case _:  # pragma: no cover - "unresolved" renders in its own class
                return str(self.problem), "see the documentation of RegistrationProblem"


class UnresolvedAnnotationError(RegistrationError, NameError):
    """The message annotation of a handler names something that does not exist at run time.

    Raised by the first dispatch or ``freeze()`` (a name missing at registration
    is only an error if it is still missing then).  ``name`` is the missing
    name; ``suggestion`` the class of the handler's module (or builtins) whose
    name is closest to it, if one is close: the likely typo fix.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        name: str | None,
        detail: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.handler = handler
        self._missing = name
        self.suggestion = suggestion
        super().__init__(
            handler.obj,
            "unresolved",
            fn=handler.fn,
            parameter=handler.message_parameter,
            annotation=handler.annotation,
            detail=detail,
        )
        self.name = name

    _failed = "Cannot route messages to"

    def _explain(self) -> tuple[str, str]:
        module = getattr(self.handler.fn, "__module__", None)
        module = module if isinstance(module, str) else "?"
        shown, missing = _show(self.annotation), self._missing
        annotated = f"its message parameter {self.parameter!r} is annotated {shown}"
        if missing is None:
            return f"{annotated}, which names something undefined ({self.detail})", (
                "annotate it with a class that exists at run time"
            )
        where = f"not defined in module {module}"
        what = (
            f"{annotated}, which is {where}"
            if shown == repr(missing)
            else f"{annotated}, and {missing!r} is {where}"
        )
        if self.suggestion is not None:
            return what, f"did you mean `{self.suggestion}`?"
        if "<locals>" in self.handler.name:
            return what, (
                f"import or define {missing} at run time (an import under `if TYPE_CHECKING:` "
                f"is not enough): at module level, or before registering the handler in the "
                f"function that defines it"
            )
        return what, (
            f"import or define {missing} in module {module} at run time (an import under "
            f"`if TYPE_CHECKING:` is not enough)"
        )


class DuplicateHandlerError(MediatorError, KeyError):
    """A handler was registered for a message type that cannot take it.

    A request type has one handler (and one stream handler); an event type
    may have many, but the same handler only once (``event`` is True then).
    """

    def __init__(
        self,
        *,
        message_type: type,
        existing: Handler,
        new: Handler,
        stream: bool,
        event: bool = False,
    ) -> None:
        super().__init__()
        self.message_type = message_type
        self.existing = existing
        self.new = new
        self.stream = stream
        self.event = event
        kind = "stream handler" if stream else "handler"
        via = ""
        if len(new.message_types) > 1:
            via = f" (one of the classes of its annotation, {_show(new.annotation)})"
        if event:
            self._say(
                f"Cannot register {new.described} for {type_name(message_type)}{via}: it is "
                f"already one of its handlers, and every event would reach it twice.",
                "register it once (was a function registered again, or a registry included "
                "twice?); to run it twice on purpose, register a second function that calls it",
            )
            return
        self._say(
            f"Cannot register {new.described} for {type_name(message_type)}{via}: "
            f"{existing.described} is already its {kind}.",
            f"a request has exactly one {kind}: remove one of them, or give them different "
            f"message classes",
        )

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


# -- dispatch ---------------------------------------------------------------------------


class HandlerNotFoundError(MediatorError, LookupError):
    """No handler takes the message.

    Attributes:
        message_type: ``type(message)``.
        stream: True if it was ``bus.stream()``, False for ``execute``.
        registered: the message types that have a handler of the kind asked for.
        other: the handler of the other kind (stream or not) that takes it, if any:
            the call should have been the other one.
        namesake: a registered class with the same qualified name, if any (a class
            defined or imported twice).
    """

    def __init__(
        self,
        message_type: type,
        *,
        stream: bool = False,
        registered: Sequence[type] = (),
        other: Handler | None = None,
        namesake: type | None = None,
    ) -> None:
        super().__init__()
        self.message_type = message_type
        self.stream = stream
        self.registered = tuple(registered)
        self.other = other
        self.namesake = namesake
        self._render()

    def _render(self) -> None:
        name = type_name(self.message_type)
        kind = "stream handler" if self.stream else "handler"
        if self.other is not None:
            if self.stream:
                self._say(
                    f"No stream handler for {name}: it is handled by {self.other.described}, "
                    f"which returns a single result.",
                    "use `await bus.execute(...)` instead of bus.stream()",
                )
            else:
                self._say(
                    f"No handler for {name}: it is handled by the stream handler "
                    f"{self.other.described}.",
                    "iterate `bus.stream(...)` instead of awaiting bus.execute()",
                )
            return
        known = sorted(type_name(t) for t in self.registered)
        shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        decorator = "an `async def` generator" if self.stream else "an `async def` function"
        tip = (
            f"register {decorator} whose first parameter is annotated with "
            f"{self.message_type.__qualname__} (or a base class of it) with @bus.register"
        )
        if self.namesake is not None:
            tip = (
                f"a handler is registered for another class of the same name, "
                f"{type_name(self.namesake)}: is the class defined (or imported) twice? "
                f"Otherwise, {tip}"
            )
        self._say(f"No {kind} for {name} (registered: {shown or 'nothing yet'}).", tip)


class AmbiguousHandlerError(HandlerNotFoundError):
    """A request has no handler of its own and two equally close base classes have one."""

    def __init__(
        self,
        message_type: type,
        *,
        bases: Sequence[type],
        candidates: Sequence[Handler],
        stream: bool = False,
    ) -> None:
        self.bases = tuple(bases)
        self.candidates = tuple(candidates)
        super().__init__(message_type, stream=stream)

    def _render(self) -> None:
        name = type_name(self.message_type)
        pairs = " and ".join(
            f"{type_name(base)} (handled by {handler.described})"
            for base, handler in zip(self.bases, self.candidates, strict=True)
        )
        self._say(
            f"No handler for {name}: it has no handler of its own, and its base classes "
            f"{pairs} are equally close to it.",
            f"register a handler for {name} itself to choose",
        )


class MessageClassError(MediatorError, TypeError):
    """``execute``, ``stream`` or ``publish`` was given a message class, not an instance.

    Attributes:
        message_class: the class that was passed.
        call: ``"execute"``, ``"stream"`` or ``"publish"``.
    """

    def __init__(self, message_class: type, *, call: str) -> None:
        super().__init__()
        self.message_class = message_class
        self.call = call
        self._say(
            f"{call}() was given the class {type_name(message_class)}, not an instance of it.",
            f"pass an instance: `{call}({message_class.__name__}(...))`",
        )


class HandlerArgumentError(MediatorError, TypeError):
    """The keyword arguments of a call do not fit the handler's parameters.

    ``problem`` is ``"message-keyword"`` (a keyword argument has the name of the
    message parameter) or ``"unexpected"`` (``arg_strict=True`` passed keyword
    arguments the handler cannot take; ``detail`` says which).
    """

    def __init__(
        self,
        handler: Handler,
        problem: Literal["message-keyword", "unexpected", "missing"],
        *,
        given: Sequence[str] = (),
        detail: str | None = None,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.problem = problem
        self.given = tuple(given)
        self.detail = detail
        self._render()

    def _render(self) -> None:
        where = self.handler.described
        if self.problem == "message-keyword":
            self._say(
                f"{where} got a keyword argument {self.handler.message_parameter!r}, the name "
                f"of its message parameter.",
                "rename the keyword argument",
            )
        else:
            self._say(
                f"{where} cannot take the keyword arguments of this call: {self.detail}.",
                "with arg_strict=True every keyword argument of the call is passed on: drop "
                "arg_strict, or accept them with **kwargs",
            )


class MissingArgumentError(HandlerArgumentError):
    """A required parameter was given neither by the call, nor by a middleware, nor a provider.

    ``parameters`` are named as the call would pass them (after ``arg_map``);
    ``given`` lists the keyword arguments the call did pass.  ``chain`` names
    the providers that led to a missing parameter of a factory (``("session",
    "engine")`` when the handler's ``session`` needs ``engine``, which needs
    the missing ``dsn``): empty when the handler's own parameter is missing.
    ``declared`` is True when ``freeze()`` found it, from the names declared
    with ``expect()``, rather than a call; ``given`` then lists those names.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        parameters: Sequence[str],
        given: Sequence[str],
        chain: Sequence[str] = (),
        declared: bool = False,
    ) -> None:
        self.parameters = tuple(parameters)
        self.chain = tuple(chain)
        self.declared = declared
        super().__init__(handler, "missing", given=given)

    @property
    def path(self) -> str:
        """``handler -> provider -> ... -> ?parameter``, the way the message shows it."""
        short = self.handler.name.rpartition(".")[2] or self.handler.name
        missing = ", ".join(f"?{name}" for name in self.parameters)
        return " -> ".join((short, *self.chain, missing))

    def _render(self) -> None:
        plural = "s" if len(self.parameters) > 1 else ""
        names = ", ".join(repr(name) for name in self.parameters)
        wanted = ", ".join(f"{name}=..." for name in self.parameters)
        received = ", ".join(sorted(self.given)) or "none"
        # "module.handle needs ..." or "module.handle: the provider 'engine' needs ... (path)"
        whose = f": the provider {self.chain[-1]!r}" if self.chain else ""
        how = f" ({self.path})" if self.chain else ""
        provide = f" provide it (bus.provide({self.parameters[0]!r}, factory))"
        if self.declared:
            self._say(
                f"{self.handler.described}{whose} needs the argument{plural} {names}{how}, "
                f"which no provider supplies and no call declares (declared with expect(): "
                f"{received}).",
                f"declare it with bus.expect({', '.join(map(repr, self.parameters))}) if "
                f"every call passes it,{provide} or give the parameter a default",
            )
            return
        self._say(
            f"{self.handler.described}{whose} needs the argument{plural} {names}{how}, which "
            f"the call did not give (it gave: {received}).",
            f"pass {wanted} to execute()/publish(), set it in a middleware,{provide} or give "
            f"the parameter a default",
        )


ProviderProblem = Literal[
    "name",
    "not-callable",
    "signature",
    "positional-only",
    "duplicate",
    "cycle",
    "no-yield",
    "yielded-twice",
]


class ProviderError(MediatorError, TypeError):
    """A provider given to ``provide()`` cannot be used, or broke its contract in a call.

    ``name`` is the provided name and ``factory`` the function.  For
    ``"duplicate"``, ``other`` is the factory already provided under that
    name; for ``"cycle"``, ``chain`` is the loop of names (first and last are
    the same); for ``"positional-only"`` and ``"signature"``, ``detail`` names
    the parameter or the underlying error.
    """

    def __init__(
        self,
        name: object,
        factory: object,
        problem: ProviderProblem,
        *,
        other: object = None,
        chain: Sequence[str] = (),
        detail: str | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.factory = factory
        self.problem: ProviderProblem = problem
        self.other = other
        self.chain = tuple(chain)
        self.detail = detail
        what, tip = self._explain()
        self._say(what, tip)

    def _explain(self) -> tuple[str, str]:
        name, factory = self.name, describe(self.factory)
        match self.problem:
            case "name" if callable(name):
                return f"provide() was given {describe(name)} where the name goes.", (
                    "name the parameter it fills: `@bus.provide('session')` above the "
                    "factory, or `bus.provide('session', factory)`"
                )
            case "name":
                return f"provide({name!r}, ...): the name is not a valid parameter name.", (
                    "give the name of the handler parameter to fill, e.g. provide('session', "
                    "make_session)"
                )
            case "not-callable":
                return f"provide({name!r}, {_show(self.factory)}): the factory is not callable.", (
                    "pass a function (def, async def, or a generator of either) that makes the "
                    "value"
                )
            case "signature":
                return (
                    f"provide({name!r}, {factory}): its signature cannot be read ({self.detail})."
                ), "wrap it in a def whose parameters are named"
            case "positional-only":
                return (
                    f"provide({name!r}, {factory}): its parameter {self.detail!r} is positional-"
                    f"only, and providers fill parameters by name."
                ), "make it a normal parameter, or give it a default"
            case "duplicate":
                return (
                    f"{name!r} is provided twice: by {describe(self.other)} and by {factory}."
                ), "provide each name once; to replace a provider in tests, use another bus"
            case "cycle":
                return (
                    f"provide({name!r}, {factory}) makes a cycle: {' -> '.join(self.chain)}."
                ), "one of these factories must get its value from the call, or another way"
            case "no-yield":
                return f"the provider {name!r} ({factory}) finished without yielding a value.", (
                    "a generator provider yields the value exactly once"
                )
            case "yielded-twice":
                return f"the provider {name!r} ({factory}) yielded more than once.", (
                    "a generator provider yields the value exactly once, then tears down"
                )


# -- options, modifiers and bus state ------------------------------------------------------

ConfigurationProblem = Literal[
    "policies",
    "policy",
    "thread",
    "abandon-on-cancel",
    "abandon-without-thread",
    "strategy",
    "strategy-and-sync-mode",
    "sync-mode",
    "max-concurrency",
    "max-concurrency-sequential",
    "max-concurrency-background",
    "max-in-flight",
    "max-in-flight-strategy",
    "expect",
    "worker-background",
    "worker-streams",
    "worker-count",
    "worker-seconds",
    "worker-claim-after",
    "worker-name",
    "worker-codec",
    "worker-kwargs",
    "worker-running",
    "on-error",
    "on-error-strategy",
]


class ConfigurationError(MediatorError, TypeError, ValueError):
    """An option given to a bus, a registry or ``register`` is wrong; nothing was changed.

    ``where`` names the call (``LocalEventBus()``, ``LocalRequestBus.register()``),
    ``option`` the argument and ``value`` what it was given.
    """

    def __init__(
        self, where: str, problem: ConfigurationProblem, *, option: str, value: object
    ) -> None:
        super().__init__()
        self.where = where
        self.problem: ConfigurationProblem = problem
        self.option = option
        self.value = value
        what, tip = self._explain()
        self._say(f"{where}: {option}={_show(value)} {what}.", tip)

    def _explain(self) -> tuple[str, str]:
        match self.problem:
            case "policies":
                return "is not a non-empty list of handler policies", (
                    "pass a list such as [MethodHandlerPolicy(name='handle'), "
                    "CallableHandlerPolicy()]"
                )
            case "policy":
                return "holds something that is not a handler policy", (
                    "use CallableHandlerPolicy(...) or MethodHandlerPolicy(name=...)"
                )
            case "thread":
                return "is not a bool", "pass thread=True or thread=False"
            case "abandon-on-cancel":
                return "is not a bool", "pass abandon_on_cancel=True or leave it out"
            case "abandon-without-thread":
                return "applies to handlers run in a worker thread only", (
                    "add thread=True, or drop abandon_on_cancel: an inline handler is "
                    "cancelled at its next await"
                )
            case "strategy":
                return "is not a strategy", "use 'sequential', 'concurrent' or 'background'"
            case "strategy-and-sync-mode":
                return "and strategy= were both given", (
                    "`sync_mode` is python-mediator's older spelling of strategy=: use "
                    "strategy= alone"
                )
            case "sync-mode":
                return "is not a bool", (
                    "`sync_mode=True` means strategy='concurrent' and `sync_mode=False` means "
                    "'background': better, pass strategy= itself"
                )
            case "max-concurrency":
                return "is not a positive int or None", "pass a number of handlers, e.g. 10"
            case "max-concurrency-sequential":
                return "limits nothing with the 'sequential' strategy", (
                    "it runs one handler at a time already: drop max_concurrency, or use "
                    "strategy='concurrent' or 'background'"
                )
            case "max-concurrency-background":
                return "limits the handlers of one publish, a 'concurrent' option", (
                    "to bound the handlers a 'background' bus runs at once (publish() then "
                    "waits for room), pass max_in_flight= instead"
                )
            case "max-in-flight":
                return "is not a positive int or None", "pass a number of handlers, e.g. 100"
            case "max-in-flight-strategy":
                return "bounds the handlers of the 'background' strategy only", (
                    "use strategy='background', or max_concurrency= to limit the handlers of "
                    "one 'concurrent' publish"
                )
            case "worker-background":
                return (
                    "has the 'background' strategy, whose publish() returns before its "
                    "handlers finish"
                ), (
                    "a worker acks an entry once every handler is done: give it a bus with "
                    "strategy='sequential' or 'concurrent'"
                )
            case "worker-streams":
                return "is not a stream name or a non-empty list of them", (
                    "pass streams='orders' or streams=['orders', 'billing']"
                )
            case "worker-count":
                return "is not a positive int", "pass a number such as 10"
            case "worker-seconds":
                return "is not a number of seconds (0 or more)", "pass seconds such as 1.0"
            case "worker-claim-after":
                return "is not a positive number of seconds", (
                    "an entry is taken over once idle that long, so 0 would take every entry "
                    "at once: pass seconds well above a handler's usual time, such as 30.0"
                )
            case "worker-name":
                return "is not a non-empty str", (
                    "pass the consumer group's name (group='billing') and, optionally, a stable "
                    "name per replica (consumer='billing-1')"
                )
            case "worker-codec":
                return "has no decode() method", (
                    "pass a codec such as JsonCodec(types): decode(type, version, payload)"
                )
            case "worker-kwargs":
                return "holds 'delivery', which the worker passes itself", (
                    "remove it: handlers that declare `delivery: Delivery` get the entry's"
                )
            case "worker-running":
                return "is running already: one Worker runs once at a time", (
                    "wait for run() to return before calling it again, or make a second Worker "
                    "with its own consumer name"
                )
            case "expect":
                return "is not a valid parameter name", (
                    "pass the names of keyword arguments, e.g. expect('user', 'tenant')"
                )
            case "on-error":
                return "is not callable", "pass a function on_error(exception, handler, event)"
            case "on-error-strategy":
                return "receives the failures of the 'background' strategy only", (
                    "with 'sequential' or 'concurrent', publish() raises PublishError: catch it, "
                    "or use strategy='background'"
                )


ModifierProblem = Literal[
    "not-a-sequence",
    "class",
    "not-callable",
    "not-async",
    "signature",
    "create-result",
    "action-result",
]


class ModifierError(MediatorError, TypeError):
    """A modifier is not usable, or broke the modifier contract.

    At registration (``where`` names the call, ``LocalEventBus()`` or
    ``LocalEventBus.register()``): ``modifiers=`` is not a sequence, or holds a
    class, something that is neither an async middleware function nor a
    modifier factory, or a middleware with the wrong parameters (``detail`` is
    then its signature); a factory's ``create()`` returned something that is
    not callable (``handler`` is then the handler it was building for).  At a
    call (``"action-result"``): a factory's chain returned something other than
    an ``ActionResult``.  ``modifier`` is the modifier concerned, and the
    message names it by qualified name and ``file:line``.
    """

    def __init__(
        self,
        problem: ModifierProblem,
        *,
        modifier: object = None,
        where: str | None = None,
        handler: Handler | None = None,
        value: object = None,
        detail: str | None = None,
    ) -> None:
        super().__init__()
        self.problem: ModifierProblem = problem
        self.modifier = modifier
        self.where = where if where is not None else (handler.described if handler else "?")
        self.handler = handler
        self.value = value
        self.detail = detail
        what, tip = self._explain()
        self._say(what, tip)

    def _explain(self) -> tuple[str, str]:
        shape = (
            "a modifier is a middleware function `async def middleware(message, kwargs, "
            "call_next)` or a factory with a create(call, **kwargs) method"
        )
        modifier, handler, context = self.modifier, self.handler, self.where
        place = f" in {context}"  # the call, then the handler, when known
        if handler is not None:
            place = f" for {handler.described}"
            if context != handler.described:
                place = f" in {context}{place}"
        named = describe(modifier) if modifier is not None else "?"
        middleware = f"Cannot use the middleware {named}{place}"
        match self.problem:
            case "not-a-sequence":
                return f"{context}: modifiers={_show(self.value)} is not a list or tuple.", shape
            case "class":
                short = getattr(modifier, "__name__", "Modifier")
                return f"Cannot use the class {named} as a modifier{place}.", (
                    f"pass an instance of it: modifiers=[{short}(...)]"
                )
            case "not-callable":
                return (
                    f"Cannot use {_show(modifier)} as a modifier{place}: it is neither "
                    f"callable nor has create().",
                    shape,
                )
            case "not-async":
                return f"{middleware}: it is not an async function.", _middleware_fix(
                    modifier, shape
                )
            case "signature":
                takes = f"it takes {self.detail}" if self.detail else "its parameters do not fit"
                return (
                    f"{middleware}: {takes}, but a middleware is called with "
                    f"(message, kwargs, call_next)."
                ), _middleware_fix(modifier, shape)
            case "create-result":
                factory = describe(type(modifier))
                return (
                    f"Cannot use the modifier factory {factory}{place}: its create() "
                    f"returned {_show(self.value)}."
                ), "`create(call, **kwargs)` must return the async function that wraps `call`"
            case "action-result":
                return (
                    f"{context}: its modifier stack returned {_show(self.value)} instead of an "
                    f"ActionResult."
                ), (
                    "each modifier must return what `await call(action)` gave it, or a new "
                    "ActionResult(value)"
                )


def _middleware_fix(modifier: object, shape: str) -> str:
    """How to write ``modifier`` as a middleware: its own name in the right signature."""
    name = getattr(modifier, "__name__", None)
    if name == "<lambda>":
        return (
            "a lambda cannot be async: define `async def middleware(message, kwargs, "
            "call_next)` and pass that"
        )
    if getattr(modifier, "__module__", None) in ("mediator.modifiers", "mediator.around"):
        # `modifiers=[log]`: a middleware factory given instead of the middleware it makes
        return f"call it: `modifiers=[{name}(...)]` (`{name}()` makes the middleware)"
    if inspect.isfunction(modifier) or inspect.ismethod(modifier):
        return f"make it `async def {name}(message, kwargs, call_next)`"
    if not inspect.isroutine(modifier) and not isinstance(modifier, type):  # an instance
        return (
            f"make the method of {type(modifier).__name__} "
            f"`async def __call__(self, message, kwargs, call_next)`"
        )
    return shape


BusStateProblem = Literal["frozen", "overridden", "not-entered", "entered", "exit-without-enter"]


class HandlerTimeoutError(MediatorError, TimeoutError):
    """A call through `mediator.modifiers.timeout` did not finish in time and was cancelled.

    ``handler`` is the handler at the end of the chain, ``seconds`` the limit.
    """

    def __init__(self, handler: Handler, *, seconds: float) -> None:
        super().__init__()
        self.handler = handler
        self.seconds = seconds
        self._say(
            f"{handler.described} did not finish within {seconds:g} s (timeout middleware): "
            f"the rest of its chain was cancelled.",
            "raise the limit given to timeout(), or find what the handler waits for",
        )


# -- transports ------------------------------------------------------------------------


class GroupNotFoundError(MediatorError, LookupError):
    """A read, claim or count named a consumer group the stream does not have (Redis: NOGROUP).

    Attributes:
        stream: the stream named.
        group: the group it does not have.
        operation: the engine method called (``"read_new"``, ``"claim"``, ...).
        groups: the groups the stream has, if the engine knows them.
    """

    def __init__(self, stream: str, group: str, operation: str, groups: Sequence[str] = ()) -> None:
        self.stream = stream
        self.group = group
        self.operation = operation
        self.groups = tuple(groups)
        shown = ", ".join(map(repr, self.groups)) or "none yet"
        self._say(
            f"{operation}: stream {stream!r} has no consumer group {group!r} (it has: {shown}).",
            f"create it first with `await engine.ensure_group({stream!r}, {group!r})` "
            "(the worker does so when it starts)",
        )


class BusStateError(MediatorError, RuntimeError):
    """The bus is not in a state that allows this call.

    ``problem``: ``"frozen"`` (registering after ``freeze()``), ``"overridden"``
    (a provider, or a handler whose annotation is resolved later, added while a
    ``mediator.testing.override()`` is in effect), ``"not-entered"``
    (a background publish outside ``async with bus:``), ``"entered"`` (entering
    it twice) or ``"exit-without-enter"``.  ``owner`` names the bus class.
    """

    def __init__(self, problem: BusStateProblem, *, owner: str) -> None:
        super().__init__()
        self.problem: BusStateProblem = problem
        self.owner = owner
        match problem:
            case "frozen":
                self._say(
                    f"{owner} is frozen: freeze() was called, so no handler can be added.",
                    "register every handler before calling freeze()",
                )
            case "overridden":
                self._say(
                    f"{owner} cannot take this while a mediator.testing.override() is in "
                    f"effect on it: a provider would not reach the override, and a handler "
                    f"whose annotation is routed later would undo it.",
                    "add providers, and handlers annotated with classes defined later, before "
                    "entering override(), or after its block",
                )
            case "not-entered":
                self._say(
                    f"{owner}(strategy='background') runs handlers in its own task group, which "
                    f"only exists inside `async with bus:`.",
                    "enter the bus around your application (`async with bus: ...`), or use "
                    "strategy='sequential' or 'concurrent' to publish without it",
                )
            case "entered":
                self._say(
                    f"This {owner} is already entered (`async with bus:`).",
                    "enter it once, around the whole application",
                )
            case _:
                self._say(f"This {owner} was not entered.", "use `async with bus:`")


# -- event handler failures -----------------------------------------------------------------


class Failure(NamedTuple):
    """One failed event handler: which handler, and what it raised."""

    handler: Handler
    exception: Exception


class PublishError(ExceptionGroup[Exception], MediatorError):
    """Raised by ``publish`` after every handler ran, when one or more of them failed.

    It is an ``ExceptionGroup`` of the handlers' exceptions, so ``except*``
    works; ``failures`` pairs each exception with the handler that raised it,
    and each exception also carries a note naming its handler.
    """

    failures: tuple[Failure, ...] = ()
    event: Any = None

    @classmethod
    def from_failures(cls, event: object, failures: Sequence[Failure], handlers: int) -> Self:
        names = ", ".join(f.handler.name for f in failures)
        event_name = type_name(type(event))
        message = (
            f"{len(failures)} of {handlers} handlers failed for {event_name}: {names}"
            if handlers > 1
            else f"The handler of {event_name} failed: {names}"
        )
        error = cls(message, [f.exception for f in failures])
        error.failures = tuple(failures)
        error.event = event
        return error

    def derive(self, excs: Sequence[Exception]) -> PublishError:  # type: ignore[override]
        # ``split``, ``subgroup`` and ``except*`` build their parts with it: each
        # part is a PublishError with the failures of the exceptions it keeps.
        # ``excs`` keeps the order of ``self.exceptions``; a leaf is the same
        # object, but a nested group (a handler's own ExceptionGroup, or the
        # PublishError of a publish inside a handler) comes back rebuilt, as a
        # new object with the original's traceback, cause and context.  So the
        # failures pair up in order.
        derived = PublishError(self.message, excs)
        failures: list[Failure] = []
        remaining = iter(self.failures)
        for exc in excs:
            for failure in remaining:
                if _same_part(failure.exception, exc):
                    failures.append(Failure(failure.handler, exc))
                    break
        derived.failures = tuple(failures)
        derived.event = self.event
        return derived

    def __reduce__(self) -> Any:
        return _restore, (type(self), self.args, self.__dict__)


def _same_part(original: BaseException, part: BaseException) -> bool:
    """``part`` is ``original``, or what ``split`` rebuilt of the group ``original``.

    A group's part may be of another class (an ExceptionGroup subclass without
    its own ``derive`` comes back as a plain ExceptionGroup), but it carries
    the original's traceback, cause and context.
    """
    if original is part:
        return True
    return (
        isinstance(original, BaseExceptionGroup)
        and isinstance(part, BaseExceptionGroup)
        and part.message == original.message
        and part.__traceback__ is original.__traceback__
        and part.__cause__ is original.__cause__
        and part.__context__ is original.__context__
    )


class EventAggregateError(MediatorError):
    """Base class of ``EventAggregate`` errors (python-mediator's name)."""


class ConfigEventAggregateError(AssertionError, EventAggregateError):
    """``EventAggregate.commit()`` was called before ``use(publisher)``."""

    def __init__(self, aggregate: object) -> None:
        super().__init__()
        self.aggregate = aggregate
        self._say(
            f"{type(aggregate).__name__}.commit() has no publisher.",
            "call use(bus) first, for example `aggregate.use(event_bus)`",
        )


def _method_of(fn: object) -> tuple[str, str]:
    """``("Class", "method")`` from the qualified name of a function defined in a class."""
    qualname = getattr(fn, "__qualname__", None)
    parts = qualname.split(".") if isinstance(qualname, str) else []
    if len(parts) < 2:
        return "Class", parts[-1] if parts else "handle"
    return parts[-2], parts[-1]


def _show(annotation: object) -> str:
    return type_name(annotation)  # a safe repr for anything that is not a class
