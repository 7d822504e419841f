"""Static typing of the public API, checked with mypy --strict and pyright (strict).

Not run: type checkers read it (tests/test_typing.py runs them).  Lines marked
``# type: ignore[...]`` must be rejected: both checkers report an ignore that
is no longer needed, so a check that stops rejecting them fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, assert_type

from mediator import (
    EventAggregate,
    Failure,
    Handler,
    HandlerKind,
    LocalEventBus,
    LocalRequestBus,
    MissingArgumentError,
    Next,
    PublishError,
    Request,
    RequestHandlerRegistry,
    Strategy,
    Stream,
    StreamRequest,
)
from mediator.common.factory import CallableHandlerPolicy
from mediator.common.modifiers import ActionCallType, ActionResult, ActionSubject, ModifierFactory


@dataclass
class User:
    name: str


@dataclass
class GetUser(Request[User]):
    user_id: int


@dataclass
class ListUsers(StreamRequest[User]):
    pass


@dataclass
class Untyped:
    pass


@dataclass
class UserCreated:
    user: User


requests = LocalRequestBus()
events = LocalEventBus(strategy="background")
registry = RequestHandlerRegistry()


# `register` keeps the decorated function's type, with and without options.
@requests.register
async def get_user(query: GetUser) -> User:
    return User("ada")


@requests.register(policies=[CallableHandlerPolicy()], thread=False)
async def list_users(query: ListUsers) -> AsyncIterator[User]:
    yield User("ada")


@registry.register
def untyped(query: Untyped) -> int:
    return 1


@events.register
async def on_created(event: UserCreated, tenant: str = "-") -> None:
    pass


assert_type(untyped(Untyped()), int)
assert_type(list_users(ListUsers()), AsyncIterator[User])


class Logging(ModifierFactory):
    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
        async def logged(action: ActionSubject) -> ActionResult:
            return await call(action)

        return logged


class Aggregate(EventAggregate):
    pass


async def usage() -> None:
    # Request[T] types the result; anything else is Any.
    assert_type(await requests.execute(GetUser(1)), User)
    assert_type(await requests.execute(GetUser(1), user="ada"), User)
    assert_type(await requests.execute(Untyped()), Any)
    assert_type(await get_user(GetUser(1)), User)
    pending = assert_type(requests.execute(GetUser(1)), Coroutine[Any, Any, User])
    await pending

    # StreamRequest[T] types the items.
    assert_type(requests.stream(ListUsers()), Stream[User])
    async for user in requests.stream(ListUsers()):
        assert_type(user, User)
    async with requests.stream(ListUsers()) as users:
        assert_type(users, AsyncIterator[User])

    assert_type(await events.publish(UserCreated(User("ada")), tenant="acme"), None)
    async with events as entered:
        assert_type(entered, LocalEventBus)

    try:
        await events.publish(UserCreated(User("ada")))
    except PublishError as error:
        for failure in error.failures:
            assert_type(failure.handler, Handler)
            assert_type(failure.exception, Exception)

    await Aggregate().use(events).commit()
    LocalRequestBus(modifiers=[Logging()])


# Middleware functions and error callbacks, typed as the README writes them.
async def passthrough(message: Any, kwargs: dict[str, Any], call_next: Next) -> Any:
    assert_type(call_next.handler, Handler)
    return await call_next(message, kwargs)


def report(error: Exception, handler: Handler, event: Any) -> None:
    pass


async def report_async(error: Exception, handler: Handler, event: Any) -> None:
    pass


LocalRequestBus(modifiers=[passthrough, Logging()])
LocalEventBus(strategy="background", on_error=report)
LocalEventBus(strategy="background", on_error=report_async)
strategy: Strategy = LocalEventBus().strategy


def fields(handler: Handler, error: MissingArgumentError, failure: Failure) -> None:
    assert_type(handler.kind, HandlerKind)
    assert_type(handler.message_types, tuple[type, ...])
    assert_type(error.parameters, tuple[str, ...])
    assert_type(error.handler, Handler)
    assert_type(failure.exception, Exception)


# -- what must be rejected ----------------------------------------------------------


def takes_str(value: str) -> None: ...


async def rejected(handler: Handler) -> None:
    # An expected type does not hide the result's (tests/typing/check_results.py has more).
    wrong: str = await requests.execute(GetUser(1))  # type: ignore[assignment]
    takes_str(await requests.execute(GetUser(1)))  # type: ignore[arg-type]
    wrong_items: Stream[str] = requests.stream(ListUsers())  # type: ignore[assignment]
    async for user in requests.stream(ListUsers()):
        user.age  # type: ignore[attr-defined]  # noqa: B018
        takes_str(user)  # type: ignore[arg-type]
    await requests.execute(GetUser(1), "positional")  # type: ignore[call-overload]
    handler.kind = "sync"  # type: ignore[misc]
    del wrong, wrong_items


async def takes_one_argument(message: Any) -> Any: ...


def on_error_without_arguments() -> None: ...


LocalEventBus(strategy="parallel")  # type: ignore[arg-type]
LocalRequestBus(modifiers=[takes_one_argument])  # type: ignore[list-item]
LocalEventBus(strategy="background", on_error=on_error_without_arguments)  # type: ignore[arg-type]
get_user("not a query").close()  # type: ignore[arg-type]


# python-mediator's own spelling of a factory, subclassed or duck-typed, type-checks too.
class Documented(ModifierFactory):
    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
        return call


class DuckTyped:
    def create(self, call: ActionCallType, **kwargs: Any) -> ActionCallType:
        return call


LocalRequestBus(modifiers=[Documented(), DuckTyped()])
