"""A small user service on mediator: commands, queries, a stream, events.

Run it: python example/quickstart.py
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from mediator import LocalEventBus, LocalRequestBus, Next, Request, StreamRequest


# -- messages -------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    id: int
    name: str


@dataclass(frozen=True)
class CreateUser(Request[User]):  # Request[User]: `await execute(...)` is typed User
    name: str


@dataclass(frozen=True)
class GetUser(Request[User]):
    user_id: int


@dataclass(frozen=True)
class ListUsers(StreamRequest[User]):
    pass


class UserEvent:
    """Base class of the user events: a handler for it sees all of them."""


@dataclass(frozen=True)
class UserCreated(UserEvent):
    user: User


# -- infrastructure -------------------------------------------------------------
class Database:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self._ids = itertools.count(1)

    def add(self, name: str) -> User:
        user = User(next(self._ids), name)
        self.users[user.id] = user
        return user


async def trace(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    """A middleware: prints each request on its way in."""
    print(f"-> {type(message).__name__}")
    return await call_next(message, kwargs)


requests = LocalRequestBus(modifiers=[trace])
events = LocalEventBus()


# -- handlers: plain functions; the first annotation picks the message ---------
@requests.register
async def create_user(command: CreateUser, db: Database) -> User:
    user = db.add(command.name)
    await events.publish(UserCreated(user))
    return user


@requests.register
async def get_user(query: GetUser, db: Database) -> User:
    return db.users[query.user_id]


@requests.register
async def list_users(query: ListUsers, db: Database) -> AsyncIterator[User]:
    for user in list(db.users.values()):
        yield user


@events.register
async def send_welcome_email(event: UserCreated) -> None:
    print(f"welcome mail to {event.user.name}")


@events.register
def audit(event: UserEvent) -> None:  # a plain `def` runs inline
    print(f"audit: {type(event).__name__}")


async def main() -> None:
    # At start-up: resolves every handler's annotation now and refuses later
    # registrations, so a mistake (a misspelt class name) fails here, not on a message.
    requests.freeze()
    events.freeze()
    db = Database()  # passed at call time: every handler that declares `db` gets it
    ada = await requests.execute(CreateUser("ada"), db=db)
    await requests.execute(CreateUser("grace"), db=db)
    print(await requests.execute(GetUser(ada.id), db=db))
    async with requests.stream(ListUsers(), db=db) as users:
        async for user in users:
            print(f"user {user.id}: {user.name}")


if __name__ == "__main__":
    anyio.run(main)
