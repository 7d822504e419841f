"""EventTypes and JsonCodec: wire names, lossless round trips, evolution, and every error."""

import json
import math
import pickle
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Annotated, Literal, NamedTuple, NewType, Optional
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.errors import MediatorError
from mediator.transports import Codec
from mediator.transports._codec import DecodeError, EncodeError, FieldTypeError, JsonCodec
from mediator.transports._types import EventTypeError, EventTypes

M = __name__  # how this module's classes are named in messages

# -- the classes ------------------------------------------------------------------------------


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


Sku = NewType("Sku", str)


@dataclass(frozen=True)
class Line:
    sku: Sku
    price: Decimal
    quantity: int = 1


class Point(NamedTuple):
    x: float
    y: float = 0.0


class Address:
    """An annotated class, not a dataclass."""

    street: str
    zip_code: str | None

    def __init__(self, street: str, zip_code: str | None = None) -> None:
        self.street = street
        self.zip_code = zip_code

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Address({self.street!r}, {self.zip_code!r})"


@dataclass(frozen=True)
class OrderPlaced:
    order_id: UUID
    placed_at: datetime
    ships_on: date
    customer: str
    lines: list[Line]
    totals: dict[str, Decimal]
    color: Color
    priority: Priority
    where: Point
    address: Address
    note: str | None = None
    weight: float = 0.0
    paid: bool = False
    code: int | str = 0
    pair: tuple[int, str] = (0, "")
    history: tuple[Color, ...] = ()
    channel: Literal["web", "shop"] = "web"
    label: Annotated[str, "a label"] = ""
    gift: Line | None = None
    nested: dict[str, list[int | None]] = field(default_factory=dict)


@dataclass
class Tree:
    """A class that contains itself."""

    name: str
    children: list["Tree"] = field(default_factory=list)


def make_types() -> EventTypes:
    types = EventTypes()
    types.register(OrderPlaced, name="orders.placed", version=2)

    @types.register(name="trees.grown")
    @dataclass
    class _Local:  # a decorated class keeps its identity
        pass

    types.register(Tree, name="trees.tree")
    return types


# -- strategies -------------------------------------------------------------------------------

offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(timezones=offsets)
decimals = st.decimals(allow_nan=False)
floats = st.floats(allow_nan=False, allow_infinity=False)
lines = st.builds(Line, sku=st.text().map(Sku), price=decimals, quantity=st.integers())
addresses = st.builds(Address, street=st.text(), zip_code=st.none() | st.text(max_size=10))
orders = st.builds(
    OrderPlaced,
    order_id=st.uuids(),
    placed_at=aware,
    ships_on=st.dates(),
    customer=st.text(),
    lines=st.lists(lines, max_size=4),
    totals=st.dictionaries(st.text(max_size=5), decimals, max_size=3),
    color=st.sampled_from(Color),
    priority=st.sampled_from(Priority),
    where=st.builds(Point, floats, floats),
    address=addresses,
    note=st.none() | st.text(),
    weight=floats,
    paid=st.booleans(),
    code=st.integers() | st.text(),
    pair=st.tuples(st.integers(), st.text()),
    history=st.lists(st.sampled_from(Color), max_size=3).map(tuple),
    channel=st.sampled_from(["web", "shop"]),
    label=st.text(),
    gift=st.none() | lines,
    nested=st.dictionaries(
        st.text(max_size=3), st.lists(st.none() | st.integers(), max_size=3), max_size=3
    ),
)
trees = st.recursive(
    st.builds(Tree, name=st.text(max_size=3)),
    lambda inner: st.builds(Tree, name=st.text(max_size=3), children=st.lists(inner, max_size=3)),
    max_leaves=8,
)


# -- round trips ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(orders)
def test_orders_round_trip_losslessly(order: OrderPlaced) -> None:
    codec = JsonCodec(make_types())
    encoded = codec.encode(order)
    assert (encoded.type, encoded.version) == ("orders.placed", 2)
    decoded = codec.decode(encoded.type, encoded.version, encoded.payload)
    assert decoded == order
    assert isinstance(decoded, OrderPlaced)
    assert decoded.placed_at.utcoffset() == order.placed_at.utcoffset()  # the offset is kept
    assert type(decoded.code) is type(order.code) and type(decoded.paid) is bool
    assert [str(line.price) for line in decoded.lines] == [str(x.price) for x in order.lines]
    assert codec.encode(decoded).payload == encoded.payload  # exact, both ways


