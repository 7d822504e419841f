"""``python -m mediator graph``: the handler map as a table or a Mermaid chart, and --check.

A few tests run the real command in a subprocess (on the modules of example/,
from the repository's root, and on a module written into a temporary
directory); the others call `mediator._cli.main` in this process, which
runs the same code without the cost of starting Python each time.
"""

# The charts show `<locals>` as `\u2039locals\u203a`, on purpose (Mermaid would take a tag).
# ruff: noqa: RUF001

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediator._cli import label, main

ROOT = Path(__file__).resolve().parent.parent


def graph(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediator", "graph", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def line_of(path: Path, text: str) -> int:
    """The line number of the first line of ``path`` that contains ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


# -- through a subprocess -------------------------------------------------------------------


def test_the_table_of_an_example_module() -> None:
    done = graph("example.request_advanced:registry")  # example/ is a namespace package

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    source = ROOT / "example" / "request_advanced.py"
    execute = line_of(source, "async def execute")
    query = line_of(source, "async def data_query_handler") - 1  # its decorator's line
    assert done.stdout == textwrap.dedent(
        f"""\
        example.request_advanced:registry (RequestHandlerRegistry, 2 routes)

        message type                           kind     handler                                               location                        modifiers
        ------------                           ----     -------                                               --------                        ---------
        example.request_advanced.PrintCommand  request  example.request_advanced.PrintCommandHandler.execute  example/request_advanced.py:{execute}  -
        example.request_advanced.DataQuery     request  example.request_advanced.data_query_handler           example/request_advanced.py:{query}  -
        """
    )


def test_the_mermaid_chart_of_an_example_file() -> None:
    done = graph("example/event_advanced.py:registry", "--mermaid")

    assert done.returncode == 0, done.stderr
    assert done.stdout == textwrap.dedent(
        """\
        flowchart LR
          subgraph g0 ["example/event_advanced.py:registry (EventHandlerRegistry, 2 routes)"]
            g0m0(["MessageEvent"])
            g0h0("MessageEventHandler.handle")
            g0m0 -.-> g0h0
            g0h1("message_event_handler")
            g0m0 -.-> g0h1
          end
          classDef event fill:#fdf1dc,stroke:#b7700b,color:#4a2c00
          classDef handler fill:#f4f4f5,stroke:#52525b,color:#18181b
          class g0m0 event
          class g0h0,g0h1 handler
        """
    )


def test_an_import_error_is_one_line_with_the_module_path() -> None:
    done = graph("example.nope:bus")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "error: cannot import 'example.nope': No module named 'example.nope'\n"


def test_check_from_the_current_directory_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(PROBLEMS)

    done = graph("service:bus", "--check", cwd=tmp_path)  # cwd is importable

    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert out.startswith("service:bus (LocalRequestBus, 3 routes): 5 problems\n  1. ")
    assert out.endswith("\n5 problems found.\n")


def test_graph_help_documents_targets_outputs_checks_and_exit_statuses() -> None:
    done = graph("--help")

    assert done.returncode == 0
    text = done.stdout
    assert text.startswith("usage: python -m mediator graph [-h] [--mermaid | --check] TARGET")
    for promise in (
        "MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE",
        "a function called without arguments",
        "or a tuple or list of them",
        "The current directory is importable",
        "never\nchanged",
        "--mermaid   a Mermaid flowchart",
        "GitHub renders it",
        "message annotations that name no class",
        "bus.expect(...)",
        "ambiguous dispatch",
        "Exit status: 0 fine, 1 --check found problems, 2 the target cannot be loaded",
    ):
        assert promise in text


# -- in this process ----------------------------------------------------------------------

PROBLEMS = """\
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from mediator import LocalRequestBus

bus = LocalRequestBus()


@dataclass
class Command:
    pass


@dataclass
class Audited:
    pass


@dataclass
class Archive(Command, Audited):  # two equally close bases with a handler each
    pass


@bus.register
async def run_command(command: Command, user: str) -> None: ...


@bus.register
async def audit(command: Audited) -> None: ...


@bus.register
async def place(command: PlaceOrdr) -> None: ...


@bus.register
async def cancel(command: CancelOrdr) -> None: ...


@dataclass
class PlaceOrder:
    pass


@dataclass
class CancelOrder:
    pass


def engine(dsn: str) -> object:
    return dsn


bus.provide("engine", engine)


@bus.register
async def save(command: CancelOrder, engine: object, tenant: str) -> None: ...


bus.expect("user")
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory for modules written by the test; imports are undone after it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["graph", *args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_check_lists_every_problem_and_leaves_the_bus_as_it_was(app: Path) -> None:
    write(app, "shop", PROBLEMS)

    status, out, err = run("shop:bus", "--check")

    assert (status, err) == (1, "")
    assert re.findall(r"^  (\d)\. (\S+)", out, re.MULTILINE) == [
        ("1", "Cannot"),
        ("2", "Cannot"),
        ("3", "shop.save"),
        ("4", "shop.save"),
        ("5", "No"),
    ]
    source = app / "shop.py"
    place, save, run_command, audit = (
        line_of(source, f"async def {name}(") - 1
        for name in ("place", "save", "run_command", "audit")
    )
    assert f"shop.place (shop.py:{place}): its message parameter 'command' is annotated " in out
    assert "'PlaceOrdr', which is not defined in module shop" in out
    assert "Tip: Did you mean `PlaceOrder`?" in out
    assert "'CancelOrdr'" in out
    assert f"shop.save (shop.py:{save}) needs the argument 'tenant'" in out
    assert "the provider 'engine' needs the argument 'dsn' (save -> engine -> ?dsn)" in out
    assert (
        f"No handler for shop.Archive: it has no handler of its own, and its base classes "
        f"shop.Command (handled by shop.run_command (shop.py:{run_command})) and shop.Audited "
        f"(handled by shop.audit (shop.py:{audit})) are equally close to it."
    ) in out
    assert out.startswith("shop:bus (LocalRequestBus, 3 routes): 5 problems\n")
    assert out.endswith("\n5 problems found.\n")
    # Each problem's lines after the first are indented under it.
    assert "\n     Tip: Did you mean `PlaceOrder`?\n" in out

    bus = sys.modules["shop"].bus
    assert len(bus._pending) == 2  # resolved in the copy only
    assert not bus._frozen


def test_check_passes_for_a_sound_bus_and_resolves_late_annotations_in_the_copy(
    app: Path,
) -> None:
    write(
        app,
        "sound",
        """\
        from __future__ import annotations

        from dataclasses import dataclass

        from mediator import LocalEventBus, LocalRequestBus

        requests = LocalRequestBus()
        events = LocalEventBus()


        @requests.register
        async def get_user(query: GetUser, tenant: str) -> str:  # GetUser comes below
            return tenant


        @events.register
        async def on_base(event: Base) -> None: ...


        @events.register
        async def on_other(event: Other) -> None: ...


        @dataclass
        class GetUser:
            user_id: int


        class Base: ...


        class Other: ...


        class Both(Base, Other): ...  # an event reaches both: no ambiguity for events


        requests.expect("tenant")


        def buses():
            return requests, events
        """,
    )

    status, out, err = run("sound:buses", "--check")

    assert (status, err) == (0, "")
    assert out == (
        "sound:buses()[0] (LocalRequestBus, 1 route): no problems\n"
        "\n"
        "sound:buses()[1] (LocalEventBus, 2 routes): no problems\n"
        "\n"
        "No problems found.\n"
    )
    assert len(sys.modules["sound"].requests._pending) == 1


def test_check_finds_ambiguous_stream_requests_and_deeper_subclasses(app: Path) -> None:
    write(
        app,
        "streams",
        """\
        from mediator import RequestHandlerRegistry

        registry = RequestHandlerRegistry()


        class A: ...


        class B: ...


        class AB(A, B): ...


        class Deeper(AB): ...


        class Own(A, B): ...


        @registry.register
        async def count_a(query: A):
            yield 1


        @registry.register
        async def count_b(query: B):
            yield 2


        @registry.register
        async def count_own(query: Own):
            yield 3


        @registry.register
        async def plain_a(query: A) -> int:  # a plain handler: no tie for execute()
            return 0
        """,
    )

    status, out, _ = run("streams:registry", "--check")

    assert status == 1
    assert "No stream handler for streams.AB: " not in out  # the tie is what is reported
    assert out.count("No handler for streams.AB: it has no handler of its own") == 1
    assert out.count("No handler for streams.Deeper: it has no handler of its own") == 1
    assert "streams.Own" not in out
    assert "2 problems found." in out


def test_the_table_shows_kinds_modifiers_unions_and_unresolved_handlers(app: Path) -> None:
    write(
        app,
        "tabled",
        """\
        from __future__ import annotations

        from dataclasses import dataclass

        from mediator import LocalRequestBus, RequestHandlerRegistry, around


        async def log_calls(message, kwargs, call_next):
            return await call_next(message, kwargs)


        @around
        async def span(message, kwargs, call_next):
            yield await call_next(message, kwargs)


        class Limit:
            async def __call__(self, message, kwargs, call_next):
                return await call_next(message, kwargs)


        bus = LocalRequestBus(modifiers=[log_calls])


        @dataclass
        class Count:
            n: int


        @dataclass
        class Get:
            pass


        @dataclass
        class Find:
            pass


        @bus.register(modifiers=[span, Limit()])
        async def count(query: Count):
            yield query.n


        @bus.register
        async def get_or_find(query: Get | Find) -> None: ...


        @bus.register
        async def missing(query: Nowhere) -> None: ...


        empty = RequestHandlerRegistry()
        """,
    )

    status, out, err = run("tabled:bus")

    assert (status, err) == (0, "")
    rows = out.splitlines()
    count, get_or_find, missing = (
        line_of(app / "tabled.py", f"async def {name}(") - 1
        for name in ("count", "get_or_find", "missing")
    )
    assert rows[0] == "tabled:bus (LocalRequestBus, 3 routes)"
    assert rows[2].split() == ["message", "type", "kind", "handler", "location", "modifiers"]
    assert [row.split(maxsplit=4) for row in rows[4:7]] == [
        [
            "tabled.Count",
            "stream",
            "tabled.count",
            f"tabled.py:{count}",
            "tabled.log_calls, around(tabled.span), tabled.Limit",
        ],
        [
            "tabled.Get",
            "request",
            "tabled.get_or_find",
            f"tabled.py:{get_or_find}",
            "tabled.log_calls",
        ],
        [
            "tabled.Find",
            "request",
            "tabled.get_or_find",
            f"tabled.py:{get_or_find}",
            "tabled.log_calls",
        ],
    ]
    assert rows[7].split(maxsplit=4) == [
        "<unresolved",
        "'Nowhere'>",
        "request",
        "tabled.missing",
        f"tabled.py:{missing}  tabled.log_calls",
    ]
    assert rows[9] == (
        "1 handler(s) not routed: their message annotation names no class (--check says why)"
    )

    status, out, _ = run("tabled:empty")
    assert (status, out) == (
        0,
        "tabled:empty (RequestHandlerRegistry, 0 routes)\n\n(no handlers)\n",
    )


def test_the_mermaid_chart_has_unique_ids_shapes_and_safe_labels(app: Path) -> None:
    write(
        app,
        "charted",
        """\
        from mediator import LocalEventBus, LocalRequestBus


        class Placed: ...


        class Count: ...


        class Limit:
            def __repr__(self):
                return 'limit("two" | <at once>)'

            async def __call__(self, message, kwargs, call_next):
                return await call_next(message, kwargs)


        def buses():
            requests = LocalRequestBus()
            events = LocalEventBus()

            @requests.register(modifiers=[Limit()])
            async def count(query: Count):
                yield 1

            @events.register
            async def first(event: Placed) -> None: ...

            @events.register
            async def everything(event: object) -> None: ...

            @events.register
            async def missing(event: "Nowhere") -> None: ...

            return [requests, events]
        """,
    )

    status, out, _ = run("charted:buses", "--mermaid")

    assert status == 0
    assert out == textwrap.dedent(
        """\
        flowchart LR
          subgraph g0 ["charted:buses()[0] (LocalRequestBus, 1 route)"]
            g0m0["Count"]
            g0h0("buses.‹locals›.count")
            g0m0 -->|"stream: limit('two' | ‹at once›)"| g0h0
          end
          subgraph g1 ["charted:buses()[1] (LocalEventBus, 2 routes)"]
            g1m0(["Placed"])
            g1h0("buses.‹locals›.first")
            g1m0 -.-> g1h0
            g1m1(["object"])
            g1h1("buses.‹locals›.everything")
            g1m1 -.-> g1h1
            g1u0["‹unresolved 'Nowhere'›"]
            g1h2("buses.‹locals›.missing")
            g1u0 -.-> g1h2
          end
          classDef stream fill:#e6f6f0,stroke:#24835f,color:#0a3323
          classDef event fill:#fdf1dc,stroke:#b7700b,color:#4a2c00
          classDef handler fill:#f4f4f5,stroke:#52525b,color:#18181b
          classDef unresolved fill:#fde8e8,stroke:#c0392b,color:#5c0f0a
          class g0m0 stream
          class g0h0,g1h0,g1h1,g1h2 handler
          class g1m0,g1m1 event
          class g1u0 unresolved
        """
    )


def test_mermaid_labels_hold_no_quote_tag_or_entity() -> None:
    assert label('a "b" `c` <locals> #35; #1 x\ny') == "a 'b' 'c' ‹locals› # 35; #1 x y"


def test_a_union_handler_is_one_node_with_an_arrow_per_type(app: Path) -> None:
    write(
        app,
        "unions",
        """\
        from mediator import LocalRequestBus

        bus = LocalRequestBus()


        class A: ...


        class B: ...


        @bus.register
        async def either(query: A | B) -> None: ...
        """,
    )

    _, out, _ = run("unions:bus", "--mermaid")

    assert out.count('("either")') == 1
    assert "    g0m0 --> g0h0\n" in out
    assert "    g0m1 --> g0h0\n" in out


def test_a_file_target_named_like_an_imported_module_does_not_replace_it(app: Path) -> None:
    write(
        app,
        "json",
        """\
        from mediator import EventHandlerRegistry

        registry = EventHandlerRegistry()
        """,
    )
    import json

    status, out, _ = run("json.py:registry")

    assert status == 0
    assert out.startswith("json.py:registry (EventHandlerRegistry, 0 routes)\n")
    assert sys.modules["json"] is json


@pytest.mark.parametrize(
    ("source", "target", "error"),
    [
        (
            "from mediator import LocalEventBus\nevents = LocalEventBus()\n",
            "mod:bus",
            "module 'mod' has no attribute 'bus' (its buses and registries: events)",
        ),
        (
            "x = 1\n",
            "mod:bus",
            "module 'mod' has no attribute 'bus' (and no bus or registry at module level)",
        ),
        ("class Box: ...\n", "mod:Box.bus", "'mod:Box' has no attribute 'bus'"),
        (
            "bus = 42\n",
            "mod:bus",
            "mod:bus is an int (42), not a bus, a registry, or a function "
            "without arguments returning them",
        ),
        (
            "class Bus: ...\n",
            "mod:Bus",
            "'mod:Bus' is the class mod.Bus, not a bus, a registry, "
            "or a function without arguments returning them",
        ),
        (
            "async def make(): ...\n",
            "mod:make",
            "'mod:make' is an async function, not a bus, a "
            "registry, or a function without arguments returning them",
        ),
        (
            "def make(settings): ...\n",
            "mod:make",
            "'mod:make' cannot be called without arguments (missing a required argument: "
            "'settings')",
        ),
        (
            "def make():\n    raise RuntimeError('no settings')\n",
            "mod:make",
            "calling 'mod:make' failed: RuntimeError: no settings (at mod.py:2)",
        ),
        (
            "def make():\n    return ()\n",
            "mod:make",
            "mod:make() is an empty tuple, not a bus, a "
            "registry, or a function without arguments returning them",
        ),
        (
            "from mediator import LocalEventBus\ndef make():\n    return [LocalEventBus(), 'x']\n",
            "mod:make",
            "mod:make()[1] is a str ('x'), not a bus or registry (a LocalRequestBus, "
            "LocalEventBus or one of their registries)",
        ),
        (
            "import not_installed_anywhere\n",
            "mod:bus",
            "cannot import 'mod': No module named 'not_installed_anywhere'",
        ),
        ("x = (\n", "mod:bus", "cannot import 'mod': '(' was never closed (mod.py, line 1)"),
        (
            "undefined_name\n",
            "mod:bus",
            "cannot import 'mod': NameError: name 'undefined_name' is not defined (at mod.py:1)",
        ),
        (
            "",
            "mod",
            "expected MODULE:ATTRIBUTE or PATH.py:ATTRIBUTE (such as app.buses:bus), got 'mod'",
        ),
        ("", "missing/file.py:bus", "cannot import 'missing/file.py': no such file"),
        (
            "import sys\nsys.exit(3)\n",
            "mod:bus",
            "cannot import 'mod': it called sys.exit(3) while being imported: put the code that "
            'runs the program under `if __name__ == "__main__":`',
        ),
    ],
)
def test_a_target_that_cannot_be_loaded_is_one_error_line(
    app: Path, source: str, target: str, error: str
) -> None:
    write(app, "mod", source)

    status, out, err = run(target)

    assert (status, out) == (2, "")
    assert err == f"error: {error}\n"


def test_a_registration_error_at_import_is_reported_as_the_library_says_it(app: Path) -> None:
    write(
        app,
        "broken",
        """\
        from mediator import LocalRequestBus

        bus = LocalRequestBus()


        @bus.register
        async def untyped(query) -> None: ...
        """,
    )

    status, _, err = run("broken:bus")

    assert status == 2
    assert err.startswith("error: cannot import 'broken': Cannot register broken.untyped (")
    assert "\nTip: " in err


def test_the_command_line_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: python -m mediator [-h] COMMAND ...")
    assert "graph     print the handler map of a bus or registry, or check it" in shown

    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "error: the following arguments are required: COMMAND" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exited:
        main(["graph", "app:bus", "--mermaid", "--check"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
