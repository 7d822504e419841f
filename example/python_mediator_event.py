"""python-mediator 0.7's README event example, unchanged apart from the runner at the end.

Run it: python example/python_mediator_event.py
"""

from dataclasses import dataclass

from mediator.event import LocalEventBus

bus = LocalEventBus()


@dataclass
class MessageEvent:
    message: str


@bus.register
async def first_handler(event: MessageEvent):
    print(f"first handler: {event.message}")


@bus.register
async def second_handler(event: MessageEvent):
    print(f"second handler: {event.message}")


async def main():
    await bus.publish(MessageEvent(message="test"))
    # -- output --
    # first handler: test
    # second handler: test


if __name__ == "__main__":
    import anyio

    anyio.run(main)
