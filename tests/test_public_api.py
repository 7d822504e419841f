"""The public surface: explicit re-exports, and python-mediator's import paths."""

from __future__ import annotations

import importlib
import inspect

import pytest

import mediator

PUBLIC_MODULES = [
    "mediator",
    "mediator.request",
    "mediator.event",
    "mediator.common.factory",
    "mediator.common.modifiers",
    "mediator.common.types",
    "mediator.common.registry",
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


def test_python_mediator_import_paths() -> None:
    from mediator.common.factory import CallableHandlerPolicy, MethodHandlerPolicy
    from mediator.common.modifiers import ModifierFactory, ModifierStack
    from mediator.common.registry import CollisionHandlerStoreError, LookupHandlerStoreError
    from mediator.common.types import ActionCallType, ActionResult, ActionSubject
    from mediator.event import (
        ConfigEventAggregateError,
        EventAggregate,
        EventHandlerRegistry,
        EventPublish,
        EventPublisher,
        LocalEventBus,
    )
    from mediator.request import LocalRequestBus, RequestExecutor, RequestHandlerRegistry

    assert LocalRequestBus is mediator.LocalRequestBus
    assert LocalEventBus is mediator.LocalEventBus
    assert issubclass(LocalRequestBus, RequestExecutor)
    assert issubclass(LocalEventBus, EventPublisher)
    assert issubclass(EventPublisher, EventPublish)
    assert issubclass(CollisionHandlerStoreError, KeyError)
    assert issubclass(LookupHandlerStoreError, LookupError)
    assert issubclass(ConfigEventAggregateError, AssertionError)
    for name in (
        CallableHandlerPolicy,
        MethodHandlerPolicy,
        ModifierFactory,
        ModifierStack,
        ActionCallType,
        ActionResult,
        ActionSubject,
        EventAggregate,
        EventHandlerRegistry,
        RequestHandlerRegistry,
    ):
        assert name is getattr(mediator, getattr(name, "__name__", ""), name)


def test_importing_mediator_imports_no_broker_client() -> None:
    import subprocess
    import sys

    code = "import sys, mediator; print(sorted(m for m in sys.modules if m.split('.')[0] in {'redis', 'trio'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_is_exposed() -> None:
    assert isinstance(mediator.__version__, str)