@settings(max_examples=30, deadline=None)
@given(trees)
def test_a_class_that_contains_itself_round_trips(tree: Tree) -> None:
    codec = JsonCodec(make_types())
    encoded = codec.encode(tree)
    assert codec.decode(encoded.type, encoded.version, encoded.payload) == tree


def sample() -> OrderPlaced:
    return OrderPlaced(
        order_id=UUID("12345678-1234-5678-1234-567812345678"),
        placed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ships_on=date(2026, 1, 3),
        customer="Zoë 🚲",
        lines=[Line(Sku("a"), Decimal("1.10")), Line(Sku("b"), Decimal("2"), 3)],
        totals={"eur": Decimal("5.10")},
        color=Color.RED,
        priority=Priority.HIGH,
        where=Point(1.5),
        address=Address("Main St"),
    )


def test_the_payload_is_compact_utf8_json_in_field_order() -> None:
    codec: Codec = JsonCodec(make_types())
    assert codec.content_type == "application/json"
    payload = codec.encode(sample()).payload
    assert payload == codec.encode(sample()).payload
    assert b" " not in payload.replace("Zoë 🚲".encode(), b"").replace(b"Main St", b"")
    assert "Zoë 🚲".encode() in payload  # not \u-escaped
    data = json.loads(payload)
    assert list(data)[:4] == ["order_id", "placed_at", "ships_on", "customer"]
    assert data["placed_at"] == "2026-01-02T03:04:05+02:00"
    assert data["lines"][0] == {"sku": "a", "price": "1.10", "quantity": 1}
    assert data["color"] == "red" and data["priority"] == 2
    assert data["where"] == {"x": 1.5, "y": 0.0}
    assert data["address"] == {"street": "Main St", "zip_code": None}


def test_a_lone_surrogate_still_round_trips() -> None:
    codec = JsonCodec(make_types())
    order = OrderPlaced(**{**vars(sample()), "customer": "\ud800x"})
    encoded = codec.encode(order)
    encoded.payload.decode("utf-8")  # valid UTF-8: the surrogate is escaped
    assert codec.decode(encoded.type, encoded.version, encoded.payload) == order


def test_an_integer_in_a_float_field_decodes_as_a_float() -> None:
    codec = JsonCodec(make_types())
    payload = codec.encode(sample()).payload.replace(b'"x":1.5', b'"x":2')
    decoded = codec.decode("orders.placed", 2, payload)
    assert isinstance(decoded, OrderPlaced)
    assert decoded.where.x == 2.0 and type(decoded.where.x) is float


# -- evolution --------------------------------------------------------------------------------


@dataclass
class PlacedV1:
    order_id: int


@dataclass
class PlacedV2:
    order_id: int
    coupon: str | None = None
    tags: list[str] = field(default_factory=list)


def test_a_consumer_ignores_fields_a_newer_producer_added() -> None:
    producer, consumer = EventTypes(), EventTypes()
    producer.register(PlacedV2, name="orders.placed", version=2)
    consumer.register(PlacedV1, name="orders.placed", version=1)
    encoded = JsonCodec(producer).encode(PlacedV2(7, "SPRING", ["a"]))
    decoded = JsonCodec(consumer).decode(encoded.type, encoded.version, encoded.payload)
    assert decoded == PlacedV1(7)


def test_a_consumer_defaults_fields_an_older_producer_lacks() -> None:
    producer, consumer = EventTypes(), EventTypes()
    producer.register(PlacedV1, name="orders.placed", version=1)
    consumer.register(PlacedV2, name="orders.placed", version=2)
    encoded = JsonCodec(producer).encode(PlacedV1(7))
    decoded = JsonCodec(consumer).decode(encoded.type, encoded.version, encoded.payload)
    assert decoded == PlacedV2(7, None, [])


