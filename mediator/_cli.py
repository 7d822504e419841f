"""``python -m mediator``: command-line tools for an application's buses.

One subcommand per tool, each a `Command`: its function adds its parser to
the subparsers and sets ``run``, which returns the exit status.  ``graph``
prints the handler map of a bus or registry, or checks it; ``worker`` runs a
`mediator.transports.Worker` (its code, in `mediator.transports._command`, is
imported only when it runs: nothing else here imports `mediator.transports`).

Exit statuses: 0 fine, 1 problems found (``graph --check``) or the worker
failed, 2 the command line or its target is wrong (as argparse's usage
errors); ``worker`` stopped at once by a second signal: 128 + its number.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from ._errors import AmbiguousHandlerError, MediatorError
from ._handler import Handler, HandlerEntry
from ._inspect import resolve
from ._names import callable_name, type_name
from ._providers import argument_problems
from ._registry import EventHandlerRegistry, HandlerRegistry, RequestHandlerRegistry
from ._routes import Route, RouteKind, routes_in
from ._routing import nearest

if TYPE_CHECKING:
    from ._chain import Modifier

__all__ = ["main"]

PROG = "python -m mediator"

OK, PROBLEMS, USAGE = 0, 1, 2

#: Adds a subcommand to ``python -m mediator``.
Command = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
#: What a subcommand's parser sets as ``run``: given the arguments, stdout and stderr.
Run = Callable[[argparse.Namespace, TextIO, TextIO], int]


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``python -m mediator`` with ``argv`` (default: the process's); return the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Run = args.run
    try:
        return run(args, out, err)
    except TargetError as error:
        err.write(f"error: {error}\n")
        return USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tools for an application built on mediator (mediator-bus).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True
    for add in COMMANDS:
        add(commands)
    return parser


class TargetError(Exception):
    """The target named on the command line cannot be loaded: one line, exit status 2."""


# -- graph -------------------------------------------------------------------------------

_GRAPH_HELP = """\
TARGET names the object to map, as MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE:

  app.buses:bus                a bus or registry (a LocalRequestBus, LocalEventBus,
                               RequestHandlerRegistry or EventHandlerRegistry)
  app.buses:make_buses         a function called without arguments that returns one,
                               or a tuple or list of them
  src/app/buses.py:bus         the same, from a file (its folder goes first on sys.path)

The current directory is importable, as with `python -m`.  The target is read, never
changed: the map comes from a copy (a new registry that includes it).

