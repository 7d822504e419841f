"""The orders example (example/orders): its scenario, the service's guarantees, its HTTP API."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from example.orders import OrdersService, create_service
from example.orders.__main__ import main
from example.orders.messages import (
    CancelOrder,
    GetOrder,
    ListNotifications,
    ListOrders,
    Order,
    OrderNotFound,
    OrderPlaced,
    PlaceOrder,
    User,
    ValidationError,
)
from example.orders.web import Bus, create_app
from mediator import EventAggregate, MissingArgumentError, PublishError
from mediator.errors import BusStateError
from mediator.testing import override, record

ROOT = Path(__file__).resolve().parent.parent
ADA, GRACE = User("ada"), User("grace")

SCENARIO = [
    "ada placed order #1: 2 widget",
    "grace placed order #2: 4 gizmo",
    "ada cannot order 0 widget: quantity: must be at least 1",
    "grace cannot cancel order #1: no order #1",
    "ada cancelled order #1",
    "ada's order #1: widget, cancelled",
    "grace's order #2: gizmo, placed",
    "to ada: order #1 confirmed: 2 widget",
    "to ada: order #1 cancelled",
    "to grace: order #2 confirmed: 4 gizmo",
    "to warehouse: restock gizmo: 1 left",
]


@pytest.fixture
def service(tmp_path: Path) -> OrdersService:
    return create_service(tmp_path / "orders.db")


def query(service: OrdersService, sql: str) -> list[tuple[Any, ...]]:
    """What is committed, read through a connection of the test's own."""
    connection = sqlite3.connect(service.database.path)
    try:
        return [tuple(row) for row in connection.execute(sql)]
    finally:
        connection.close()


# -- the scenario ---------------------------------------------------------------------------


async def test_the_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    await main()
    assert capsys.readouterr().out.splitlines() == SCENARIO


def test_python_m_example_orders_runs_without_fastapi() -> None:
    # -X importtime lists every module imported, on stderr: the core needs no FastAPI.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "example.orders"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == SCENARIO
    # The log middleware's records, one line each: the failures' tracebacks are left out.
    assert "INFO mediator.calls: PlaceOrder" in done.stderr
    assert "ERROR mediator.calls: CancelOrder" in done.stderr
    assert "Traceback" not in done.stderr
    assert "fastapi" not in done.stderr and "starlette" not in done.stderr


# -- the service ----------------------------------------------------------------------------


async def test_the_current_user_reaches_the_handlers(service: OrdersService) -> None:
    order = await service.requests.execute(PlaceOrder("widget", 2), user=ADA)
    assert order == Order(1, "ada", "widget", 2, "placed")
    assert await service.requests.execute(ListOrders(), user=ADA) == [order]
    assert await service.requests.execute(ListOrders(), user=GRACE) == []
    with pytest.raises(OrderNotFound) as caught:  # someone else's order is nobody's
        await service.requests.execute(GetOrder(order.id), user=GRACE)
    assert caught.value.order_id == 1
    assert str(caught.value) == "no order #1"


async def test_a_call_without_the_user_fails_before_the_handler(service: OrdersService) -> None:
    with pytest.raises(MissingArgumentError) as caught:
        await service.requests.execute(PlaceOrder("widget", 2))
    assert caught.value.parameters == ("user",)
    assert caught.value.handler.name == "example.orders.handlers.place_order"
    assert "needs the argument 'user'" in str(caught.value)
    assert query(service, "SELECT count(*) FROM orders") == [(0,)]


async def test_the_buses_are_frozen_at_start_up(service: OrdersService) -> None:
    def late(query: GetOrder) -> None: ...

    with pytest.raises(BusStateError) as caught:
        service.requests.register(late)
    assert caught.value.problem == "frozen"


