"""Handler policies and registries, as in python-mediator's advanced request example.

A registry collects handlers without a bus; the bus takes them over with
``include``.  The registry's policies say where to find the handler in a
registered object: first a method named ``execute``, else the object itself
as a callable.

Run it: python example/request_advanced.py
"""

from dataclasses import dataclass

from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy
from mediator.request import LocalRequestBus, RequestHandlerRegistry

registry = RequestHandlerRegistry(
    policies=[MethodHandlerPolicy(name="execute"), CallableHandlerPolicy()],
)


@dataclass
class PrintCommand:
    message: str


class PrintCommandHandler:
    async def execute(self, command: PrintCommand):
        print(f"print: {command.message}")
        return command.message


# An object: MethodHandlerPolicy(name="execute") finds its `execute` method.
registry.register(PrintCommandHandler())


@dataclass
class DataQuery:
    entry_id: int


# A function: CallableHandlerPolicy() takes it as it is.
@registry.register
async def data_query_handler(query: DataQuery):
    print(f"entry loaded: {query.entry_id}")
    return {"id": query.entry_id, "data": "test"}


async def main():
    bus = LocalRequestBus()
    bus.include(registry)

    printed_message = await bus.execute(PrintCommand(message="test"))
    assert printed_message == "test"

    data = await bus.execute(DataQuery(entry_id=1))
    assert data == {"id": 1, "data": "test"}
    # -- output --
    # print: test
    # entry loaded: 1


if __name__ == "__main__":
    import anyio

    anyio.run(main)