Output:
  (default)   a table per bus or registry: message type, kind (request, stream or
              event), handler, location (file:line) and modifiers, outermost first;
              in dispatch order: types in the order they were first registered, event
              handlers of a type in the order they run.  A handler whose annotation
              names no class yet is listed as <unresolved 'Name'>.
  --mermaid   a Mermaid flowchart, message types to handlers: requests as rectangles,
              events as rounded boxes with dotted arrows, streams labelled "stream",
              modifiers on the arrows.  Paste it into a ```mermaid block of a Markdown
              file: GitHub renders it.
  --check     what bus.freeze() checks, all problems at once instead of the first:
                - message annotations that name no class (unresolved);
                - required parameters of handlers and providers that no provider
                  supplies and no call-time argument declared with bus.expect(...)
                  covers (checked only when the bus declares some with expect());
                - request classes without a handler of their own whose nearest base
                  classes with one are equally close (ambiguous dispatch), among the
                  subclasses of the registered types that exist once TARGET is imported.
              Prints each problem and their count.

Exit status: 0 fine, 1 --check found problems, 2 the target cannot be loaded (an
import error, a missing attribute, an object that is not a bus or registry).

Examples:
  python -m mediator graph app.buses:bus
  python -m mediator graph app.buses:bus --mermaid > docs/handlers.mmd
  python -m mediator graph app/buses.py:make_buses --check
"""


def _add_graph(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "graph",
        help="print the handler map of a bus or registry, or check it",
        description="Print the handler map of a bus or registry (bus.routes()), or check it.",
        epilog=_GRAPH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE")
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--mermaid", action="store_true", help="print a Mermaid flowchart instead of a table"
    )
    output.add_argument(
        "--check",
        action="store_true",
        help="report every problem freeze() would find; exit status 1 if there is one",
    )
    parser.set_defaults(run=_graph)


def _graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    maps = [Map.of(title, target) for title, target in load_targets(args.target)]
    if args.check:
        return _check(maps, out)
    text = mermaid(maps) if args.mermaid else table(maps)
    out.write(text)
    return OK


# -- worker ------------------------------------------------------------------------------

_WORKER_HELP = """\
TARGET names the worker to run, as MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE:

  app.consumer:worker          a Worker (mediator.transports.Worker)
  app.consumer:make_worker     a function called without arguments that returns one,
                               called before the event loop starts
  app.consumer:connect         an async function called without arguments that returns
                               one, awaited in the event loop (where engines connect)
  src/app/consumer.py:worker   the same, from a file (its folder goes first on sys.path)

The current directory is importable, as with `python -m`.

Output (stdout):
  a start-up line: the engine, streams, group, consumer and backend;
  every --progress seconds: deliveries (and their rate since the previous line),
  acks, failures, dead letters, events in flight, the group's pending entries (the
  sum of engine.pending_count over the streams; "?" when the engine cannot say)
  and its lag when the engine knows it;
  a summary when it stops.
  The log (claims, retries, dead letters of the "mediator.transports" logger) goes
  to stderr at --log-level, unless the application configured logging itself.

Signals: SIGINT (Ctrl-C) or SIGTERM stops the worker: it reads no more entries,
gives the events in flight its grace (Worker(grace=...), 10 s by default) to
finish, acks those that did and exits.  A second signal exits at once: the events
still in flight stay pending and are delivered again (to this consumer when it
restarts, or to another one after claim_after).

Exit status: 0 stopped by a signal, 1 the worker failed (its error is printed),
2 the target cannot be loaded (an import error, a missing attribute, an object
that is not a Worker or a function returning one), 130 (SIGINT) or 143 (SIGTERM):
stopped at once by a second signal (128 + the signal's number).

Examples:
  python -m mediator worker app.consumer:worker
  python -m mediator worker app/consumer.py:connect --progress 60 --log-level WARNING
  python -m mediator worker app.consumer:make_worker --backend trio --progress 0
"""

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _add_worker(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "worker",
        help="run a mediator.transports Worker until Ctrl-C or SIGTERM",
        description=(
            "Run a mediator.transports Worker: publish the events of its streams to its "
            "bus until SIGINT or SIGTERM, then let the events in flight finish."
        ),
        epilog=_WORKER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop (default: asyncio)",
    )
    parser.add_argument(
        "--progress",
        type=progress_seconds,
        default=10.0,
        metavar="SECONDS",
        help="seconds between two progress lines; 0: none (default: 10)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LOG_LEVELS,
        default=None,
        metavar="LEVEL",
        help=f"{', '.join(_LOG_LEVELS)} (default: INFO; case does not matter)",
    )
    parser.set_defaults(run=_worker)


def progress_seconds(text: str) -> float:
    """``--progress``: a number of seconds, 0 or more (0 turns the progress lines off)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds, 0 or more (0: no progress lines), got {text!r}"
        )
    return seconds


def _worker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .transports._command import run  # here: `mediator.transports` only when it runs

    return run(args, out, err)


COMMANDS: tuple[Command, ...] = (_add_graph, _add_worker)


# -- loading the target ------------------------------------------------------------------


def load_targets(spec: str) -> list[tuple[str, HandlerRegistry]]:
    """The buses and registries ``spec`` names, each with the title of its map."""
    return _registries(spec, load_object(spec))


def load_object(spec: str, *, hint: Callable[[ModuleType], str] | None = None) -> object:
    """What ``spec`` (``module:attr.path`` or ``path.py:attr``) names, as it is.

    ``hint`` says what the module holds when the attribute is missing (by
    default, its buses and registries).
    """
    where, colon, attribute = spec.rpartition(":")
    if not colon or not where or not attribute:
        raise TargetError(
            f"expected MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE (such as app.buses:bus), got {spec!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:  # what `python -m` does, and a console script does not
        sys.path.insert(0, cwd)
    module = _import_file(where) if _is_path(where) else _import(where)
    found: Any = module
    parts = attribute.split(".")
    for step, name in enumerate(parts):
        try:
            found = getattr(found, name)
        except AttributeError:
            owner = repr(f"{where}:{'.'.join(parts[:step])}") if step else f"module {where!r}"
            tip = "" if step else (hint or _candidates)(module)
            raise TargetError(f"{owner} has no attribute {name!r}{tip}") from None
    return found


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as error:
        raise TargetError(f"cannot import {name!r}: {_explain(error)}") from None
    except SystemExit as error:  # a script's `sys.exit()` at import time
        raise TargetError(f"cannot import {name!r}: {_exited(error)}") from None


def _import_file(where: str) -> ModuleType:
    path = Path(where)
    if not path.is_file():
        raise TargetError(f"cannot import {where!r}: no such file")
    path = path.resolve()
    name = path.stem
    known = sys.modules.get(name)
    if known is not None:
        if getattr(known, "__file__", None) == str(path):
            return known
        name = f"{name}__from_file"
    folder = str(path.parent)
    if folder not in sys.path:  # as `python path/to/file.py` does
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {where!r}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and string annotations look the module up
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise TargetError(f"cannot import {where!r}: {_explain(error)}") from None
    except SystemExit as error:
        del sys.modules[name]
        raise TargetError(f"cannot import {where!r}: {_exited(error)}") from None
    return module


def _exited(error: SystemExit) -> str:
    return (
        f"it called sys.exit({error.code!r}) while being imported: put the code that runs "
        f'the program under `if __name__ == "__main__":`'
    )


def _explain(error: BaseException) -> str:
    """The error in one line (or its own lines, for ours), with where it was raised."""
    if isinstance(error, ImportError | SyntaxError | MediatorError):
        return str(error)  # names the module, the file and line, or the handler
    frames = traceback.extract_tb(error.__traceback__)
    at = f" (at {_relative(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{at}"


def _relative(path: str) -> str:
    """``path`` relative to the working directory when below it, as handler locations are."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith(os.pardir) else relative


def module_level(module: ModuleType, kind: type, plural: str, *, none: str) -> str:
    """For a missing attribute: the module's objects of ``kind``, or ``none`` of them."""
    names = [
        name
        for name, value in vars(module).items()
        if isinstance(value, kind) and not name.startswith("__")
    ]
    if not names:
        return f" (and no {none} at module level)"
    return f" (its {plural}: {', '.join(names)})"


def _candidates(module: ModuleType) -> str:
    return module_level(module, HandlerRegistry, "buses and registries", none="bus or registry")


def _registries(spec: str, found: object) -> list[tuple[str, HandlerRegistry]]:
    what = "a bus, a registry, or a function without arguments returning them"
    title = spec
    if isinstance(found, type):
        raise TargetError(f"{spec!r} is the class {type_name(found)}, not {what}")
    if not isinstance(found, HandlerRegistry) and callable(found):
        if inspect.iscoroutinefunction(found):
            raise TargetError(f"{spec!r} is an async function, not {what}")
        try:
            inspect.signature(found).bind()
        except TypeError as error:
            raise TargetError(f"{spec!r} cannot be called without arguments ({error})") from None
        except ValueError:
            pass  # no signature to read: call it and see
        try:
            found = found()
        except Exception as error:
            raise TargetError(f"calling {spec!r} failed: {_explain(error)}") from None
        title = f"{spec}()"
    if isinstance(found, HandlerRegistry):
        return [(title, found)]
    if isinstance(found, tuple | list) and found:
        several: list[tuple[str, HandlerRegistry]] = []
        for index, item in enumerate(found):
            if not isinstance(item, HandlerRegistry):
                raise TargetError(
                    f"{title}[{index}] is {_a(item)}, not a bus or registry "
                    f"(a LocalRequestBus, LocalEventBus or one of their registries)"
                )
            several.append((f"{title}[{index}]", item))
        return several
    raise TargetError(f"{title} is {_a(found)}, not {what}")


def _a(value: object) -> str:
    if isinstance(value, tuple | list) and not value:
        return f"an empty {type(value).__name__}"
    name = type_name(type(value))
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name} ({_short(value)})"


def _short(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        text = object.__repr__(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


# -- the map ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Map:
    """One bus or registry, as copied for the map: its routes and what could not be routed."""

    title: str
    owner: str
    copy: HandlerRegistry
    routes: list[Route]
    #: Entries whose message annotation still names no class.
    unrouted: list[HandlerEntry]
    #: What resolving the late annotations raised.
    problems: list[MediatorError]

    @classmethod
    def of(cls, title: str, target: HandlerRegistry) -> Map:
        """Copy ``target`` (it stays as it is) and resolve what can be resolved in the copy."""
        copy = RequestHandlerRegistry() if target._unique else EventHandlerRegistry()
        try:
            copy.include(target)
        except MediatorError as error:
            raise TargetError(f"{title} cannot be copied: {error}") from None
        problems: list[MediatorError] = []
        for entry in list(copy._pending):
            try:
                resolve(entry.handler)
            except MediatorError as error:
                problems.append(error)
        try:
            copy._resolve_pending()
        except MediatorError as error:
            # The first unresolved annotation is in `problems` already; anything else
            # (a late annotation naming a type that already has its handler) is new.
            if all(str(error) != str(known) for known in problems):
                problems.append(error)
        return cls(
            title,
            type(target).__name__,
            copy,
            routes_in(copy),
            list(copy._pending),
            problems,
        )

    @property
    def kind(self) -> RouteKind:
        return "request" if self.copy._unique else "event"

    @property
    def heading(self) -> str:
        count = len(self.routes)
        return f"{self.title} ({self.owner}, {count} route{'s' if count != 1 else ''})"


# -- --check -----------------------------------------------------------------------------


def _check(maps: Sequence[Map], out: TextIO) -> int:
    total = 0
    for index, map_ in enumerate(maps):
        problems = [*map_.problems, *argument_problems(map_.copy), *ambiguities(map_.copy)]
        total += len(problems)
        if index:
            out.write("\n")
        if not problems:
            out.write(f"{map_.heading}: no problems\n")
            continue
        out.write(f"{map_.heading}: {_count(len(problems))}\n")
        for number, problem in enumerate(problems, 1):
            lead = f"  {number}. "
            lines = str(problem).splitlines() or [type(problem).__name__]
            out.write(f"{lead}{lines[0]}\n")
            out.write("".join(f"{' ' * len(lead)}{line}\n" for line in lines[1:]))
    out.write(f"\n{_count(total).capitalize() if total else 'No problems'} found.\n")
    return PROBLEMS if total else OK


def _count(n: int) -> str:
    return f"{n} problem{'s' if n != 1 else ''}"


def ambiguities(registry: HandlerRegistry) -> list[MediatorError]:
    """Request classes whose dispatch would be ambiguous: no handler, two equally close bases.

    Only the subclasses of registered types defined now can be known, which
    after importing the application is what it will dispatch.  ``object`` is
    never a root: a handler for it is the last resort, never half of a tie.
    """
    if not registry._unique:
        return []
    problems: list[MediatorError] = []
    for table, stream in ((registry._table, False), (registry._stream_table, True)):
        seen: set[type] = set()
        for root in list(table):
            if root is object:
                continue
            for cls in _subclasses(root):
                if cls in seen or cls in table:
                    continue
                seen.add(cls)
                found = nearest(cls, table)
                if len(found) > 1:
                    problems.append(
                        AmbiguousHandlerError(
                            cls,
                            bases=[base for base, _ in found],
                            candidates=[entry.handler for _, entry in found],
                            stream=stream,
                        )
                    )
    return problems


def _subclasses(root: type) -> Iterable[type]:
    """Every subclass of ``root``, breadth first, each once."""
    seen: set[type] = set()
    level = [root]
    while level:
        following: list[type] = []
        for cls in level:
            subclasses: list[type] = type.__subclasses__(cls)
            for sub in subclasses:
                if sub not in seen:
                    seen.add(sub)
                    following.append(sub)
        yield from following
        level = following


# -- the table -------------------------------------------------------------------------------

_COLUMNS = ("message type", "kind", "handler", "location", "modifiers")


def table(maps: Sequence[Map]) -> str:
    """The maps as plain-text tables, one per bus or registry, under a heading."""
    blocks: list[str] = []
    for map_ in maps:
        rows = [
            (
                type_name(route.message_type),
                route.kind,
                route.handler.name,
                route.handler.location or "-",
                _modifiers(route.modifiers),
            )
            for route in map_.routes
        ]
        rows.extend(
            (
                _unresolved(entry.handler),
                "stream" if entry.handler.kind == "stream" else map_.kind,
                entry.handler.name,
                entry.handler.location or "-",
                _modifiers(entry.modifiers),
            )
            for entry in map_.unrouted
        )
        lines = [map_.heading, ""]
        if rows:
            lines.extend(_columns([_COLUMNS, tuple("-" * len(c) for c in _COLUMNS), *rows]))
        else:
            lines.append("(no handlers)")
        if map_.unrouted:
            lines += [
                "",
                f"{len(map_.unrouted)} handler(s) not routed: their message annotation names "
                f"no class (--check says why)",
            ]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _unresolved(handler: Handler) -> str:
    missing = handler.unresolved.name if handler.unresolved is not None else None
    return f"<unresolved {missing or type_name(handler.annotation)!r}>"


def _modifiers(modifiers: Sequence[Modifier]) -> str:
    return ", ".join(modifier_name(modifier) for modifier in modifiers) or "-"


def modifier_name(modifier: object, *, short: bool = False) -> str:
    """A name for a modifier: its function's, its own ``repr``, or its class's.

    ``short``: without the module (``log_calls``, not ``app.middleware.log_calls``).
    """
    from ._chain import AroundMiddleware

    def name(fn: object) -> str:
        qualname = getattr(fn, "__qualname__", None)
        return qualname if short and isinstance(qualname, str) else callable_name(fn)

    if isinstance(modifier, AroundMiddleware):
        return f"around({name(modifier.function)})"
    if inspect.isroutine(modifier):
        return name(modifier)
    if type(modifier).__repr__ is not object.__repr__:
        return _short(modifier)
    return name(type(modifier))


# -- Mermaid -------------------------------------------------------------------------------

_STYLES = {
    "request": "classDef request fill:#e7effd,stroke:#3461c1,color:#0b1f4d",
    "stream": "classDef stream fill:#e6f6f0,stroke:#24835f,color:#0a3323",
    "event": "classDef event fill:#fdf1dc,stroke:#b7700b,color:#4a2c00",
    "handler": "classDef handler fill:#f4f4f5,stroke:#52525b,color:#18181b",
    "unresolved": "classDef unresolved fill:#fde8e8,stroke:#c0392b,color:#5c0f0a",
}

#: What a quoted label cannot hold as it is, and what stands for it.  Not Mermaid's
#: ``#code;`` entities: some Mermaid versions print them as they are.
_UNSAFE = str.maketrans({'"': "'", "`": "'", "<": "\u2039", ">": "\u203a", "\n": " ", "\r": " "})
_ENTITY = re.compile(r"#(?=\w+;)")


