"""`JsonCodec`: registered events as compact JSON, compiled once per class from its type hints.

Each class is inspected once (its resolved hints, its fields, its defaults)
into plain functions; encoding and decoding then run those functions only.
Decoding is lenient where evolution needs it (unknown fields are ignored,
missing ones take their defaults) and strict everywhere else: a value of the
wrong type is a `DecodeError` naming the field's path, never a silent
coercion, so that what a consumer decodes is what the producer encoded.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import inspect
import json
import math
import types as _pytypes
import typing
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Union
from uuid import UUID

from .._errors import MediatorError
from .._names import type_name
from ._codec_protocol import Encoded
from ._types import EventTypeError, EventTypes, describe_class

__all__ = [
    "DecodeError",
    "DecodeProblem",
    "EncodeError",
    "FieldTypeError",
    "FieldTypeProblem",
    "JsonCodec",
]

DecodeProblem = Literal["json", "unknown-type", "value", "missing", "construct"]
FieldTypeProblem = Literal[
    "unsupported", "bare", "dict-key", "ambiguous-union", "enum-values", "unresolved", "init"
]

_Fn = Callable[[Any], Any]
_Path = list[str | int]


def _render_path(parts: _Path) -> str:
    text = ""
    for part in reversed(parts):  # collected innermost first, on the way out
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("["):
            text += part
        else:
            text += f".{part}" if text else part
    return text


def _got(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = f"{text[:57]}..."
    return f"{text} ({type_name(type(value))})"


class DecodeError(MediatorError, ValueError):
    """A payload cannot be turned back into its event; the worker dead-letters it.

    Attributes:
        type: the envelope's wire name.
        version: the envelope's version.
        event_type: the class registered under ``type``, if any.
        problem: see `DecodeProblem`.
        path: where in the payload (``"items[2].price"``; ``""`` for the whole payload).
        reason: what was wrong there.
    """

    def __init__(
        self,
        type: str,
        version: int,
        problem: DecodeProblem,
        *,
        event_type: builtins.type | None = None,
        path: str = "",
        reason: str = "",
    ) -> None:
        super().__init__()
        self.type = type
        self.version = version
        self.event_type = event_type
        self.problem: DecodeProblem = problem
        self.path = path
        self.reason = reason
        what = f"Cannot decode {type!r} v{version}"
        if event_type is not None:
            what += f" as {describe_class(event_type)}"
        if path:
            what += f" at {path}"
        tips: dict[DecodeProblem, str] = {
            "json": "the payload is not a JSON object: check the producer's codec and the "
            "envelope's content_type",
            "unknown-type": f"register the class this consumer uses for it: "
            f"types.register(Event, name={type!r}, version={version})",
            "value": "the producer's field has another type than this class's: change a "
            "field's type only together with a new wire name",
            "missing": "give the field a default, so that payloads from producers that lack "
            "it still decode",
            "construct": "the class refused the decoded values (its __init__ or "
            "__post_init__ raised)",
        }
        self._say(f"{what}: {reason}.", tips[problem])


class EncodeError(MediatorError, TypeError, ValueError):
    """An event holds a value its class's annotations do not allow, or JSON cannot carry.

    Attributes:
        event_type: the event's class.
        path: the field (``"items[2].price"``).
        reason: what was wrong there.
    """

    def __init__(self, event_type: type, *, path: str, reason: str) -> None:
        super().__init__()
        self.event_type = event_type
        self.path = path
        self.reason = reason
        at = f" at {path}" if path else ""
        self._say(
            f"Cannot encode {describe_class(event_type)}{at}: {reason}.",
            "give each field a value of its annotated type; a datetime needs a time zone "
            "(datetime.now(timezone.utc)), and a float must be finite",
        )


class FieldTypeError(MediatorError, TypeError):
    """A class's field has a type `JsonCodec` cannot encode losslessly; found before any message.

    Attributes:
        event_type: the registered class being compiled.
        owner: the class whose field it is (``event_type`` or a class nested in it).
        field: the field's name (``None`` when the class itself is the problem).
        annotation: the part of the annotation that is not supported.
        problem: see `FieldTypeProblem`.
        detail: more about it.
    """

    def __init__(
        self,
        problem: FieldTypeProblem,
        *,
        event_type: type,
        owner: type,
        field: str | None,
        annotation: object,
        detail: str = "",
    ) -> None:
        super().__init__()
        self.problem: FieldTypeProblem = problem
        self.event_type = event_type
        self.owner = owner
        self.field = field
        self.annotation = annotation
        self.detail = detail
        ann = _show_annotation(annotation)
        where = describe_class(owner)
        if field is not None:
            name = where.split(" (", 1)
            where = f"{name[0]}.{field}" + (f" ({name[1]}" if len(name) > 1 else "")
        what, tip = {
            "unsupported": (
                f"{ann} is not supported",
                "use str, int, float, bool, None, datetime, date, UUID, Decimal, an Enum, a "
                "dataclass or annotated class, list[T], tuple[T, ...], dict[str, T], "
                "Literal[...] or a union of those",
            ),
            "bare": (
                f"{ann} does not say what it holds",
                f"name the items' type, e.g. {ann}[int]",
            ),
            "dict-key": (
                f"{ann} has keys that are not str",
                "JSON object keys are strings: use dict[str, T]",
            ),
            "ambiguous-union": (
                f"the members of {ann} could not be told apart when decoding ({detail})",
                "keep at most one member per JSON kind (string, number, array, object); "
                "classes in one union need a Literal field with a value of their own, e.g. "
                "kind: Literal['card'] = 'card'",
            ),
            "enum-values": (
                f"{ann} has values that are not all str or all int ({detail})",
                "give the enum str or int values",
            ),
            "unresolved": (
                f"its annotations cannot be resolved ({detail})",
                "define or import the names the annotations use at module level",
            ),
            "init": (
                f"decoding cannot call it: {detail}",
                "accept every annotated field as a keyword argument of __init__, or use a "
                "dataclass",
            ),
        }[problem]
        line = f"JsonCodec cannot encode {where}: {what}"
        if owner is not event_type:
            line += f" (inside the event {type_name(event_type)})"
        self._say(line + ".", tip)


def _show_annotation(annotation: object) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return type_name(annotation)
    return repr(annotation).replace("typing.", "")


class _Fail(Exception):
    """Inside the compiled functions: what failed, and the path gathered on the way out."""

    def __init__(self, reason: str, *, missing: bool = False, construct: bool = False) -> None:
        self.reason = reason
        self.missing = missing
        self.construct = construct
        self.path: _Path = []


# -- leaves ---------------------------------------------------------------------------------

_NoneType = type(None)


def _enc_str(v: Any) -> Any:
    if isinstance(v, str):
        return v
    raise _Fail(f"expected a str, got {_got(v)}")


def _dec_str(v: Any) -> Any:
    if type(v) is str:
        return v
    raise _Fail(f"expected a string, got {_got(v)}")


def _enc_int(v: Any) -> Any:
    if type(v) is int:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise _Fail(f"expected an int, got {_got(v)}")


def _dec_int(v: Any) -> Any:
    if type(v) is int:
        return v
    raise _Fail(f"expected an integer, got {_got(v)}")


def _enc_float(v: Any) -> Any:
    if type(v) is float or (isinstance(v, int | float) and not isinstance(v, bool)):
        try:
            number = float(v)
        except OverflowError:
            raise _Fail(f"{_got(v)} is too large for a float") from None
        if math.isfinite(number):
            return number
        raise _Fail(f"JSON has no {number}: only finite floats can be encoded")
    raise _Fail(f"expected a float, got {_got(v)}")


def _dec_float(v: Any) -> Any:
    if type(v) is float:
        return v
    if type(v) is int:
        try:
            return float(v)
        except OverflowError:
            pass
    raise _Fail(f"expected a number, got {_got(v)}")


def _enc_bool(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    raise _Fail(f"expected a bool, got {_got(v)}")


def _dec_bool(v: Any) -> Any:
    if type(v) is bool:
        return v
    raise _Fail(f"expected true or false, got {_got(v)}")


def _enc_none(v: Any) -> Any:
    if v is None:
        return None
    raise _Fail(f"expected None, got {_got(v)}")


def _dec_none(v: Any) -> Any:
    if v is None:
        return None
    raise _Fail(f"expected null, got {_got(v)}")


def _enc_datetime(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.utcoffset() is None:
            raise _Fail(f"a naive datetime has no time zone: {v.isoformat()!r}")
        return v.isoformat()
    raise _Fail(f"expected a datetime, got {_got(v)}")


def _dec_datetime(v: Any) -> Any:
    if type(v) is str:
        try:
            value = datetime.fromisoformat(v)
        except ValueError:
            pass
        else:
            if value.utcoffset() is not None:
                return value
            raise _Fail(f"the datetime {v!r} has no time zone offset")
    raise _Fail(f"expected an ISO 8601 datetime string, got {_got(v)}")


def _enc_date(v: Any) -> Any:
    if isinstance(v, date) and not isinstance(v, datetime):
        return v.isoformat()
    raise _Fail(f"expected a date, got {_got(v)}")


def _parsed(parse: Callable[[str], Any], failure: type[Exception], expected: str) -> _Fn:
    """A decoder for values sent as a string that ``parse`` turns back into the value."""

    def decode(v: Any) -> Any:
        if type(v) is str:
            try:
                return parse(v)
            except failure:
                pass
        raise _Fail(f"expected {expected}, got {_got(v)}")

    return decode


def _as_string(kind: type, name: str) -> _Fn:
    """An encoder for values of ``kind`` sent as ``str(value)``."""

    def encode(v: Any) -> Any:
        if isinstance(v, kind):
            return str(v)
        raise _Fail(f"expected {name}, got {_got(v)}")

    return encode


_dec_date = _parsed(date.fromisoformat, ValueError, "an ISO 8601 date string")
_enc_uuid = _as_string(UUID, "a UUID")
_dec_uuid = _parsed(UUID, ValueError, "a UUID string")
_enc_decimal = _as_string(Decimal, "a Decimal")
_dec_decimal = _parsed(Decimal, InvalidOperation, "a string holding a decimal")


# (encode, decode, JSON kinds it decodes from, Python check used to pick a union member)
_Leaf = tuple[_Fn, _Fn, frozenset[type], _Fn]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_date(v: Any) -> bool:
    return isinstance(v, date) and not isinstance(v, datetime)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_LEAVES: dict[object, _Leaf] = {
    str: (_enc_str, _dec_str, frozenset({str}), lambda v: isinstance(v, str)),
    int: (_enc_int, _dec_int, frozenset({int}), _is_int),
    float: (_enc_float, _dec_float, frozenset({float}), _is_number),
    bool: (_enc_bool, _dec_bool, frozenset({bool}), lambda v: isinstance(v, bool)),
    _NoneType: (_enc_none, _dec_none, frozenset({_NoneType}), lambda v: v is None),
    None: (_enc_none, _dec_none, frozenset({_NoneType}), lambda v: v is None),
    datetime: (_enc_datetime, _dec_datetime, frozenset({str}), lambda v: isinstance(v, datetime)),
    date: (_enc_date, _dec_date, frozenset({str}), _is_date),
    UUID: (_enc_uuid, _dec_uuid, frozenset({str}), lambda v: isinstance(v, UUID)),
    Decimal: (_enc_decimal, _dec_decimal, frozenset({str}), lambda v: isinstance(v, Decimal)),
}

_BARE = {list: "list", tuple: "tuple", dict: "dict"}


# -- containers -------------------------------------------------------------------------------


def _each(fn: _Fn, items: Iterable[Any], failure: _Fail) -> _Fail:
    """Find which item failed (the fast path ran a comprehension, which has no index)."""
    for index, item in enumerate(items):
        try:
            fn(item)
        except _Fail as found:
            found.path.append(index)
            return found
    return failure


def _list(enc: _Fn, dec: _Fn) -> tuple[_Fn, _Fn]:
    def encode(v: Any) -> Any:
        if not isinstance(v, list):
            raise _Fail(f"expected a list, got {_got(v)}")
        try:
            return [enc(item) for item in v]
        except _Fail as failure:
            raise _each(enc, v, failure) from None

    def decode(v: Any) -> Any:
        if type(v) is not list:
            raise _Fail(f"expected an array, got {_got(v)}")
        try:
            return [dec(item) for item in v]
        except _Fail as failure:
            raise _each(dec, v, failure) from None

    return encode, decode


def _tuple_of(enc: _Fn, dec: _Fn) -> tuple[_Fn, _Fn]:
    def encode(v: Any) -> Any:
        if not isinstance(v, tuple):
            raise _Fail(f"expected a tuple, got {_got(v)}")
        try:
            return [enc(item) for item in v]
        except _Fail as failure:
            raise _each(enc, v, failure) from None

    def decode(v: Any) -> Any:
        if type(v) is not list:
            raise _Fail(f"expected an array, got {_got(v)}")
        try:
            return tuple([dec(item) for item in v])
        except _Fail as failure:
            raise _each(dec, v, failure) from None

    return encode, decode


def _fixed_tuple(encs: list[_Fn], decs: list[_Fn]) -> tuple[_Fn, _Fn]:
    size = len(encs)

    def encode(v: Any) -> Any:
        if not isinstance(v, tuple) or len(v) != size:
            raise _Fail(f"expected a tuple of {size} items, got {_got(v)}")
        out = []
        for index, (fn, item) in enumerate(zip(encs, v, strict=True)):
            try:
                out.append(fn(item))
            except _Fail as failure:
                failure.path.append(index)
                raise
        return out

    def decode(v: Any) -> Any:
        if type(v) is not list or len(v) != size:
            raise _Fail(f"expected an array of {size} items, got {_got(v)}")
        out = []
        for index, (fn, item) in enumerate(zip(decs, v, strict=True)):
            try:
                out.append(fn(item))
            except _Fail as failure:
                failure.path.append(index)
                raise
        return tuple(out)

    return encode, decode


def _dict(enc: _Fn, dec: _Fn) -> tuple[_Fn, _Fn]:
    def encode(v: Any) -> Any:
        if not isinstance(v, dict):
            raise _Fail(f"expected a dict, got {_got(v)}")
        out = {}
        for key, item in v.items():
            if not isinstance(key, str):
                raise _Fail(f"a key is not a str: {_got(key)}")
            try:
                out[key] = enc(item)
            except _Fail as failure:
                failure.path.append(f"[{key!r}]")
                raise
        return out

    def decode(v: Any) -> Any:
        if type(v) is not dict:
            raise _Fail(f"expected an object, got {_got(v)}")
        out = {}
        for key, item in v.items():
            try:
                out[key] = dec(item)
            except _Fail as failure:
                failure.path.append(f"[{key!r}]")
                raise
        return out

    return encode, decode


def _union(members: list[tuple[_Fn, _Fn, _Fn]], by_kind: dict[type, _Fn], shown: str) -> _Leaf:
    """Encode with the first member whose Python check passes; decode by the JSON kind."""

    def encode(v: Any) -> Any:
        for check, enc, _ in members:
            if check(v):
                return enc(v)
        raise _Fail(f"expected {shown}, got {_got(v)}")

    def decode(v: Any) -> Any:
        dec = by_kind.get(type(v))
        if dec is None:
            raise _Fail(f"expected {shown}, got {_got(v)}")
        return dec(v)

    def check(v: Any) -> bool:
        return any(member_check(v) for member_check, _, _ in members)

    return encode, decode, frozenset(by_kind), check


def _tagged(tag: str, table: dict[tuple[type, object], _Fn], shown: str) -> _Fn:
    """Decode an object with the class its ``tag`` field names."""
    expected = ", ".join(sorted(repr(value) for _, value in table))

    def decode(v: Any) -> Any:
        if type(v) is not dict:
            raise _Fail(f"expected {shown}, got {_got(v)}")
        value = v.get(tag)
        try:
            dec = table.get((type(value), value))
        except TypeError:  # an array or object: no tag
            dec = None
        if dec is None:
            reason = f"expected one of {expected} to tell {shown} apart, got {_got(value)}"
            failure = _Fail(reason, missing=tag not in v)
            failure.path.append(tag)
            raise failure
        return dec(v)

    return decode


def _plan_of(leaf: _Leaf) -> _ClassPlan | None:
    owner = getattr(leaf[3], "__self__", None)  # a class's check is its plan's bound method
    return owner if isinstance(owner, _ClassPlan) else None


# -- classes ----------------------------------------------------------------------------------


class _ClassPlan:
    """One class's fields and their functions; filled after creation, so a class may nest itself."""

    __slots__ = ("cls", "decoders", "encoders")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.encoders: list[tuple[str, _Fn]] = []
        self.decoders: list[tuple[str, _Fn, bool]] = []

    def encode(self, obj: Any) -> Any:
        if type(obj) is not self.cls:
            raise _Fail(f"expected {type_name(self.cls)}, got {_got(obj)}")
        out = {}
        for name, enc in self.encoders:
            try:
                out[name] = enc(getattr(obj, name))
            except _Fail as failure:
                failure.path.append(name)
                raise
            except AttributeError:
                absent = _Fail("the object has no such attribute")
                absent.path.append(name)
                raise absent from None
        return out

    def decode(self, data: Any) -> Any:
        if type(data) is not dict:
            raise _Fail(f"expected an object, got {_got(data)}")
        kwargs = {}
        for name, dec, required in self.decoders:
            if name in data:
                try:
                    kwargs[name] = dec(data[name])
                except _Fail as failure:
                    failure.path.append(name)
                    raise
            elif required:
                missing = _Fail("the field is missing and has no default", missing=True)
                missing.path.append(name)
                raise missing
        try:
            return self.cls(**kwargs)
        except Exception as error:
            raise _Fail(
                f"{type_name(self.cls)}(...) raised {type(error).__name__}: {error}",
                construct=True,
            ) from error

    def check(self, v: Any) -> bool:
        return type(v) is self.cls


