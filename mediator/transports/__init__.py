"""Beyond one process: events carried between processes, exactly once in effect.

Nothing here is imported by ``import mediator``, and nothing here needs a
dependency beyond the core's; engines for real brokers live in their own
modules behind extras (``mediator.transports.redis``).
"""

from .._errors import GroupNotFoundError as GroupNotFoundError
from ._codec import DecodeError as DecodeError
from ._codec import EncodeError as EncodeError
from ._codec import FieldTypeError as FieldTypeError
from ._codec import JsonCodec as JsonCodec
from ._codec_protocol import Codec as Codec
from ._codec_protocol import Encoded as Encoded
from ._context import correlation as correlation
from ._context import current_delivery as current_delivery
from ._engine import DeadLetter as DeadLetter
from ._engine import Engine as Engine
from ._engine import Inbound as Inbound
from ._envelope import Envelope as Envelope
from ._envelope import new_id as new_id
from ._inbox import InboxAttempt as InboxAttempt
from ._inbox import InboxError as InboxError
from ._inbox import InboxKey as InboxKey
from ._inbox import InboxStore as InboxStore
from ._inbox import idempotent as idempotent
from ._memory import MemoryEngine as MemoryEngine
from ._outbox import OutboxError as OutboxError
from ._outbox import OutboxPublisher as OutboxPublisher
from ._outbox import OutboxRow as OutboxRow
from ._outbox import OutboxStore as OutboxStore
from ._relay import Relay as Relay
from ._sqlite import SqliteOutbox as SqliteOutbox
from ._sqlite import SqlitePublisher as SqlitePublisher
from ._sqlite_inbox import SqliteInbox as SqliteInbox
from ._types import EventTypeError as EventTypeError
from ._types import EventTypes as EventTypes
from ._worker import Delivery as Delivery
from ._worker import Worker as Worker
from ._worker import WorkerStats as WorkerStats

__all__ = (
    "Codec",
    "DeadLetter",
    "DecodeError",
    "Delivery",
    "EncodeError",
    "Encoded",
    "Engine",
    "Envelope",
    "EventTypeError",
    "EventTypes",
    "FieldTypeError",
    "GroupNotFoundError",
    "Inbound",
    "InboxAttempt",
    "InboxError",
    "InboxKey",
    "InboxStore",
    "JsonCodec",
    "MemoryEngine",
    "OutboxError",
    "OutboxPublisher",
    "OutboxRow",
    "OutboxStore",
    "Relay",
    "SqliteInbox",
    "SqliteOutbox",
    "SqlitePublisher",
    "Worker",
    "WorkerStats",
    "correlation",
    "current_delivery",
    "idempotent",
    "new_id",
)
