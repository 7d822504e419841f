"""Requests (commands and queries): python-mediator's ``mediator.request`` path."""

from ._legacy import RequestExecutor as RequestExecutor
from ._messages import Request as Request
from ._messages import StreamRequest as StreamRequest
from ._names import show_public_path as _show_public_path
from ._registry import RequestHandlerRegistry as RequestHandlerRegistry
from ._request_bus import LocalRequestBus as LocalRequestBus
from ._stream import Stream as Stream

__all__ = (
    "LocalRequestBus",
    "Request",
    "RequestExecutor",
    "RequestHandlerRegistry",
    "Stream",
    "StreamRequest",
)

_show_public_path(globals(), __name__)