# -- the registry -----------------------------------------------------------------------------


def test_registering_by_call_and_by_decorator() -> None:
    types = EventTypes()
    assert types.register(PlacedV1, name="orders.placed", version=1) is PlacedV1
    assert types.register(PlacedV1, name="orders.placed", version=1) is PlacedV1  # again: no-op
    decorate = types.register(name="orders.changed", version=3)
    assert decorate(PlacedV2) is PlacedV2
    assert types.name_of(PlacedV1) == ("orders.placed", 1)
    assert types.name_of(PlacedV2) == ("orders.changed", 3)
    assert types.class_of("orders.changed") is PlacedV2
    assert PlacedV1 in types and "orders.placed" in types and Tree not in types
    assert [] not in types
    assert len(types) == 2 and list(types) == [PlacedV1, PlacedV2]
    assert repr(types) == "EventTypes({'orders.placed': v1, 'orders.changed': v3})"
    types.check([PlacedV1, PlacedV2])


@pytest.mark.parametrize("name", ["", " ", "orders placed", "orders.placed\n", 3, None])
def test_a_name_that_is_not_a_wire_name_is_refused(name: object) -> None:
    types = EventTypes()
    with pytest.raises(EventTypeError) as caught:
        types.register(PlacedV1, name=name, version=1)  # type: ignore[arg-type]
    error = caught.value
    assert (error.problem, error.event_type, error.name) == ("name", PlacedV1, name)
    assert isinstance(error, MediatorError) and isinstance(error, TypeError)
    assert len(types) == 0


@pytest.mark.parametrize("version", [0, -1, True, 1.0, "1"])
def test_a_version_that_is_not_a_positive_int_is_refused(version: object) -> None:
    with pytest.raises(EventTypeError) as caught:
        EventTypes().register(PlacedV1, name="a", version=version)  # type: ignore[arg-type]
    assert (caught.value.problem, caught.value.version) == ("version", version)


def test_registration_errors_read_well() -> None:
    types = EventTypes()
    types.register(PlacedV1, name="orders.placed", version=1)
    with pytest.raises(EventTypeError) as caught:
        types.register(PlacedV2, name="orders.placed", version=2)
    error = caught.value
    assert (error.problem, error.event_type, error.other) == ("name-taken", PlacedV2, PlacedV1)
    text = str(error)
    print(text)
    assert text.startswith(
        f"EventTypes.register({M}.PlacedV2 (tests/test_transport_codec.py:"
    )
    assert f"the name 'orders.placed' is taken by {M}.PlacedV1 (tests/" in text
    assert "Tip: A wire name stands for one class" in text

    with pytest.raises(EventTypeError) as caught:
        types.register(PlacedV1, name="orders.renamed", version=1)
    error = caught.value
    assert (error.problem, error.other, error.name) == ("class-registered", "orders.placed", "orders.renamed")
    assert "already registered as 'orders.placed', so it cannot also be 'orders.renamed' v1" in str(error)

    with pytest.raises(EventTypeError) as caught:
        types.register(PlacedV1, name="orders.placed", version=2)  # a new version: a new call site
    assert caught.value.problem == "class-registered"

    with pytest.raises(EventTypeError) as caught:
        types.register(PlacedV1(1), name="x")  # type: ignore[call-overload]
    assert caught.value.problem == "not-a-class"
    print(caught.value)
    assert str(caught.value).startswith("EventTypes.register(): PlacedV1(order_id=1) is not a class")
    assert len(types) == 1


def test_an_unregistered_class_is_named_with_how_to_register_it() -> None:
    types = EventTypes()
    types.register(PlacedV1, name="orders.placed")

    @dataclass
    class Special(PlacedV1):
        pass

    with pytest.raises(EventTypeError) as caught:
        types.name_of(Special)
    error = caught.value
    assert (error.problem, error.event_type) == ("unregistered", Special)
    text = str(error)
    print(text)
    assert "Special (tests/test_transport_codec.py:" in text
    assert f"is not a registered event type (its bases {M}.PlacedV1 do not count)" in text
    assert "Tip: Register it: types.register(Special, name='...', version=1); subclasses" in text
    assert isinstance(error, LookupError)

    with pytest.raises(EventTypeError) as caught:
        JsonCodec(types).encode(Special(1))
    assert caught.value.problem == "unregistered"

    with pytest.raises(EventTypeError) as caught:
        types.class_of("orders.cancelled")
    assert (caught.value.problem, caught.value.name) == ("unknown-name", "orders.cancelled")
    assert "No event type is registered under the name 'orders.cancelled'" in str(caught.value)


