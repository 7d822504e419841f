"""Handler policies and registries, as in python-mediator's advanced event example.

Run it: python example/event_advanced.py
"""

from dataclasses import dataclass

from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy
from mediator.event import EventHandlerRegistry, LocalEventBus

registry = EventHandlerRegistry(
    policies=[MethodHandlerPolicy(name="handle"), CallableHandlerPolicy()],
)


@dataclass
class MessageEvent:
    message: str


class MessageEventHandler:
    async def handle(self, event: MessageEvent):
        print(f"from object handler: {event.message}")


# An object: MethodHandlerPolicy(name="handle") finds its `handle` method.
registry.register(MessageEventHandler())


# A function: CallableHandlerPolicy() takes it as it is.
@registry.register
async def message_event_handler(some_event: MessageEvent):
    print(f"from function handler: {some_event.message}")


async def main():
    bus = LocalEventBus()
    bus.include(registry)

    await bus.publish(MessageEvent(message="test"))
    # -- output --
    # from object handler: test
    # from function handler: test


if __name__ == "__main__":
    import anyio

    anyio.run(main)