def mermaid(maps: Sequence[Map]) -> str:
    """The maps as one Mermaid flowchart, a subgraph per bus or registry."""
    chart = _Chart()
    for index, map_ in enumerate(maps):
        chart.add(map_, f"g{index}")
    return chart.text()


class _Chart:
    """A flowchart being written: node ids are ``g<map>m<type>``, ``g<map>h<handler>``..."""

    def __init__(self) -> None:
        self.lines = ["flowchart LR"]
        self.classes: dict[str, list[str]] = {}

    def add(self, map_: Map, prefix: str) -> None:
        self.lines.append(f'  subgraph {prefix} ["{label(map_.heading)}"]')
        types: dict[type, str] = {}
        handlers: dict[tuple[str, str | None], str] = {}
        names = _type_labels(route.message_type for route in map_.routes)

        def handler_node(handler: Handler) -> str:
            key = (handler.name, handler.location)
            if key not in handlers:
                handlers[key] = self.node(
                    f"{prefix}h{len(handlers)}", '("{}")', _short_name(handler), "handler"
                )
            return handlers[key]

        for route in map_.routes:
            tp = types.get(route.message_type)
            if tp is None:
                shape = '(["{}"])' if route.kind == "event" else '["{}"]'
                tp = types[route.message_type] = self.node(
                    f"{prefix}m{len(types)}", shape, names[route.message_type], route.kind
                )
            self.arrow(tp, route.kind, route.modifiers, handler_node(route.handler))
        for number, entry in enumerate(map_.unrouted):
            node = self.node(
                f"{prefix}u{number}", '["{}"]', _unresolved(entry.handler), "unresolved"
            )
            kind = "stream" if entry.handler.kind == "stream" else map_.kind
            self.arrow(node, kind, entry.modifiers, handler_node(entry.handler))
        if not map_.routes and not map_.unrouted:
            self.lines.append(f'    {prefix}empty["(no handlers)"]')
        self.lines.append("  end")

    def node(self, node: str, shape: str, text: str, style: str) -> str:
        self.lines.append(f"    {node}{shape.format(label(text))}")
        self.classes.setdefault(style, []).append(node)
        return node

    def arrow(self, source: str, kind: RouteKind, modifiers: Sequence[Modifier], to: str) -> None:
        text = ", ".join(modifier_name(m, short=True) for m in modifiers)
        if kind == "stream":
            text = f"stream: {text}" if text else "stream"
        on_arrow = f'|"{label(text)}"|' if text else ""
        self.lines.append(f"    {source} {'-.->' if kind == 'event' else '-->'}{on_arrow} {to}")

    def text(self) -> str:
        lines = list(self.lines)
        lines.extend(f"  {style}" for name, style in _STYLES.items() if name in self.classes)
        lines.extend(f"  class {','.join(nodes)} {name}" for name, nodes in self.classes.items())
        return "\n".join(lines) + "\n"


def label(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label: ``<locals>`` becomes ``\u2039locals\u203a``."""
    return _ENTITY.sub("# ", text.translate(_UNSAFE))


def _type_labels(types: Iterable[type]) -> dict[type, str]:
    """The qualified name of each class, or ``module.QualName`` where two would look alike."""
    unique = list(dict.fromkeys(types))
    short = [tp.__qualname__ for tp in unique]
    return {
        tp: name if short.count(name) == 1 else type_name(tp)
        for tp, name in zip(unique, short, strict=True)
    }


def _short_name(handler: Handler) -> str:
    """The handler's qualified name without its module (the map shows where it is)."""
    module = getattr(handler.fn, "__module__", None)
    if isinstance(module, str) and handler.name.startswith(f"{module}."):
        return handler.name[len(module) + 1 :]
    return handler.name