def test_check_lists_every_class_missing() -> None:
    types = EventTypes()
    types.register(PlacedV1, name="orders.placed")
    with pytest.raises(EventTypeError) as caught:
        types.check([PlacedV1, PlacedV2, Tree, PlacedV2])
    error = caught.value
    assert (error.problem, error.missing) == ("missing", (PlacedV2, Tree))
    text = str(error)
    print(text)
    assert text.startswith(f"2 event classes are not registered: {M}.PlacedV2 (")
    assert f"; {M}.Tree (" in text
    with pytest.raises(EventTypeError, match=r"^1 event class is not registered"):
        JsonCodec(types).check([Tree])


def test_errors_survive_pickling() -> None:
    error = EventTypeError("unknown-name", name="x")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem, copy.name, str(copy)) == ("unknown-name", "x", str(error))


# -- decode errors ----------------------------------------------------------------------------


def decode_error(payload: object, *, types: EventTypes | None = None) -> DecodeError:
    codec = JsonCodec(types or make_types())
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(DecodeError) as caught:
        codec.decode("orders.placed", 2, raw)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, MediatorError)
    return caught.value


def good() -> dict[str, object]:
    data: dict[str, object] = json.loads(JsonCodec(make_types()).encode(sample()).payload)
    return data


def test_a_wrong_value_names_its_path() -> None:
    data = good()
    data["lines"] = [*data["lines"], {"sku": "c", "price": 12.5}]  # type: ignore[misc]
    error = decode_error(data)
    assert (error.type, error.version, error.event_type) == ("orders.placed", 2, OrderPlaced)
    assert (error.problem, error.path) == ("value", "lines[2].price")
    assert error.reason == "expected a string holding a decimal, got 12.5 (float)"
    text = str(error)
    print(text)
    assert text.startswith(
        f"Cannot decode 'orders.placed' v2 as {M}.OrderPlaced (tests/"
    )
    assert text.split("\n")[0].endswith(
        " at lines[2].price: expected a string holding a decimal, got 12.5 (float)."
    )
    assert "\nTip: The producer's field has another type" in text


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"paid": 1}, "paid", "expected true or false, got 1 (int)"),
        ({"code": True}, "code", "expected int | str, got True (bool)"),
        ({"lines": [{"sku": "a", "price": "1", "quantity": True}]}, "lines[0].quantity", "expected an integer, got True (bool)"),
        ({"placed_at": "2026-01-02T03:04:05"}, "placed_at", "the datetime '2026-01-02T03:04:05' has no time zone offset"),
        ({"placed_at": "yesterday"}, "placed_at", "expected an ISO 8601 datetime string, got 'yesterday' (str)"),
        ({"ships_on": "2026-13-01"}, "ships_on", "expected an ISO 8601 date string, got '2026-13-01' (str)"),
        ({"order_id": "nope"}, "order_id", "expected a UUID string, got 'nope' (str)"),
        ({"totals": {"eur": "1,5"}}, "totals['eur']", "expected a string holding a decimal, got '1,5' (str)"),
        ({"color": "blue"}, "color", f"expected a value of {M}.Color, got 'blue' (str)"),
        ({"priority": "1"}, "priority", f"expected a value of {M}.Priority, got '1' (str)"),
        ({"pair": [1]}, "pair", "expected an array of 2 items, got [1] (list)"),
        ({"pair": [1, 2]}, "pair[1]", "expected a string, got 2 (int)"),
        ({"history": ["red", 3]}, "history[1]", f"expected a value of {M}.Color, got 3 (int)"),
        ({"channel": "fax"}, "channel", "expected Literal['web', 'shop'], got 'fax' (str)"),
        ({"where": [1, 2]}, "where", "expected an object, got [1, 2] (list)"),
        ({"lines": {}}, "lines", "expected an array, got {} (dict)"),
        ({"totals": []}, "totals", "expected an object, got [] (list)"),
        ({"nested": {"k": [1, "x"]}}, "nested['k'][1]", "expected int | None, got 'x' (str)"),
        ({"gift": 3}, "gift", f"expected {M}.Line | None, got 3 (int)"),
        ({"note": 3}, "note", "expected str | None, got 3 (int)"),
        ({"weight": "1.0"}, "weight", "expected a number, got '1.0' (str)"),
        ({"where": {"x": None}}, "where.x", "expected a number, got None (NoneType)"),
    ],
)
def test_each_kind_of_wrong_value(change: dict[str, object], path: str, reason: str) -> None:
    error = decode_error({**good(), **change})
    assert (error.problem, error.path, error.reason) == ("value", path, reason)


