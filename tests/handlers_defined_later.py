"""Handlers whose message classes are defined below them (string annotations)."""

from __future__ import annotations

from mediator import EventHandlerRegistry, LocalEventBus, LocalRequestBus

requests = LocalRequestBus()
events = LocalEventBus()
registry = EventHandlerRegistry()
calls: list[str] = []


@requests.register
async def get_report(query: Report) -> str:
    return f"report {query.number}"


@events.register
async def first(event: Created) -> None:
    calls.append("first")


@events.register
async def second(event: Created | Report) -> None:
    calls.append("second")


@registry.register
async def from_registry(event: Created) -> None:
    calls.append("registry")


class Report:
    def __init__(self, number: int) -> None:
        self.number = number


class Created:
    pass
