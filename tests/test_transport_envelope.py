"""The envelope's ids and headers, and that the transports stay out of ``import mediator``."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid

from mediator.transports import new_id


def test_ids_are_uuid7_unique_and_in_creation_order() -> None:
    ids = [new_id() for _ in range(20_000)]  # many within one millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)


def test_ids_from_threads_never_collide() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [one for into in made for one in into]
    assert len(set(every)) == len(every)
    assert all(into == sorted(into) for into in made)


def test_import_mediator_does_not_import_the_transports() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, mediator; print('mediator.transports' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"


def test_headers_read_from_the_outbox_stay_json_text_until_read() -> None:
    from mediator.transports._envelope import JsonHeaders, headers_json

    text = '{"correlation_id":"c-1","x":"\\u00e9"}'
    headers = JsonHeaders(text)
    assert headers_json(headers) is text  # passed on as stored: no parse, no encoding
    assert bool(headers) and not JsonHeaders("{}") and not JsonHeaders("{ }")
    assert headers == {"correlation_id": "c-1", "x": "é"} == dict(headers)
    assert (len(headers), headers["x"], headers.get("y"), repr(headers)) == (
        2,
        "é",
        None,
        "{'correlation_id': 'c-1', 'x': 'é'}",
    )
    assert headers_json({"a\n": "\u2028", "b": ""}) == '{"a\\n":"\\u2028","b":""}'