def test_a_missing_field_without_default_is_named() -> None:
    data = good()
    del data["customer"]
    lines: list[dict[str, object]] = data["lines"]  # type: ignore[assignment]
    del lines[1]["price"]
    error = decode_error(data)
    assert (error.problem, error.path) == ("missing", "customer")
    assert error.reason == "the field is missing and has no default"
    text = str(error)
    print(text)
    assert " at customer: the field is missing and has no default." in text
    assert "Tip: Give the field a default" in text
    data["customer"] = "x"
    assert decode_error(data).path == "lines[1].price"


def test_a_payload_that_is_not_json_or_not_an_object() -> None:
    error = decode_error(b"{not json")
    assert (error.problem, error.path) == ("json", "")
    assert error.reason.startswith("JSONDecodeError: ")
    print(error)
    assert decode_error(b"\xff\xfe\x00").problem == "json"
    error = decode_error([1, 2])
    assert (error.problem, error.reason) == ("value", "expected an object, got [1, 2] (list)")
    payload = json.dumps({**good(), "weight": 0}).replace('"weight": 0', '"weight": NaN')
    error = decode_error(payload.encode())
    assert (error.problem, error.reason) == ("json", "ValueError: JSON has no NaN")


def test_an_unknown_wire_name() -> None:
    with pytest.raises(DecodeError) as caught:
        JsonCodec(make_types()).decode("orders.cancelled", 1, b"{}")
    error = caught.value
    assert (error.problem, error.type, error.version, error.event_type) == (
        "unknown-type",
        "orders.cancelled",
        1,
        None,
    )
    text = str(error)
    print(text)
    assert text.startswith("Cannot decode 'orders.cancelled' v1: no event type is registered so.")
    assert "types.register(Event, name='orders.cancelled', version=1)" in text


@dataclass
class Positive:
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("amount must be positive")


def test_a_class_that_refuses_the_values() -> None:
    types = EventTypes()
    types.register(Positive, name="amounts")
    with pytest.raises(DecodeError) as caught:
        JsonCodec(types).decode("amounts", 1, b'{"amount":-1}')
    error = caught.value
    assert (error.problem, error.path, error.event_type) == ("construct", "", Positive)
    assert error.reason == (
        f"{M}.Positive(...) raised ValueError: amount must be positive"
    )
    assert isinstance(error.__cause__, ValueError)
    print(error)


