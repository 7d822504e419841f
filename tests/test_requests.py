"""LocalRequestBus: registration forms, results, injection, errors, registries."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import pytest

from mediator import (
    HandlerNotFoundError,
    LocalRequestBus,
    MissingArgumentError,
    RegistrationError,
    RequestHandlerRegistry,
)
from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy
from mediator.errors import DuplicateHandlerError, HandlerArgumentError

HERE = re.escape(__file__.rsplit("/", 1)[-1])


@dataclass
class GetUser:
    user_id: int


@dataclass
class DeleteUser:
    user_id: int


class Boom(Exception):
    pass


async def test_execute_returns_the_handler_result() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(query: GetUser) -> dict[str, int]:
        return {"id": query.user_id}

    assert await bus.execute(GetUser(7)) == {"id": 7}


async def test_handler_exceptions_propagate_unchanged() -> None:
    bus = LocalRequestBus()
    raised = Boom("no such user")

    @bus.register
    async def get_user(query: GetUser) -> None:
        raise raised

    with pytest.raises(Boom) as caught:
        await bus.execute(GetUser(1))
    assert caught.value is raised
    assert not caught.value.__notes__ if hasattr(caught.value, "__notes__") else True


def test_register_returns_the_object_unchanged_in_every_form() -> None:
    bus = LocalRequestBus()

    async def plain(query: GetUser) -> None: ...

    async def called(query: DeleteUser) -> None: ...

    class Handler:
        async def handle(self, query: int) -> None: ...

    obj = Handler()
    assert bus.register(plain) is plain
    assert bus.register()(called) is called
    assert bus.register(obj, policies=[MethodHandlerPolicy(name="handle")]) is obj
    assert [h.fn for h in bus.handlers] == [plain, called, obj.handle]


async def test_decorator_with_options() -> None:
    bus = LocalRequestBus()

    @bus.register(policies=[CallableHandlerPolicy(subject_arg="query")])
    async def get_user(user: str, query: GetUser) -> str:
        return f"{user}:{query.user_id}"

    assert await bus.execute(GetUser(3), user="ada") == "ada:3"


async def test_execute_is_awaitable_and_errors_surface_when_awaited() -> None:
    bus = LocalRequestBus()
    pending = bus.execute(GetUser(1))  # no handler: nothing raised yet
    with pytest.raises(HandlerNotFoundError):
        await pending


# -- injection -------------------------------------------------------------------


async def test_declared_keyword_arguments_are_injected_and_others_dropped() -> None:
    bus = LocalRequestBus()
    seen: list[tuple[Any, ...]] = []

    @bus.register
    async def get_user(query: GetUser, user: str, tenant: str = "default") -> None:
        seen.append((query.user_id, user, tenant))

    await bus.execute(GetUser(1), user="ada")
    await bus.execute(GetUser(2), user="ada", tenant="acme", session="ignored")
    await bus.execute(GetUser(3), user="bob", session="ignored")  # fewer than accepted + stray
    await bus.execute(GetUser(4), user="eve", tenant="t")
    assert seen == [
        (1, "ada", "default"),
        (2, "ada", "acme"),
        (3, "bob", "default"),
        (4, "eve", "t"),
    ]


async def test_var_keyword_handler_gets_every_keyword_argument() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(query: GetUser, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    assert await bus.execute(GetUser(1), a=1, b=2) == {"a": 1, "b": 2}
    assert await bus.execute(GetUser(1)) == {}


async def test_arg_strict_passes_everything_and_explains_a_mismatch() -> None:
    bus = LocalRequestBus(policies=[CallableHandlerPolicy(arg_strict=True)])

    @bus.register
    async def get_user(query: GetUser, user: str) -> str:
        return user

    assert await bus.execute(GetUser(1), user="ada") == "ada"
    with pytest.raises(HandlerArgumentError) as caught:
        await bus.execute(GetUser(1), user="ada", tenant="x")
    error = caught.value
    assert (error.problem, error.handler.fn, set(error.given)) == (
        "unexpected",
        get_user,
        {"user", "tenant"},
    )
    assert error.detail is not None and "tenant" in error.detail


async def test_arg_map_renames_call_keywords() -> None:
    bus = LocalRequestBus()

    @bus.register(policies=[CallableHandlerPolicy(arg_map={"current_user": "user"})])
    async def get_user(query: GetUser, user: str) -> str:
        return user

    assert await bus.execute(GetUser(1), current_user="ada", other=1) == "ada"
    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(GetUser(1))
    assert caught.value.parameters == ("current_user",)  # the name the call would pass


async def test_subject_arg_passes_the_message_by_keyword() -> None:
    bus = LocalRequestBus()

    @bus.register(policies=[CallableHandlerPolicy(subject_arg="query")])
    async def get_user(*, session: str = "s", query: GetUser) -> tuple[str, int]:
        return session, query.user_id

    assert await bus.execute(GetUser(5)) == ("s", 5)
    assert await bus.execute(GetUser(5), session="x", query="not the message") == ("x", 5)


async def test_keyword_only_first_parameter_receives_the_message() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(*, query: GetUser) -> int:
        return query.user_id

    assert await bus.execute(GetUser(9)) == 9


async def test_a_keyword_named_like_the_message_parameter_is_not_injected() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(query: GetUser, user: str = "-") -> tuple[int, str]:
        return query.user_id, user

    assert await bus.execute(GetUser(1), query="x", user="u") == (1, "u")


async def test_missing_required_argument_is_reported_before_the_handler_runs() -> None:
    bus = LocalRequestBus()
    ran = False

    @bus.register
    async def get_user(query: GetUser, user: str, session: object) -> None:
        nonlocal ran
        ran = True

    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(GetUser(1), user="ada", tenant="x")
    assert not ran
    error = caught.value
    assert isinstance(error, TypeError)
    assert (error.problem, error.parameters, error.handler.fn) == (
        "missing",
        ("session",),
        get_user,
    )
    assert set(error.given) == {"user", "tenant"}


async def test_missing_argument_after_the_fast_path_was_disabled() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(query: GetUser, user: str) -> str:
        return user

    assert await bus.execute(GetUser(1), user="a", stray=1) == "a"
    with pytest.raises(MissingArgumentError) as caught:
        await bus.execute(GetUser(1), stray=1)
    assert (caught.value.parameters, caught.value.given) == (("user",), ("stray",))
    assert await bus.execute(GetUser(1), user="b") == "b"


# -- handler shapes --------------------------------------------------------------


async def test_bound_methods_callable_objects_and_partials() -> None:
    bus = LocalRequestBus()

    class Repository:
        def __init__(self) -> None:
            self.prefix = "repo"

        async def get(self, query: GetUser) -> str:
            return f"{self.prefix}:{query.user_id}"

    class Deleter:
        async def __call__(self, command: DeleteUser) -> str:
            return "deleted"

    @dataclass
    class Ping:
        pass

    async def ping(greeting: str, query: Ping) -> str:
        return greeting

    bus.register(Repository().get)
    bus.register(Deleter())
    bus.register(
        functools.partial(ping, "pong"), policies=[CallableHandlerPolicy(subject_arg="query")]
    )
    assert await bus.execute(GetUser(2)) == "repo:2"
    assert await bus.execute(DeleteUser(2)) == "deleted"
    assert await bus.execute(Ping()) == "pong"


async def test_method_policy_with_subtype_check() -> None:
    class Base:
        pass

    class Service(Base):
        async def run(self, query: GetUser) -> str:
            return "service"

    class Other:
        async def run(self, query: DeleteUser) -> str:
            return "other"

    bus = LocalRequestBus(policies=[MethodHandlerPolicy(name="run", subtype_of=[Base])])
    bus.register(Service())
    assert await bus.execute(GetUser(1)) == "service"
    with pytest.raises(RegistrationError) as caught:
        bus.register(Other())
    assert caught.value.problem == "no-policy"
    assert caught.value.detail == (
        f"MethodHandlerPolicy(name='run'): it is not an instance of {__name__}."
        f"test_method_policy_with_subtype_check.<locals>.Base"
    )


# -- collisions and lookups ------------------------------------------------------


async def test_second_handler_for_a_type_is_a_collision_and_leaves_the_bus_unchanged() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def first(query: GetUser) -> str:
        return "first"

    async def second(query: GetUser) -> str:
        return "second"

    with pytest.raises(DuplicateHandlerError) as caught:
        bus.register(second)
    error = caught.value
    assert isinstance(error, KeyError)
    assert (error.message_type, error.existing.fn, error.new.fn) == (GetUser, first, second)
    assert await bus.execute(GetUser(1)) == "first"
    assert len(bus.handlers) == 1


async def test_include_is_all_or_nothing() -> None:
    bus = LocalRequestBus()
    registry = RequestHandlerRegistry()

    @bus.register
    async def get_user(query: GetUser) -> str:
        return "bus"

    @registry.register
    async def delete_user(command: DeleteUser) -> str:
        return "registry"

    @registry.register
    async def get_user_too(query: GetUser) -> str:
        return "registry"

    with pytest.raises(DuplicateHandlerError) as caught:
        bus.include(registry)
    assert (caught.value.existing.fn, caught.value.new.fn) == (get_user, get_user_too)
    with pytest.raises(HandlerNotFoundError):
        await bus.execute(DeleteUser(1))
    assert await bus.execute(GetUser(1)) == "bus"


def test_registry_detects_collisions_itself() -> None:
    registry = RequestHandlerRegistry()

    @registry.register
    async def one(query: GetUser) -> None: ...

    with pytest.raises(DuplicateHandlerError) as caught:

        @registry.register
        async def two(query: GetUser) -> None: ...

    assert caught.value.existing.fn is one


async def test_unknown_type_names_the_type_and_what_is_registered() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(query: GetUser) -> None: ...

    with pytest.raises(HandlerNotFoundError) as caught:
        await bus.execute(DeleteUser(1))
    error = caught.value
    assert (error.message_type, error.registered, error.stream) == (DeleteUser, (GetUser,), False)
    assert (error.other, error.namesake) == (None, None)


async def test_unknown_type_hints_at_a_duplicated_class() -> None:
    bus = LocalRequestBus()

    @bus.register
    async def get_user(query: GetUser) -> None: ...

    @dataclass
    class GetUser_:  # same qualname, different class object
        user_id: int

    GetUser_.__qualname__ = "GetUser"
    with pytest.raises(HandlerNotFoundError) as caught:
        await bus.execute(GetUser_(1))
    assert caught.value.namesake is GetUser


def test_include_rejects_things_that_are_not_registries() -> None:
    bus = LocalRequestBus()
    item = object()
    with pytest.raises(RegistrationError) as caught:
        bus.include([item])  # type: ignore[list-item]
    assert (caught.value.problem, caught.value.obj) == ("include-item", item)


# -- registries and modifier order -------------------------------------------------


async def test_include_takes_handlers_registered_so_far_and_iterates_in_order() -> None:
    registry = RequestHandlerRegistry()

    @registry.register
    async def get_user(query: GetUser) -> str:
        return "user"

    bus = LocalRequestBus()
    bus.include(registry)

    @registry.register
    async def delete_user(command: DeleteUser) -> str:
        return "later"

    assert [entry.handler.fn for entry in registry] == [get_user, delete_user]
    assert await bus.execute(GetUser(1)) == "user"
    with pytest.raises(HandlerNotFoundError):
        await bus.execute(DeleteUser(1))


async def test_a_bus_can_be_included_into_another_bus() -> None:
    inner = LocalRequestBus()

    @inner.register
    async def get_user(query: GetUser) -> str:
        return "inner"

    outer = LocalRequestBus()
    outer.include(inner)
    assert await outer.execute(GetUser(1)) == "inner"