class _Compiler:
    """Turns annotations into functions, for one registered class at a time."""

    def __init__(self, plans: dict[type, _ClassPlan], event_type: type) -> None:
        self.plans = plans
        self.event_type = event_type

    def fail(
        self,
        problem: FieldTypeProblem,
        owner: type,
        field: str | None,
        annotation: object,
        detail: str = "",
    ) -> FieldTypeError:
        return FieldTypeError(
            problem,
            event_type=self.event_type,
            owner=owner,
            field=field,
            annotation=annotation,
            detail=detail,
        )

    def plan(self, cls: type) -> _ClassPlan:
        known = self.plans.get(cls)
        if known is not None:
            return known
        plan = self.plans[cls] = _ClassPlan(cls)
        for name, annotation, required in self.fields(cls):
            enc, dec, _, _ = self.compile(annotation, cls, name)
            plan.encoders.append((name, enc))
            plan.decoders.append((name, dec, required))
        return plan

    def fields(self, cls: type) -> list[tuple[str, object, bool]]:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as error:  # NameError for an undefined name, and worse
            raise self.fail(
                "unresolved", cls, None, cls, f"{type(error).__name__}: {error}"
            ) from error
        if dataclasses.is_dataclass(cls):
            return [
                (
                    f.name,
                    hints.get(f.name, Any),
                    f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                )
                for f in dataclasses.fields(cls)
                if f.init
            ]
        names_of_tuple = getattr(cls, "_fields", None)
        if issubclass(cls, tuple) and isinstance(names_of_tuple, tuple):
            defaults = getattr(cls, "_field_defaults", {})
            return [(name, hints.get(name, Any), name not in defaults) for name in names_of_tuple]
        names = [
            name
            for name, hint in hints.items()
            if hint is not typing.ClassVar and typing.get_origin(hint) is not typing.ClassVar
        ]
        try:
            parameters = inspect.signature(cls).parameters
        except (TypeError, ValueError) as error:
            raise self.fail("init", cls, None, cls, f"no signature: {error}") from None
        any_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        fields = []
        for name in names:
            parameter = parameters.get(name)
            if parameter is None and any_keyword:
                fields.append((name, hints[name], False))
            elif parameter is None or parameter.kind is parameter.POSITIONAL_ONLY:
                raise self.fail("init", cls, name, hints[name], f"__init__ does not take {name}=")
            else:
                fields.append((name, hints[name], parameter.default is parameter.empty))
        for parameter in parameters.values():
            if (
                parameter.name not in hints
                and parameter.default is parameter.empty
                and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            ):
                raise self.fail(
                    "init",
                    cls,
                    None,
                    cls,
                    f"__init__ requires {parameter.name}, which is not an annotated field",
                )
        return fields

    def compile(self, annotation: object, owner: type, field: str | None) -> _Leaf:
        tp = annotation
        while True:  # Annotated[T, ...] and NewType stand for T
            if typing.get_origin(tp) is typing.Annotated:
                tp = typing.get_args(tp)[0]
            elif callable(tp) and hasattr(tp, "__supertype__"):
                tp = tp.__supertype__
            else:
                break
        try:
            leaf = _LEAVES.get(tp)
        except TypeError:  # unhashable: not a type at all
            raise self.fail("unsupported", owner, field, tp) from None
        if leaf is not None:
            return leaf
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Union or origin is _pytypes.UnionType:
            return self.union(tp, args, owner, field)
        if origin is Literal:
            return self.literal(tp, args, owner, field)
        if origin is list and len(args) == 1:
            enc, dec, _, _ = self.compile(args[0], owner, field)
            return (*_list(enc, dec), frozenset({list}), lambda v: isinstance(v, list))
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                enc, dec, _, _ = self.compile(args[0], owner, field)
                pair = _tuple_of(enc, dec)
            else:
                parts = [self.compile(arg, owner, field) for arg in args if arg != ()]
                pair = _fixed_tuple([p[0] for p in parts], [p[1] for p in parts])
            return (*pair, frozenset({list}), lambda v: isinstance(v, tuple))
        if origin is dict and len(args) == 2:
            if args[0] is not str:
                raise self.fail("dict-key", owner, field, tp)
            enc, dec, _, _ = self.compile(args[1], owner, field)
            return (*_dict(enc, dec), frozenset({dict}), lambda v: isinstance(v, dict))
        if tp in _BARE:
            raise self.fail("bare", owner, field, tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.enum(tp, owner, field)
        if isinstance(tp, type) and self.is_record(tp):
            plan = self.plan(tp)
            return plan.encode, plan.decode, frozenset({dict}), plan.check
        raise self.fail("unsupported", owner, field, tp)

    def is_record(self, tp: type) -> bool:
        if tp.__module__ == "builtins" or _is_generic(tp):
            return False
        if dataclasses.is_dataclass(tp) or tp is self.event_type or tp in self.plans:
            return True
        return any("__annotations__" in vars(base) for base in tp.__mro__[:-1])

    def enum(self, tp: type[enum.Enum], owner: type, field: str | None) -> _Leaf:
        values = [member.value for member in tp]
        if all(isinstance(v, str) for v in values):
            kind: type = str
        elif all(type(v) is int for v in values):
            kind = int
        else:
            shown = ", ".join(_got(v) for v in values[:3])
            raise self.fail("enum-values", owner, field, tp, shown)
        name = type_name(tp)

        def encode(v: Any) -> Any:
            if isinstance(v, tp):
                return v.value
            raise _Fail(f"expected a member of {name}, got {_got(v)}")

        def decode(v: Any) -> Any:
            if type(v) is kind:
                try:
                    return tp(v)
                except ValueError:
                    pass
            raise _Fail(f"expected a value of {name}, got {_got(v)}")

        return encode, decode, frozenset({kind}), lambda v: isinstance(v, tp)

    def literal(self, tp: object, args: tuple[Any, ...], owner: type, field: str | None) -> _Leaf:
        if not all(type(v) in (str, int, bool, _NoneType) for v in args):
            raise self.fail("unsupported", owner, field, tp, "Literal of str, int, bool or None")
        allowed = frozenset((type(v), v) for v in args)
        shown = _show_annotation(tp)

        def encode(v: Any) -> Any:
            if (type(v), v) in allowed:
                return v
            raise _Fail(f"expected {shown}, got {_got(v)}")

        def check(v: Any) -> bool:
            try:
                return (type(v), v) in allowed
            except TypeError:
                return False

        return encode, encode, frozenset(type(v) for v in args), check

    def union(self, tp: object, args: tuple[Any, ...], owner: type, field: str | None) -> _Leaf:
        leaves = [(arg, self.compile(arg, owner, field)) for arg in args]
        by_kind: dict[type, _Fn] = {}
        who: dict[type, str] = {}  # which member took a JSON kind, as shown in errors
        records = [(arg, leaf) for arg, leaf in leaves if _plan_of(leaf) is not None]
        if len(records) > 1:  # JSON objects all: a Literal field must tell the classes apart
            classes = [_plan_of(leaf).cls for _, leaf in records]  # type: ignore[union-attr]
            found = self.discriminator(classes)
            if found is None:
                detail = (
                    f"{' and '.join(_show_annotation(arg) for arg, _ in records)} are all "
                    "decoded from a JSON object, and no Literal field they share tells them apart"
                )
                raise self.fail("ambiguous-union", owner, field, tp, detail)
            tag, tag_values = found
            table = {
                value: leaf[1]
                for (_, leaf), values in zip(records, tag_values, strict=True)
                for value in values
            }
            shown = " | ".join(_show_annotation(arg) for arg, _ in records)
            by_kind[dict] = _tagged(tag, table, shown)
            who[dict] = shown
            leaves_by_kind = [(arg, leaf) for arg, leaf in leaves if _plan_of(leaf) is None]
        else:
            leaves_by_kind = leaves
        for arg, (_, dec, kinds, _) in leaves_by_kind:
            for kind in kinds:
                if kind in by_kind:
                    detail = (
                        f"{who[kind]} and {_show_annotation(arg)} are both "
                        f"decoded from a JSON {_KIND_NAMES[kind]}"
                    )
                    raise self.fail("ambiguous-union", owner, field, tp, detail)
                by_kind[kind] = dec
                who[kind] = _show_annotation(arg)
        if float in by_kind and int not in by_kind:  # a float member takes JSON integers too
            by_kind[int] = by_kind[float]
        # Python checks overlap where JSON kinds do not (bool is an int, an int fits a float):
        # try the narrow ones first.
        order = sorted(leaves, key=lambda leaf: _CHECK_ORDER.get(leaf[0], 0))
        members = [(check, enc, dec) for _, (enc, dec, _, check) in order]
        return _union(members, by_kind, _show_annotation(tp))

    def discriminator(
        self, classes: list[type]
    ) -> tuple[str, list[frozenset[tuple[type, object]]]] | None:
        """The first Literal field of all ``classes`` whose values differ from class to class."""
        tags: list[dict[str, frozenset[tuple[type, object]]]] = []
        for cls in classes:
            found = {}
            for name, annotation, _ in self.fields(cls):
                while typing.get_origin(annotation) is typing.Annotated:
                    annotation = typing.get_args(annotation)[0]
                if typing.get_origin(annotation) is Literal:
                    found[name] = frozenset((type(v), v) for v in typing.get_args(annotation))
            tags.append(found)
        for name in tags[0]:
            if all(name in found for found in tags):
                values = [found[name] for found in tags]
                if len(frozenset().union(*values)) == sum(len(v) for v in values):
                    return name, values
        return None


_KIND_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    _NoneType: "null",
    list: "array",
    dict: "object",
}
_CHECK_ORDER: dict[object, int] = {bool: -1, int: 1, float: 2}