# -- encode errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"placed_at": datetime(2026, 1, 2)}, "placed_at", "a naive datetime has no time zone: '2026-01-02T00:00:00'"),
        ({"weight": math.nan}, "weight", "JSON has no nan: only finite floats can be encoded"),
        ({"weight": math.inf}, "weight", "JSON has no inf: only finite floats can be encoded"),
        ({"paid": 1}, "paid", "expected a bool, got 1 (int)"),
        ({"code": 1.5}, "code", "expected int | str, got 1.5 (float)"),
        ({"ships_on": datetime(2026, 1, 2, tzinfo=UTC)}, "ships_on", "expected a date, got datetime.datetime(2026, 1, 2, 0, 0, tzinfo=datetime.timez... (datetime.datetime)"),
        ({"lines": [Line(Sku("a"), Decimal(1)), Line(Sku("b"), 2.5)]}, "lines[1].price", "expected a Decimal, got 2.5 (float)"),  # type: ignore[arg-type]
        ({"lines": (Line(Sku("a"), Decimal(1)),)}, "lines", "expected a list, got (Line(sku='a', price=Decimal('1'), quantity=1),) (tuple)"),
        ({"totals": {1: Decimal(1)}}, "totals", "a key is not a str: 1 (int)"),
        ({"totals": {"x": 1}}, "totals['x']", "expected a Decimal, got 1 (int)"),
        ({"pair": (1, "a", 2)}, "pair", "expected a tuple of 2 items, got (1, 'a', 2) (tuple)"),
        ({"channel": "fax"}, "channel", "expected Literal['web', 'shop'], got 'fax' (str)"),
        ({"color": "red"}, "color", f"expected a member of {M}.Color, got 'red' (str)"),
        ({"priority": 1}, "priority", f"expected a member of {M}.Priority, got 1 (int)"),
        ({"order_id": "12345678-1234-5678-1234-567812345678"}, "order_id", "expected a UUID, got '12345678-1234-5678-1234-567812345678' (str)"),
        ({"customer": None}, "customer", "expected a str, got None (NoneType)"),
    ],
)
def test_each_kind_of_value_that_cannot_be_encoded(
    change: dict[str, object], path: str, reason: str
) -> None:
    order = OrderPlaced(**{**vars(sample()), **change})
    with pytest.raises(EncodeError) as caught:
        JsonCodec(make_types()).encode(order)
    error = caught.value
    assert (error.event_type, error.path, error.reason) == (OrderPlaced, path, reason)


def test_an_encode_error_reads_well() -> None:
    order = OrderPlaced(**{**vars(sample()), "placed_at": datetime(2026, 1, 2)})
    with pytest.raises(EncodeError) as caught:
        JsonCodec(make_types()).encode(order)
    text = str(caught.value)
    print(text)
    assert text.startswith(f"Cannot encode {M}.OrderPlaced (tests/")
    assert ") at placed_at: a naive datetime has no time zone: '2026-01-02T00:00:00'.\nTip: " in text
    assert "datetime.now(timezone.utc)" in text


def test_a_subclass_in_a_field_is_refused_since_its_fields_would_be_lost() -> None:
    @dataclass(frozen=True)
    class Discounted(Line):
        discount: Decimal = Decimal(0)

    order = OrderPlaced(**{**vars(sample()), "gift": Discounted(Sku("a"), Decimal(1))})
    with pytest.raises(EncodeError) as caught:
        JsonCodec(make_types()).encode(order)
    assert caught.value.path == "gift"
    assert caught.value.reason.startswith(f"expected {M}.Line | None, got ")


def test_an_annotated_attribute_the_object_lacks() -> None:
    address = Address("x")
    del address.zip_code
    order = OrderPlaced(**{**vars(sample()), "address": address})
    with pytest.raises(EncodeError) as caught:
        JsonCodec(make_types()).encode(order)
    assert (caught.value.path, caught.value.reason) == (
        "address.zip_code",
        "the object has no such attribute",
    )


# -- unsupported field types ------------------------------------------------------------------


@dataclass
class Card:
    number: str


@dataclass
class Transfer:
    iban: str


class Mixed(Enum):
    A = 1
    B = "b"


class NoKeywords:
    amount: int

    def __init__(self, *args: int) -> None:
        self.amount = args[0]


class ExtraInit:
    amount: int

    def __init__(self, amount: int, currency: str) -> None:
        self.amount = amount


@dataclass
class Unresolved:
    amount: "Money"  # type: ignore[name-defined]  # noqa: F821


@dataclass
class WithBytes:
    data: bytes


@dataclass
class WithBareList:
    items: list  # type: ignore[type-arg]


@dataclass
class WithIntKeys:
    counts: dict[int, int]


@dataclass
class WithPayment:
    payment: Card | Transfer


@dataclass
class WithStrOrUuid:
    ref: str | UUID