async def test_a_refused_command_changes_nothing(service: OrdersService) -> None:
    with pytest.raises(ValidationError) as caught:
        await service.requests.execute(PlaceOrder("widget", 11), user=ADA)
    assert (caught.value.field, caught.value.reason) == ("quantity", "only 10 widget left")
    with pytest.raises(ValidationError, match=r"^product: we do not sell 'gadget'$"):
        await service.requests.execute(PlaceOrder("gadget", 1), user=ADA)
    order = await service.requests.execute(PlaceOrder("widget", 1), user=ADA)
    await service.requests.execute(CancelOrder(order.id), user=ADA)
    with pytest.raises(ValidationError, match=r"^order_id: order #1 is already cancelled$"):
        await service.requests.execute(CancelOrder(order.id), user=ADA)
    assert query(service, "SELECT available FROM stock WHERE product = 'widget'") == [(10,)]


async def test_a_handler_failure_rolls_back_what_it_wrote(service: OrdersService) -> None:
    class Unavailable(EventAggregate):
        def enqueue(self, obj: Any, **kwargs: Any) -> None:
            raise ConnectionError("event store unavailable")

    # A call's own keyword arguments win over providers: this `events` fails after the
    # handler has taken the stock and written the order.
    with pytest.raises(ConnectionError, match=r"^event store unavailable$"):
        await service.requests.execute(PlaceOrder("widget", 2), user=ADA, events=Unavailable())
    assert query(service, "SELECT count(*) FROM orders") == [(0,)]
    assert query(service, "SELECT available FROM stock WHERE product = 'widget'") == [(10,)]


async def test_events_are_published_only_after_the_command_succeeded(
    service: OrdersService,
) -> None:
    def place_then_crash(
        command: PlaceOrder, user: User, db: sqlite3.Connection, events: EventAggregate
    ) -> Order:
        events.enqueue(OrderPlaced(Order(1, user.name, command.product, 1, "placed")))
        raise RuntimeError("crashed after enqueueing")

    with record(service.events) as recorder:
        with override(service.requests, place_then_crash), pytest.raises(RuntimeError):
            await service.requests.execute(PlaceOrder("widget", 1), user=ADA)
        assert recorder.published() == []

        order = await service.requests.execute(PlaceOrder("widget", 1), user=ADA)
    assert recorder.published() == [OrderPlaced(order)]
    told = await service.requests.execute(ListNotifications(), user=ADA)
    assert told == ["order #1 confirmed: 1 widget"]


async def test_a_failing_event_handler_leaves_the_command_done(service: OrdersService) -> None:
    def mail_server_down(event: OrderPlaced) -> None:
        raise ConnectionError("mail server down")

    with override(service.events, mail_server_down), pytest.raises(PublishError) as caught:
        await service.requests.execute(PlaceOrder("widget", 2), user=ADA)
    (failure,) = caught.value.failures
    assert failure.handler.fn is mail_server_down
    assert str(failure.exception) == "mail server down"
    # Committed before the events went out, and not run again by retry.
    assert query(service, "SELECT id, status FROM orders") == [(1, "placed")]
    assert query(service, "SELECT available FROM stock WHERE product = 'widget'") == [(8,)]


async def test_event_handlers_see_the_committed_command(service: OrdersService) -> None:
    seen: list[tuple[Any, ...]] = []

    # Its own transaction (BEGIN IMMEDIATE, no waiting): it could not even start
    # while the command's transaction held the write lock.
    def spy(event: OrderPlaced, db: sqlite3.Connection) -> None:
        seen.append(tuple(db.execute("SELECT status FROM orders").fetchone()))

    with override(service.events, spy):
        await service.requests.execute(PlaceOrder("gizmo", 1), user=ADA)
    assert seen == [("placed",)]


async def test_a_locked_database_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    other_process = sqlite3.connect(path, isolation_level=None)
    waits: list[int] = []

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        other_process.rollback()  # the other writer is done by the next attempt
        return 0.0

    service = create_service(path, backoff=backoff)
    other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
    order = await service.requests.execute(PlaceOrder("widget", 3), user=ADA)
    other_process.close()
    assert waits == [1]
    assert order.id == 1
    assert query(service, "SELECT customer, quantity FROM orders") == [("ada", 3)]


