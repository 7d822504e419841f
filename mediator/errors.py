"""Every exception the library raises, with the types of their ``problem`` fields.

Each error keeps what went wrong as fields (``handler``, ``parameter``,
``message_type``, ``problem``, ...) and renders its message from them: a first
line naming the handler (qualified name, ``file:line``) and the problem, then
a ``Tip:`` line with the fix.  The ones an application usually catches are
also exported by ``mediator`` itself.
"""

from ._errors import AmbiguousHandlerError as AmbiguousHandlerError
from ._errors import BusStateError as BusStateError
from ._errors import BusStateProblem as BusStateProblem
from ._errors import ConfigEventAggregateError as ConfigEventAggregateError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import ConfigurationProblem as ConfigurationProblem
from ._errors import DuplicateHandlerError as DuplicateHandlerError
from ._errors import EventAggregateError as EventAggregateError
from ._errors import Failure as Failure
from ._errors import GroupNotFoundError as GroupNotFoundError
from ._errors import HandlerArgumentError as HandlerArgumentError
from ._errors import HandlerNotFoundError as HandlerNotFoundError
from ._errors import HandlerTimeoutError as HandlerTimeoutError
from ._errors import MediatorError as MediatorError
from ._errors import MessageClassError as MessageClassError
from ._errors import MissingArgumentError as MissingArgumentError
from ._errors import ModifierError as ModifierError
from ._errors import ModifierProblem as ModifierProblem
from ._errors import ProviderError as ProviderError
from ._errors import ProviderProblem as ProviderProblem
from ._errors import PublishError as PublishError
from ._errors import RegistrationError as RegistrationError
from ._errors import RegistrationProblem as RegistrationProblem
from ._errors import RegistryKind as RegistryKind
from ._errors import UnresolvedAnnotationError as UnresolvedAnnotationError
from ._names import show_public_path as _show_public_path

__all__ = (
    "AmbiguousHandlerError",
    "BusStateError",
    "BusStateProblem",
    "ConfigEventAggregateError",
    "ConfigurationError",
    "ConfigurationProblem",
    "DuplicateHandlerError",
    "EventAggregateError",
    "Failure",
    "GroupNotFoundError",
    "HandlerArgumentError",
    "HandlerNotFoundError",
    "HandlerTimeoutError",
    "MediatorError",
    "MessageClassError",
    "MissingArgumentError",
    "ModifierError",
    "ModifierProblem",
    "ProviderError",
    "ProviderProblem",
    "PublishError",
    "RegistrationError",
    "RegistrationProblem",
    "RegistryKind",
    "UnresolvedAnnotationError",
)

_show_public_path(globals(), __name__)
