"""Typed records, declared as dataclasses are.

newns runs on every call of a toolchain or of a CI step, so its start-up is
its cost, and the dataclasses module with its code generation takes longer to
load than newns takes to read, check and mount a small file (typing alone
costs 8 ms). A Record class lists its fields with annotations (defaults after
the fields without; ClassVar annotations are not fields), may add fields to a
Record it derives from, and gets __slots__, an __init__ taking the fields in
order or by name, __repr__ and __eq__. Type checkers see it as a dataclass.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: see above
    from collections.abc import Callable, Mapping
    from types import CodeType, FunctionType
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    Result = TypeVar("Result")
else:

    def dataclass_transform(**_options: object) -> Callable[[type], type]:
        return lambda cls: cls


class _RecordType(type):
    _fields: tuple[str, ...]
    _defaults: dict[str, object]

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _RecordType:
        annotations = namespace.get("__annotations__", {})
        own = tuple(f for f, kind in annotations.items() if "ClassVar" not in str(kind))
        defaults = {field: namespace.pop(field) for field in own if field in namespace}
        namespace["__slots__"] = own
        cls = super().__new__(mcs, name, bases, namespace)
        cls._fields = getattr(cls, "_fields", ()) + own
        cls._defaults = {**getattr(cls, "_defaults", {}), **defaults}
        if cls._fields:
            cls.__init__ = _first_init  # type: ignore[misc]
        return cls


def _first_init(self: Record, *args: object, **kwargs: object) -> None:
    """Make the class's __init__ when it is first used: most are never used in one run."""
    cls = type(self)
    cls.__init__ = _make_init(cls._fields, cls._defaults)  # type: ignore[method-assign]
    cls.__init__(self, *args, **kwargs)


_templates: dict[int, CodeType] = {}
_Function: type[FunctionType] = type(_first_init)  # type: ignore[assignment]  # importing types costs every start


def _make_init(fields: tuple[str, ...], defaults: dict[str, object]) -> Callable[..., None]:
    """`def __init__(self, a, b): self.a = a; self.b = b`, for these fields. Compiling one
    costs tens of microseconds, so one code object is compiled for each number of fields,
    and a class's own is that one with its names put in (a microsecond)."""
    template = _templates.get(len(fields))
    if template is None:
        names = [f"f{i}" for i in range(len(fields))]
        scope: dict[str, Any] = {}
        exec(f"def __init__(self, {', '.join(names)}):" + "".join(f"\n    self.{n} = {n}" for n in names), scope)
        template = _templates[len(fields)] = scope["__init__"].__code__
    code = template.replace(co_names=fields, co_varnames=("self", *fields))
    init = _Function(code, {}, "__init__", tuple(defaults[f] for f in fields if f in defaults) or None)
    return init
@dataclass_transform()
class Record(metaclass=_RecordType):
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()  # every field, a base Record's first
    _defaults: ClassVar[dict[str, object]] = {}  # field -> default

    def __repr__(self) -> str:
        values = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({values})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]


def dispatch(handlers: Mapping[type, Callable[..., Result]], record: object, *args: object, of: str) -> Result:
    """handlers[type(record)](record, *args): how newns picks what to do with a record by its
    type. A type with no handler is a bug in newns (of: whose handlers), named in the error."""
    handler = handlers.get(type(record))
    if handler is None:
        raise TypeError(f"{of} has no handler for {type(record).__name__}: {record!r}")
    return handler(record, *args)
