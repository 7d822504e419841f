"""Handler policies: how the bus finds the callable inside a registered object.

Kept from python-mediator as plain option records.  A bus tries its policies
in order and the first one that applies decides; if it finds a mistake in the
handler, that mistake is reported rather than silently trying the next policy.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import RegistrationError
from ._handler import Handler
from ._inspect import inspect_callable
from ._names import callable_name, type_name

__all__ = [
    "CallableHandlerPolicy",
    "MethodHandlerPolicy",
    "Policy",
    "build_handler",
    "check_policies",
]


@dataclass
class CallableHandlerPolicy:
    """The registered object is the handler: a function, bound method or callable object.

    Args:
        subject_arg: name of the message parameter (default: the first
            parameter); the message is then passed by keyword.
        arg_map: renames keyword arguments of the call to parameter names,
            ``{"call_name": "param_name"}``.
        arg_strict: pass every keyword argument of the call, not only those
            the handler declares.
    """

    subject_arg: str | None = None
    arg_map: dict[str, str] = field(default_factory=dict)
    arg_strict: bool = False

    @property
    def subject_as_keyword(self) -> bool:
        """True when the message is passed by keyword (``subject_arg`` is set)."""
        return bool(self.subject_arg)


@dataclass
class MethodHandlerPolicy:
    """The handler is the method ``name`` of the registered object.

    Args:
        name: the method to call, e.g. ``"handle"``.
        policy: how to read and call that method.
        subtype_of: if given, the policy only applies to instances of these classes.
    """

    name: str
    policy: CallableHandlerPolicy = field(default_factory=CallableHandlerPolicy)
    subtype_of: list[type] = field(default_factory=list)

    @property
    def precises_type(self) -> bool:
        """True when the policy checks the type of the object."""
        return bool(self.subtype_of)


Policy = CallableHandlerPolicy | MethodHandlerPolicy


def check_policies(policies: object, where: str) -> tuple[Policy, ...] | None:
    """Validate a ``policies=`` argument where it is given, not at the first registration."""
    if policies is None:
        return None
    if isinstance(policies, (str, bytes)) or not isinstance(policies, Sequence) or not policies:
        raise RegistrationError(
            f"{where}: policies must be a non-empty list of CallableHandlerPolicy / "
            f"MethodHandlerPolicy objects, got {policies!r}"
        )
    for policy in policies:
        if not isinstance(policy, (CallableHandlerPolicy, MethodHandlerPolicy)):
            raise RegistrationError(
                f"{where}: {policy!r} is not a handler policy; use CallableHandlerPolicy(...) or "
                f"MethodHandlerPolicy(name=...)"
            )
    return tuple(policies)


def build_handler(
    obj: Any,
    policies: Sequence[Policy],
    *,
    thread: bool,
    streams: bool,
    localns: Mapping[str, Any] | None = None,
) -> Handler:
    """Apply the first policy that fits ``obj``."""
    reasons: list[str] = []
    for policy in policies:
        if isinstance(policy, MethodHandlerPolicy):
            shown = f"MethodHandlerPolicy(name={policy.name!r})"
            if policy.subtype_of and not isinstance(obj, tuple(policy.subtype_of)):
                allowed = ", ".join(type_name(t) for t in policy.subtype_of)
                reasons.append(f"{shown}: it is not an instance of {allowed}")
                continue
            method = getattr(obj, policy.name, None)
            if not callable(method):
                reasons.append(f"{shown}: it has no method {policy.name!r}")
                continue
            if isinstance(obj, type):
                raise RegistrationError(
                    f"Cannot register {callable_name(obj)}: it is a class. Register an instance "
                    f"(bus.register({obj.__name__}(...))); {shown} then calls its "
                    f"{policy.name!r} method",
                    handler=callable_name(obj),
                )
            options = policy.policy
        else:
            if not callable(obj):
                reasons.append("CallableHandlerPolicy(): it is not callable")
                continue
            method = obj
            options = policy
        return inspect_callable(
            method,
            obj=obj,
            subject_arg=options.subject_arg,
            arg_map=options.arg_map,
            arg_strict=options.arg_strict,
            thread=thread,
            streams=streams,
            localns=localns,
        )

    shown_obj = callable_name(obj) if callable(obj) or isinstance(obj, type) else repr(obj)
    methods = [
        name
        for name, value in inspect.getmembers(type(obj))
        if not name.startswith("_") and inspect.iscoroutinefunction(value)
    ]
    hint = (
        f" It has the async method(s) {', '.join(map(repr, methods))}: add "
        f"MethodHandlerPolicy(name={methods[0]!r}) to the policies of the bus or registry."
        if methods
        else " Register an async function, or an object with a method named by a "
        "MethodHandlerPolicy of the bus."
    )
    raise RegistrationError(
        f"Cannot register {shown_obj}: no handler policy applies to it ("
        + "; ".join(reasons)
        + ")."
        + hint,
        handler=shown_obj,
    )