@dataclass
class WithMixed:
    mixed: Mixed


@dataclass
class Outer:
    line: Line
    inner: "WithBytes"


@pytest.mark.parametrize(
    ("cls", "problem", "owner", "field", "annotation", "detail"),
    [
        (WithBytes, "unsupported", WithBytes, "data", bytes, ""),
        (WithBareList, "bare", WithBareList, "items", list, ""),
        (WithIntKeys, "dict-key", WithIntKeys, "counts", dict[int, int], ""),
        (WithPayment, "ambiguous-union", WithPayment, "payment", Card | Transfer, f"{M}.Card and {M}.Transfer are all decoded from a JSON object, and no Literal field they share tells them apart"),
        (WithStrOrUuid, "ambiguous-union", WithStrOrUuid, "ref", str | UUID, "str and uuid.UUID are both decoded from a JSON string"),
        (WithMixed, "enum-values", WithMixed, "mixed", Mixed, "1 (int), 'b' (str)"),
        (Unresolved, "unresolved", Unresolved, None, Unresolved, "NameError: name 'Money' is not defined"),
        (NoKeywords, "init", NoKeywords, "amount", int, "__init__ does not take amount="),
        (ExtraInit, "init", ExtraInit, None, ExtraInit, "__init__ requires currency, which is not an annotated field"),
        (Outer, "unsupported", WithBytes, "data", bytes, ""),
    ],
)
def test_an_unsupported_field_type_is_found_before_any_message(
    cls: type,
    problem: str,
    owner: type,
    field: str | None,
    annotation: object,
    detail: str,
) -> None:
    types = EventTypes()
    types.register(cls, name="x")
    codec = JsonCodec(types)
    with pytest.raises(FieldTypeError) as caught:
        codec.check()
    error = caught.value
    assert (error.problem, error.event_type, error.owner, error.field) == (problem, cls, owner, field)
    assert (error.annotation, error.detail) == (annotation, detail)
    assert isinstance(error, TypeError)
    with pytest.raises(FieldTypeError):  # nothing half-compiled was kept
        codec.encode(cls.__new__(cls))


def test_field_type_errors_read_well() -> None:
    types = EventTypes()
    types.register(Outer, name="outer")
    with pytest.raises(FieldTypeError) as caught:
        JsonCodec(types).check([Outer])
    text = str(caught.value)
    print(text)
    assert text.startswith(
        f"JsonCodec cannot encode {M}.WithBytes.data (tests/test_transport_codec.py:"
    )
    assert f"): bytes is not supported (inside the event {M}.Outer).\nTip: Use str, int" in text

    types = EventTypes()
    types.register(WithPayment, name="paid")
    with pytest.raises(FieldTypeError) as caught:
        JsonCodec(types).check()
    text = str(caught.value)
    print(text)
    assert "WithPayment.payment (tests/test_transport_codec.py:" in text
    assert f"the members of {M}.Card | {M}.Transfer could not be told apart" in text
    assert "Tip: Keep at most one member per JSON kind" in text
    assert "kind: Literal['card'] = 'card'" in text


def test_check_compiles_every_registered_class() -> None:
    codec = JsonCodec(make_types())
    codec.check()
    codec.check([OrderPlaced])
    assert repr(codec).startswith("JsonCodec(EventTypes({'orders.placed': v2, ")


class Moved(NamedTuple):
    """A NamedTuple as the event itself."""

    x: int
    label: Optional[str] = None  # noqa: UP045 - the typing spelling works too


class Flexible:
    """Takes its fields through **kwargs."""

    amount: int
    currency: str

    def __init__(self, **values: object) -> None:
        self.amount = values["amount"]  # type: ignore[assignment]
        self.currency = values.get("currency", "EUR")  # type: ignore[assignment]


