"""gitops.records.NamedTuple builds the classes typing.NamedTuple would (minus ForwardRefs)."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
import typing

import pytest

import gitops
from gitops import records
from gitops.gitcli import GitResult


def _define(base: typing.Any) -> typing.Any:
    class Point(base):  # type: ignore[misc]
        """A point."""

        KIND = "point"
        x: int
        y: int = 0
        label: str = ""

        @property
        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

        def moved(self, dx: int) -> typing.Any:
            return self._replace(x=self.x + dx)

    return Point


FAST, SLOW = _define(records.NamedTuple), _define(typing.NamedTuple)


def test_same_class_behaviour_as_typing() -> None:
    for cls in (FAST, SLOW):
        p = cls(3, label="a")
        assert (p.x, p.y, p.label, p.norm, p.KIND) == (3, 0, "a", 3, "point")
        assert p.moved(2) == cls(5, 0, "a") and p.moved(2) == (5, 0, "a")
        assert p._asdict() == {"x": 3, "y": 0, "label": "a"}
        assert hash(p) == hash((3, 0, "a")) and isinstance(p, tuple)
    assert FAST._fields == SLOW._fields
    assert FAST._field_defaults == SLOW._field_defaults
    assert repr(FAST(1)) == repr(SLOW(1)) == "Point(x=1, y=0, label='')"
    assert FAST.__doc__ == SLOW.__doc__ == "A point."
    assert FAST.__qualname__ == SLOW.__qualname__
    assert FAST.__module__ == SLOW.__module__ == __name__
    assert FAST.__annotations__ == {"x": "int", "y": "int", "label": "str"}
    with pytest.raises(AttributeError):
        FAST(1).x = 2


def test_pickles_like_a_module_level_record() -> None:
    res = GitResult(("git",), 0, b"out", b"")
    assert pickle.loads(pickle.dumps(res)) == res  # noqa: S301 - our own bytes


@pytest.mark.parametrize("base", [records.NamedTuple, typing.NamedTuple])
def test_refuses_what_typing_refuses(base: typing.Any) -> None:
    with pytest.raises(TypeError):
        class Bad(base):  # type: ignore[misc]
            a: int = 1
            b: int
    with pytest.raises(AttributeError):
        class Worse(base):  # type: ignore[misc]
            a: int

            def _replace(self) -> None: ...


def test_every_gitops_record_is_a_named_tuple_with_its_fields() -> None:
    """All record types of the package come out as namedtuples whose fields are the
    annotations, in order (so a class body mistake cannot silently drop a field)."""
    seen = 0
    for info in pkgutil.iter_modules(gitops.__path__):
        module = importlib.import_module(f"gitops.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")
                    and obj.__module__ == module.__name__):
                assert obj._fields == tuple(obj.__annotations__), obj
                seen += 1
    assert seen >= 90
