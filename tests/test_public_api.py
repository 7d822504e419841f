"""The public surface: explicit re-exports by audience, and python-mediator's import paths."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from typing import Any

import pytest

import mediator
import mediator.errors

PUBLIC_MODULES = [
    "mediator",
    "mediator.errors",
    "mediator.request",
    "mediator.event",
    "mediator.common.factory",
    "mediator.common.handler",
    "mediator.common.modifiers",
    "mediator.common.types",
    "mediator.common.registry",
    "mediator.modifiers",
    "mediator.testing",
    "mediator.transports",
    "mediator.transports.redis",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(module.__all__, tuple)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and not inspect.ismodule(value)
    }
    assert set(module.__all__) == public
    assert list(module.__all__) == sorted(module.__all__)


def test_the_root_holds_what_an_application_uses() -> None:
    assert set(mediator.__all__) == {
        # buses, registries, messages
        "LocalRequestBus",
        "LocalEventBus",
        "RequestHandlerRegistry",
        "EventHandlerRegistry",
        "Request",
        "StreamRequest",
        "Stream",
        "EventAggregate",
        # what middleware, error reports and the handler map (bus.routes()) see
        "Handler",
        "Route",
        "Middleware",
        "Next",
        # middleware whose code around `yield` spans the whole call (a stream's iteration)
        "around",
        "AroundMiddleware",
        # the errors an application catches
        "MediatorError",
        "RegistrationError",
        "HandlerNotFoundError",
        "MissingArgumentError",
        "PublishError",
        "Failure",
        # types of public signatures
        "Modifier",
        "Strategy",
        "ErrorCallback",
        "HandlerKind",
    }


def test_every_error_is_in_mediator_errors_and_derives_from_mediator_error() -> None:
    errors = [
        value
        for name, value in vars(mediator.errors).items()
        if name in mediator.errors.__all__ and isinstance(value, type)
    ]
    assert len(errors) == 19
    for error in errors:
        assert issubclass(error, mediator.errors.MediatorError) or error is mediator.errors.Failure
    for name in mediator.__all__:
        if name.endswith("Error"):
            assert getattr(mediator, name) is getattr(mediator.errors, name)


def test_reprs_show_public_module_paths() -> None:
    from mediator.common.modifiers import ActionSubject
    from mediator.request import RequestExecutor

    assert mediator.LocalRequestBus.__module__ == "mediator"
    assert mediator.Handler.__module__ == "mediator"
    assert mediator.AroundMiddleware.__module__ == "mediator"
    assert mediator.errors.DuplicateHandlerError.__module__ == "mediator.errors"
    assert mediator.PublishError.__module__ == "mediator.errors"
    assert ActionSubject.__module__ == "mediator.common.types"
    assert RequestExecutor.__module__ == "mediator.request"


def test_python_mediator_import_paths() -> None:
    from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy, PolicyType
    from mediator.common.handler import Handler, HandlerInfo
    from mediator.common.modifiers import ModifierStack
    from mediator.common.registry import HandlerEntry, HandlerRegistry
    from mediator.common.types import ActionCallType, ActionResult, ActionSubject
    from mediator.event import (
        ConfigEventAggregateError,
        EventAggregate,
        EventAggregateError,
        EventHandlerRegistry,
        EventPublish,
        EventPublisher,
        EventSubscriber,
        LocalEventBus,
    )
    from mediator.request import LocalRequestBus, RequestExecutor, RequestHandlerRegistry

    assert LocalRequestBus is mediator.LocalRequestBus
    assert LocalEventBus is mediator.LocalEventBus
    assert RequestHandlerRegistry is mediator.RequestHandlerRegistry
    assert EventHandlerRegistry is mediator.EventHandlerRegistry
    assert EventAggregate is mediator.EventAggregate
    assert Handler is HandlerInfo is mediator.Handler
    assert ActionCallType is not None and PolicyType is not None
    assert issubclass(LocalRequestBus, HandlerRegistry) and issubclass(
        LocalEventBus, HandlerRegistry
    )
    assert isinstance(LocalRequestBus(), RequestExecutor)
    assert isinstance(LocalEventBus(), EventPublish | EventPublisher | EventSubscriber)
    assert issubclass(EventPublisher, EventPublish)
    assert issubclass(ConfigEventAggregateError, AssertionError | EventAggregateError)
    assert ActionSubject(1, {}).key is int and ActionResult(2).result == 2
    assert [type(p) for p in (CallableHandlerPolicy(), MethodHandlerPolicy("handle"))]
    assert HandlerEntry.__name__ == "HandlerEntry" and ModifierStack.build([], print) is print


def test_isinstance_modifier_factory_works_for_subclasses_and_duck_types() -> None:
    from mediator.common.modifiers import ModifierFactory

    class Subclassed(ModifierFactory):
        def create(self, call: Any, **kwargs: Any) -> Any:
            return call

    class DuckTyped:
        def create(self, call: Any, **kwargs: Any) -> Any:
            return call

    assert isinstance(Subclassed(), ModifierFactory)
    assert isinstance(DuckTyped(), ModifierFactory)
    assert not isinstance(print, ModifierFactory)


@pytest.mark.parametrize(
    ("path", "name", "ours"),
    [
        ("mediator.common.registry", "CollisionHandlerStoreError", "DuplicateHandlerError"),
        ("mediator.common.registry", "LookupHandlerStoreError", "HandlerNotFoundError"),
        ("mediator.common.registry", "InspectionHandlerStoreError", "RegistrationError"),
        ("mediator.common.registry", "HandlerStoreError", "MediatorError"),
        ("mediator.common.factory", "InspectionHandlerFactoryCascadeError", "RegistrationError"),
        ("mediator.common.factory", "IncompatibleHandlerFactoryCascadeError", "RegistrationError"),
        ("mediator.common.factory", "HandlerFactoryCascadeError", "RegistrationError"),
        ("mediator.common.factory", "HandlerFactoryError", "RegistrationError"),
        ("mediator.common.factory", "IncompatibleHandlerFactoryError", "RegistrationError"),
        ("mediator.common.factory", "ConfigHandlerFactoryCascadeError", "ConfigurationError"),
    ],
)
def test_python_mediator_error_names_catch_what_they_meant(path: str, name: str, ours: str) -> None:
    assert getattr(importlib.import_module(path), name) is getattr(mediator.errors, ours)


def test_python_mediator_except_clauses_keep_working() -> None:
    from mediator.common.factory import IncompatibleHandlerFactoryCascadeError
    from mediator.common.registry import CollisionHandlerStoreError, LookupHandlerStoreError

    bus = mediator.LocalRequestBus()

    @bus.register
    async def handler(query: int) -> None: ...

    with pytest.raises(CollisionHandlerStoreError):
        bus.register(handler)
    with pytest.raises(IncompatibleHandlerFactoryCascadeError):
        bus.register(42)
    with pytest.raises(LookupHandlerStoreError):
        bus.execute("no handler").send(None)


def test_importing_mediator_imports_no_broker_client() -> None:
    code = (
        "import sys, mediator; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'redis', 'trio', 'opentelemetry'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_is_exposed() -> None:
    assert isinstance(mediator.__version__, str)


async def test_python_mediator_store_methods() -> None:
    from mediator.common.registry import HandlerEntry

    registry = mediator.RequestHandlerRegistry()

    @registry.register
    async def handler(query: int) -> int:
        return query + 1

    (entry,) = registry
    assert isinstance(entry, HandlerEntry)
    assert entry.stack([]).handler is entry.handler
    bus = mediator.LocalRequestBus()
    bus.add(entry)
    assert await bus.execute(1) == 2
