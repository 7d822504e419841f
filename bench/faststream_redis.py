"""FastStream's Redis Streams subscriber, timed: what a user would pick instead of our worker.

Run by `bench.transport` as ``python -S bench/faststream_redis.py PEER_DIR URL N MODE``
with FastStream installed in ``PEER_DIR`` (``python -m bench.transport
--install-faststream``), never in this project's environment.  MODE is
``message`` (one handler call per entry, acked after it: FastStream's default
for Redis) or ``batch`` (the handler gets a list of up to 100 entries).
Prints the events per second as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid


async def measure(url: str, n: int, batch: bool) -> float:
    from faststream.redis import RedisBroker, StreamSub
    from redis.asyncio import Redis

    stream = f"bench-faststream-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(url, logger=None)  # no log line per message: its fastest set-up
    done = asyncio.Event()
    seen = 0

    @broker.subscriber(
        stream=StreamSub(stream, group="bench", consumer="c1", batch=batch, max_records=100)
    )
    async def handle(body: object) -> None:
        nonlocal seen
        seen += len(body) if isinstance(body, list) else 1
        if seen >= n:
            done.set()

    client = Redis.from_url(url)
    async with broker:
        await broker.start()  # creates the group (at "$": so the entries come after it)
        started = time.perf_counter()
        for first in range(0, n, 100):
            async with client.pipeline(transaction=False) as pipe:
                for number in range(first, min(n, first + 100)):
                    pipe.xadd(stream, {"order_id": number, "total": 9.5})
                await pipe.execute()
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed = time.perf_counter() - started
    await client.delete(stream)
    await client.aclose()
    return n / elapsed


def main() -> None:
    peer_dir, url, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, peer_dir)
    rate = asyncio.run(measure(url, n, batch=mode == "batch"))
    print(json.dumps({"events_per_second": rate}))


if __name__ == "__main__":
    main()
