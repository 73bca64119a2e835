"""`NamedTuple` for gitops' record types, at a fifth of typing's cost per class at import.

Every module here has `from __future__ import annotations`, so typing.NamedTuple receives each
field's annotation as a string and turns it into a ForwardRef, which compiles it: about 100 us
per field, 20 ms for the ~50 record types the gate imports, a fifth of its budget (issue 5).
Nothing reads those ForwardRefs. At run time this NamedTuple builds the same class with
collections.namedtuple (fields and defaults from the annotations, then the methods, properties,
docstring and constants of the class body), and keeps the annotations as the strings they are;
type checkers see typing.NamedTuple itself. tests/unit/test_records.py compares the two.

The modules a warm `show` or the gate import do not import typing at all (3-5 ms): each says
`TYPE_CHECKING = False` and imports from typing under `if TYPE_CHECKING:`, which type checkers
take as true (mypy and pyright treat any constant of that name so) and Python never runs.
"""

from __future__ import annotations

__all__ = ["NamedTuple"]

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    import collections

    # what namedtuple makes itself and a class body must not replace (as typing refuses it)
    _PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields",
                             "_field_defaults", "_make", "_replace", "_asdict", "_source"})
    _SKIPPED = frozenset({"__module__", "__annotations__", "__orig_bases__", "__classcell__"})

    class _RecordMeta(type):
        def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
            if not bases:  # NamedTuple itself
                return super().__new__(mcs, name, bases, ns)
            if bases != (NamedTuple,):
                raise TypeError(f"{name}: a record derives from NamedTuple alone")
            fields = list(ns.get("__annotations__", {}))
            defaults = [f for f in fields if f in ns]
            if defaults != fields[len(fields) - len(defaults):]:
                raise TypeError(f"{name}: a field without a default follows one with a default "
                                f"({defaults[0]!r})")
            cls = collections.namedtuple(name, fields, defaults=[ns[f] for f in defaults],
                                         module=ns["__module__"])
            for key, value in ns.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _SKIPPED and key not in fields:
                    setattr(cls, key, value)
            cls.__annotations__ = dict(ns.get("__annotations__", {}))
            return cls

    class NamedTuple(metaclass=_RecordMeta):
        pass
