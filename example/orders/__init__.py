"""An orders service on mediator: the example a team reads first.

- `messages`: the commands, queries and events (dataclasses), and the domain's errors.
- `handlers`: plain functions in registries; what they need comes by parameter name.
- `database`: SQLite, and the unit of work each handler call gets (``db``).
- `service`: the buses, with `log` and `retry` middleware, the ``db`` and ``events``
  providers, ``expect("user")`` and ``freeze()`` at start-up.
- `web`: the same service over HTTP with FastAPI (``pip install -e '.[example]'``).

Run the scenario with ``python -m example.orders``; serve the API with
``uvicorn example.orders.web:app``.  Only ``web`` imports FastAPI.
"""

from .service import OrdersService, create_service

__all__ = ("OrdersService", "create_service")
