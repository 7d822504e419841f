"""The orders service and a notifications service in two processes, with Redis between them.

- `producer`: the orders service of example/orders, writing its events to the SQLite
  outbox in each command's transaction, with a relay sending them to Redis;
- `notifications`: another service, run by ``python -m mediator worker``, that
  consumes them from Redis and writes each customer's notifications exactly once.

The README ("Beyond one process", "Two processes") gives the commands.
"""