async def test_a_database_locked_for_good_fails_after_the_last_attempt(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    waits: list[int] = []

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        return 0.0

    service = create_service(path, attempts=3, backoff=backoff)
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            await service.requests.execute(PlaceOrder("widget", 3), user=ADA)
    finally:
        other_process.close()
    assert str(caught.value) == "database is locked"
    made, gave_up = caught.value.__notes__
    assert made.startswith("raised by the provider 'db' (example.orders.database.")
    assert "3 attempts at example.orders.handlers.place_order" in gave_up
    assert waits == [1, 2]
    assert query(service, "SELECT count(*) FROM orders") == [(0,)]


# -- over HTTP ------------------------------------------------------------------------------


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tmp_path / "orders.db")

    # A route with a bug: it forgets the current user, which the handler needs.
    @app.get("/forgetful")
    async def forgetful(bus: Bus) -> list[Order]:
        return await bus.execute(ListOrders())

    transport = httpx.ASGITransport(app)  # it does not run the lifespan: the test does
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://orders") as client,
    ):
        yield client


async def test_http_orders(client: httpx.AsyncClient) -> None:
    ada = {"X-User": "ada"}
    placed = await client.post("/orders", json={"product": "widget", "quantity": 2}, headers=ada)
    assert placed.status_code == 201
    order = {"id": 1, "customer": "ada", "product": "widget", "quantity": 2, "status": "placed"}
    assert placed.json() == order

    got = await client.get("/orders/1", headers=ada)
    assert (got.status_code, got.json()) == (200, order)
    listed = await client.get("/orders", headers=ada)
    assert (listed.status_code, listed.json()) == (200, [order])
    cancelled = await client.post("/orders/1/cancel", headers=ada)
    assert (cancelled.status_code, cancelled.json()) == (200, {**order, "status": "cancelled"})
    told = await client.get("/notifications", headers=ada)
    assert told.json() == ["order #1 confirmed: 2 widget", "order #1 cancelled"]


async def test_http_not_found_is_404(client: httpx.AsyncClient) -> None:
    await client.post(
        "/orders", json={"product": "widget", "quantity": 2}, headers={"X-User": "ada"}
    )
    for path in ("/orders/1", "/orders/7"):
        response = await client.get(path, headers={"X-User": "grace"})
        assert response.status_code == 404
        assert response.json() == {"detail": f"no order #{path[-1]}"}
    cancel = await client.post("/orders/1/cancel", headers={"X-User": "grace"})
    assert cancel.status_code == 404


async def test_http_validation_error_is_422(client: httpx.AsyncClient) -> None:
    ada = {"X-User": "ada"}
    response = await client.post("/orders", json={"product": "widget", "quantity": 0}, headers=ada)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", "quantity"], "msg": "must be at least 1", "type": "value_error"}
        ]
    }
    # FastAPI's own checks of the body answer in the same shape.
    response = await client.post("/orders", json={"product": "widget"}, headers=ada)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "quantity"]
    assert (await client.get("/orders", headers=ada)).json() == []


async def test_http_without_the_user_header_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json={"product": "widget", "quantity": 1})
    assert response.status_code == 401
    assert response.json() == {"detail": "say who you are in the X-User header"}


async def test_http_a_missing_handler_argument_is_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="example.orders.web"):
        response = await client.get("/forgetful", headers={"X-User": "ada"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}  # the details stay in the log
    (logged,) = [r for r in caplog.records if r.name == "example.orders.web"]
    assert logged.exc_info is not None
    error = logged.exc_info[1]
    assert isinstance(error, MissingArgumentError)
    assert error.parameters == ("user",)
    assert error.handler.name == "example.orders.handlers.list_orders"
    assert logged.getMessage().startswith("GET /forgetful: example.orders.handlers.list_orders")


async def test_http_app_defaults_to_a_temporary_database() -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        path = app.state.orders.database.path
        assert path.exists()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://orders"
        ) as client:
            response = await client.get("/notifications", headers={"X-User": "ada"})
        assert (response.status_code, response.json()) == (200, [])
    assert not path.parent.exists()  # removed with the app's lifespan
