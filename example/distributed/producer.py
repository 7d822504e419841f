"""The orders service: commands whose events go to the outbox, and a relay to Redis.

    python -m example.distributed.producer [ORDERS]    # ORDERS orders (default 5)

Each command's events are rows of the outbox in the command's own transaction;
the relay, a task of this process, appends them to the Redis stream "orders".
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import anyio

from mediator.transports import Relay, SqliteOutbox
from mediator.transports.redis import RedisEngine

from ..orders.messages import CancelOrder, PlaceOrder, User
from ..orders.service import create_service
from .wire import REDIS_URL, STREAM, codec


async def main(orders: int = 5) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.db"
        outbox = SqliteOutbox(codec, database=path)
        service = create_service(path, outbox=outbox)
        engine = RedisEngine(REDIS_URL)
        relay = Relay(outbox, engine, poll=0.1)
        print(f"orders service: outbox in {path.name}, relaying to {REDIS_URL} stream {STREAM!r}")
        async with anyio.create_task_group() as group:
            group.start_soon(relay.run)
            customers = [User("ada"), User("grace")]
            for number in range(orders):
                user = customers[number % 2]
                order = await service.requests.execute(
                    PlaceOrder("widget", 1 + number % 3), user=user
                )
                print(f"{user.name} placed order #{order.id} (its event is in the outbox)")
                relay.wake()
            cancelled = await service.requests.execute(CancelOrder(1), user=customers[0])
            print(f"ada cancelled order #{cancelled.id}")
            relay.wake()
            group.cancel_scope.cancel()  # stop the relay task...
        while await relay.run_once():  # ...and send what it had not sent yet
            pass
        print(f"relay: every event is in Redis ({orders + 1} events)")
        await engine.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