def test_named_tuples_and_classes_taking_kwargs_round_trip() -> None:
    types = EventTypes()
    types.register(Moved, name="moved")
    types.register(Flexible, name="flexible")
    codec = JsonCodec(types)
    encoded = codec.encode(Moved(3))
    assert encoded.payload == b'{"x":3,"label":null}'
    assert codec.decode("moved", 1, b'{"x":3}') == Moved(3)
    assert codec.decode("moved", 1, encoded.payload) == Moved(3)
    decoded = codec.decode("flexible", 1, b'{"amount":5}')
    assert isinstance(decoded, Flexible) and vars(decoded) == {"amount": 5, "currency": "EUR"}
    assert codec.encode(decoded).payload == b'{"amount":5,"currency":"EUR"}'


def test_an_integer_too_large_for_a_float_field() -> None:
    order = OrderPlaced(**{**vars(sample()), "weight": 10**400})
    with pytest.raises(EncodeError) as caught:
        JsonCodec(make_types()).encode(order)
    assert caught.value.path == "weight"
    assert caught.value.reason.endswith(" (int) is too large for a float")
    error = decode_error({**good(), "weight": 10**400})
    assert (error.path, error.reason[:26]) == ("weight", "expected a number, got 100")


# -- classes in one union, told apart by a Literal field --------------------------------------


@dataclass
class CardPaid:
    number: str
    kind: Literal["card"] = "card"


@dataclass
class TransferPaid:
    iban: str
    kind: Annotated[Literal["transfer", "sepa"], "tag"] = "transfer"


@dataclass
class Paid:
    payments: list[CardPaid | TransferPaid | None]


@dataclass
class PaidOrMap:
    payment: CardPaid | TransferPaid | dict[str, str]


@dataclass
class Untagged:
    iban: str
    kind: Literal["card"] = "card"


@dataclass
class PaidClash:
    payment: CardPaid | Untagged


def paid_codec() -> JsonCodec:
    types = EventTypes()
    types.register(Paid, name="paid")
    return JsonCodec(types)


def test_classes_in_a_union_are_told_apart_by_a_literal_field() -> None:
    codec = paid_codec()
    event = Paid([CardPaid("4242"), TransferPaid("DE00", "sepa"), None])
    encoded = codec.encode(event)
    assert encoded.payload == (
        b'{"payments":[{"number":"4242","kind":"card"},{"iban":"DE00","kind":"sepa"},null]}'
    )
    assert codec.decode("paid", 1, encoded.payload) == event


def test_a_tag_that_names_no_class() -> None:
    codec = paid_codec()
    with pytest.raises(DecodeError) as caught:
        codec.decode("paid", 1, b'{"payments":[{"number":"1","kind":"cash"}]}')
    error = caught.value
    assert (error.problem, error.path) == ("value", "payments[0].kind")
    assert error.reason == (
        f"expected one of 'card', 'sepa', 'transfer' to tell {M}.CardPaid | {M}.TransferPaid "
        "apart, got 'cash' (str)"
    )
    print(error)
    with pytest.raises(DecodeError) as caught:
        codec.decode("paid", 1, b'{"payments":[{"number":"1"}]}')
    assert (caught.value.problem, caught.value.path) == ("missing", "payments[0].kind")
    with pytest.raises(DecodeError) as caught:
        codec.decode("paid", 1, b'{"payments":[{"number":"1","kind":[]}]}')
    assert caught.value.reason.endswith("got [] (list)")
    with pytest.raises(DecodeError) as caught:
        codec.decode("paid", 1, b'{"payments":[{"iban":"1","kind":"card"}]}')
    assert (caught.value.path, caught.value.reason) == (
        "payments[0].number",
        "the field is missing and has no default",
    )


@pytest.mark.parametrize(
    ("cls", "detail"),
    [
        (PaidOrMap, f"{M}.CardPaid | {M}.TransferPaid and dict[str, str] are both decoded from a JSON object"),
        (PaidClash, f"{M}.CardPaid and {M}.Untagged are all decoded from a JSON object, and no Literal field they share tells them apart"),
    ],
)
def test_classes_a_literal_cannot_tell_apart(cls: type, detail: str) -> None:
    types = EventTypes()
    types.register(cls, name="x")
    with pytest.raises(FieldTypeError) as caught:
        JsonCodec(types).check()
    assert (caught.value.problem, caught.value.field, caught.value.detail) == (
        "ambiguous-union",
        "payment",
        detail,
    )
