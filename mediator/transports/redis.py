"""Redis Streams as the engine: ``pip install 'mediator-bus[redis]'``.

``RedisEngine(url)`` is an `Engine` for `Relay` and `Worker`, on anyio's
asyncio backend (redis-py is asyncio-only).  See the README, "Beyond one
process", for the set-up and what survives a crash.
"""

from ._redis import RedisEngine as RedisEngine
from ._redis import RedisEngineError as RedisEngineError

__all__ = ("RedisEngine", "RedisEngineError")
