"""What the two services agree on: the events' wire names, their codec, and where Redis is."""

from __future__ import annotations

import os

from mediator.transports import EventTypes, JsonCodec

from ..orders.messages import OrderCancelled, OrderPlaced

types = EventTypes()
types.register(OrderPlaced, name="orders.placed", version=1)
types.register(OrderCancelled, name="orders.cancelled", version=1)
codec = JsonCodec(types)

#: The stream the orders service writes to.
STREAM = "orders"
#: Where Redis is: ``MEDIATOR_REDIS_URL``, or the local server.
REDIS_URL = os.environ.get("MEDIATOR_REDIS_URL", "redis://127.0.0.1:6379/0")
