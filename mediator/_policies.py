"""Handler policies: where the bus finds the handler inside a registered object.

python-mediator's option records, applied by `mediator._inspect`: a bus tries
its policies in order and the first one that applies decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallableHandlerPolicy", "MethodHandlerPolicy", "Policy"]


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


#: What ``policies=`` takes.
Policy = CallableHandlerPolicy | MethodHandlerPolicy
