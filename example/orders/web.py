"""The orders service over HTTP, with FastAPI.

Install and serve, from the repository root:

    python3 -m venv .venv && .venv/bin/pip install -e '.[example]'
    .venv/bin/uvicorn example.orders.web:app --reload

Every route takes the current user from the ``X-User`` header (a stand-in for
real authentication) through ``Depends``, and passes it to the bus as
``user=...``.  The bus's and the domain's errors become HTTP statuses in one
place, `create_app`'s exception handlers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from mediator import LocalRequestBus, MissingArgumentError

from .messages import (
    CancelOrder,
    GetOrder,
    ListNotifications,
    ListOrders,
    Order,
    OrderNotFound,
    PlaceOrder,
    User,
    ValidationError,
)
from .service import create_service

__all__ = ("app", "create_app")

logger = logging.getLogger("example.orders.web")


# -- dependencies -----------------------------------------------------------------------
async def current_user(x_user: Annotated[str | None, Header()] = None) -> User:
    if not x_user:
        raise HTTPException(401, "say who you are in the X-User header")
    return User(x_user)


async def request_bus(request: Request) -> LocalRequestBus:
    bus: LocalRequestBus = request.app.state.orders.requests  # set by the lifespan
    return bus


CurrentUser = Annotated[User, Depends(current_user)]
Bus = Annotated[LocalRequestBus, Depends(request_bus)]


# -- routes: one message each -----------------------------------------------------------
router = APIRouter()


@router.post("/orders", status_code=201)
async def place_order(command: PlaceOrder, user: CurrentUser, bus: Bus) -> Order:
    return await bus.execute(command, user=user)


@router.get("/orders")
async def list_orders(user: CurrentUser, bus: Bus) -> list[Order]:
    return await bus.execute(ListOrders(), user=user)


@router.get("/orders/{order_id}")
async def get_order(order_id: int, user: CurrentUser, bus: Bus) -> Order:
    return await bus.execute(GetOrder(order_id), user=user)


@router.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: int, user: CurrentUser, bus: Bus) -> Order:
    return await bus.execute(CancelOrder(order_id), user=user)


@router.get("/notifications")
async def list_notifications(user: CurrentUser, bus: Bus) -> list[str]:
    return await bus.execute(ListNotifications(), user=user)


# -- the application --------------------------------------------------------------------
def create_app(database_path: str | Path | None = None) -> FastAPI:
    """The API on the SQLite file at ``database_path`` (default: a new temporary one)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        with contextlib.ExitStack() as stack:
            path = database_path
            if path is None:
                path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "orders.db"
            app.state.orders = create_service(path)  # the buses are checked and frozen here
            yield

    app = FastAPI(title="orders", lifespan=lifespan)
    app.include_router(router)

    # The errors that come out of bus.execute(), as HTTP answers.
    @app.exception_handler(OrderNotFound)
    async def not_found(request: Request, error: OrderNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(ValidationError)
    async def invalid(request: Request, error: ValidationError) -> JSONResponse:
        # The shape of FastAPI's own 422 answers, so that clients read both alike.
        problem = {"loc": ["body", error.field], "msg": error.reason, "type": "value_error"}
        return JSONResponse({"detail": [problem]}, status_code=422)

    @app.exception_handler(MissingArgumentError)
    async def server_error(request: Request, error: MissingArgumentError) -> JSONResponse:
        # A route forgot an argument a handler needs: our bug, not the client's.  The
        # error names the handler and the parameter: that goes to the log, not to the client.
        logger.error("%s %s: %s", request.method, request.url.path, error, exc_info=error)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    return app


#: For ``uvicorn example.orders.web:app``: the database named by $ORDERS_DATABASE, if set.
app = create_app(os.environ.get("ORDERS_DATABASE") or None)