def _is_generic(tp: type) -> bool:
    """Whether ``tp`` is a parametrized generic such as ``list[int]`` passed as a class."""
    return typing.get_origin(tp) is not None


_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
).encode
_dumps_ascii = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, check_circular=False, separators=(",", ":")
).encode


def _refuse_constant(name: str) -> object:
    raise ValueError(f"JSON has no {name}")


#: One decoder for every call: ``json.loads`` with an option builds a new one each time.
_decode_json = json.JSONDecoder(parse_constant=_refuse_constant).decode


def _loads(payload: bytes) -> Any:
    """UTF-8 only (RFC 8259 for JSON between systems): no encoding to detect."""
    return _decode_json(payload.decode())


class JsonCodec:
    """Registered events as compact UTF-8 JSON objects, fields in their declared order.

    Supported field types: str, int, float (finite), bool, None, datetime (with
    a time zone; ISO 8601, the offset kept), date, UUID, Decimal (as a string,
    exactly), Enum (by value), Literal, nested dataclasses, NamedTuples and
    annotated classes, list[T], tuple[T, ...], fixed tuples, dict[str, T], and
    unions whose members decode from different JSON kinds.

    Decoding ignores unknown fields and gives missing ones their defaults, so a
    producer may add a field (with a default) before its consumers know it.
    The version is carried, not checked: any version decodes into the
    registered class.
    """

    content_type = "application/json"

    def __init__(self, types: EventTypes) -> None:
        self.types = types
        self._plans: dict[type, _ClassPlan] = {}
        self._encoders: dict[type, tuple[str, int, _Fn]] = {}
        self._decoders: dict[str, tuple[type, _Fn]] = {}

    def __repr__(self) -> str:
        return f"JsonCodec({self.types!r})"

    def check(self, classes: Iterable[type] | None = None) -> None:
        """Compile ``classes`` (default: every registered class) now, raising what encode would.

        An `EventTypeError` lists the classes not registered; a `FieldTypeError`
        names a field whose type is not supported.
        """
        wanted = list(self.types) if classes is None else list(classes)
        self.types.check(wanted)
        for cls in wanted:
            self._plan(cls)

    def _plan(self, cls: type) -> _ClassPlan:
        plan = self._plans.get(cls)
        if plan is not None:
            return plan
        before = dict(self._plans)
        try:
            return _Compiler(self._plans, cls).plan(cls)
        except BaseException:  # leave no half-compiled class behind
            self._plans.clear()
            self._plans.update(before)
            raise

    def encode(self, event: object) -> Encoded:
        """Raise `EventTypeError` if the class is not registered, `EncodeError` for a bad value."""
        cls = type(event)
        entry = self._encoders.get(cls)
        if entry is None:
            name, version = self.types.name_of(cls)
            entry = self._encoders[cls] = (name, version, self._plan(cls).encode)
        name, version, encode = entry
        try:
            data = encode(event)
        except _Fail as failure:
            raise EncodeError(cls, path=_render_path(failure.path), reason=failure.reason) from None
        try:
            text = _dumps(data)
            payload = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: escaped, it still round-trips
            payload = _dumps_ascii(data).encode()
        return Encoded(name, version, payload)

    def decode(self, type: str, version: int, payload: bytes) -> object:
        """Raise `DecodeError` (type, version, path and reason) if it cannot be decoded."""
        entry = self._decoders.get(type)
        if entry is None:
            try:
                cls = self.types.class_of(type)
            except EventTypeError:
                raise DecodeError(
                    type, version, "unknown-type", reason="no event type is registered so"
                ) from None
            entry = self._decoders[type] = (cls, self._plan(cls).decode)
        cls, decode = entry
        try:
            data = _loads(payload)
        except (ValueError, TypeError) as error:  # JSONDecodeError, UnicodeDecodeError
            raise DecodeError(
                type, version, "json", event_type=cls, reason=f"{error.__class__.__name__}: {error}"
            ) from None
        try:
            return decode(data)
        except _Fail as failure:
            problem: DecodeProblem = (
                "missing" if failure.missing else "construct" if failure.construct else "value"
            )
            raise DecodeError(
                type,
                version,
                problem,
                event_type=cls,
                path=_render_path(failure.path),
                reason=failure.reason,
            ) from failure.__cause__
