"""Beyond one process: events carried between processes, exactly once in effect.

Nothing here is imported by ``import mediator``, and nothing here needs a
dependency beyond the core's; engines for real brokers live in their own
modules behind extras (``mediator.transports.redis``).
"""

from ._codec_protocol import Codec as Codec
from ._codec_protocol import Encoded as Encoded
from ._engine import DeadLetter as DeadLetter
from ._engine import Engine as Engine
from ._engine import Inbound as Inbound
from ._envelope import Envelope as Envelope
from ._envelope import new_id as new_id

__all__ = (
    "Codec",
    "DeadLetter",
    "Encoded",
    "Engine",
    "Envelope",
    "Inbound",
    "new_id",
)
