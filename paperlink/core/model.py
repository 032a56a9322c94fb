"""paperlink's data classes: ``@model`` is ``@dataclass`` with ``__eq__``, ``__repr__`` and ``__hash__``
written once, here, instead of generated for each class.

A dataclass compiles the source of its ``__init__``, ``__eq__`` and ``__repr__`` when the class is defined;
for the few dozen classes that ``paperlink run`` loads, compiling the last two was a tenth of the run's
start-up. The shared methods behave as the generated ones do: two objects are equal when they are of the
same class and their compared fields are equal, in order; a mutable model is unhashable, a frozen one
hashes its compared fields; the repr lists the fields with ``repr=True``. Everything else (``fields``,
``asdict``, ``replace``, ``frozen``, ``field(...)``) is the standard library's: a model is a dataclass.
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any, TypeVar, overload

T = TypeVar("T")

# dataclass_transform (in typing from Python 3.11) only tells type checkers that model makes dataclasses.
if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[T], T]:
        return lambda decorated: decorated


@overload
def model(cls: type[T], /) -> type[T]: ...
@overload
def model(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...
@dataclass_transform(field_specifiers=(field,))
def model(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """``@dataclass`` or ``@dataclass(frozen=True)``, with the shared methods (see the module docstring)."""

    def wrap(target: type[T]) -> type[T]:
        target.__eq__ = _eq  # type: ignore[method-assign]
        target.__repr__ = _repr  # type: ignore[method-assign]
        # As a dataclass with eq=True: unhashable unless frozen, then hashed by its compared fields.
        target.__hash__ = _hash if frozen else None  # type: ignore[assignment,method-assign]
        return dataclasses.dataclass(eq=False, repr=False, frozen=frozen)(target)

    return wrap if cls is None else wrap(cls)


# Per class, made on first use: the getter of its compared fields, the names of its shown ones.
_COMPARED: dict[type, Callable[[Any], Any]] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> Callable[[Any], Any]:
    """The compared fields' values of an object of ``cls``, read in C (a tuple, or the one value)."""
    getter = _COMPARED.get(cls)
    if getter is None:
        names = [f.name for f in dataclasses.fields(cls) if f.compare]
        getter = _COMPARED[cls] = operator.attrgetter(*names) if names else lambda obj: ()
    return getter


def _eq(self: Any, other: object) -> Any:  # a bool, or NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    values = _compared(self.__class__)
    return values(self) == values(other)


def _hash(self: Any) -> int:
    return hash(_compared(self.__class__)(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    cls = self.__class__
    names = _SHOWN.get(cls)
    if names is None:
        names = _SHOWN[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.repr)
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
    return f"{cls.__qualname__}({shown})"
