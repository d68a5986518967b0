"""One registry for every kind of plug-in: models, datasets, backbones, tasks, strategies, run kinds.

    TASKS = Registry("task", builtins=("transferkit.tasks.text_classification", ...))

    @TASKS.register("text-classification")
    class TextClassification(Task): ...

    TASKS.get("text-classification")      # imports the built-in modules first, once
    TASKS.names()                         # registration order

Built-in entries live in modules named in `builtins`; they are imported on the first lookup or
listing, so importing a registry stays cheap (the CLI's --help loads no torch). A name can be
registered once: a second, different object under the same name is refused (re-importing the
same module, which defines an equal object, is not an error). A lookup of an unknown name raises
the registry's one-line user error, with a close match when there is one.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from typing import Callable, Generic, Iterator, Sequence, TypeVar

from .errors import ConfigError, TransferkitError

T = TypeVar("T")


def _same(a: object, b: object) -> bool:
    """The same definition: one object, equal values, or a class/function of the same module and
    qualified name (a module imported a second time, e.g. by a test runner)."""
    if a is b:
        return True
    try:
        if a == b:
            return True
    except Exception:  # noqa: BLE001 - an odd __eq__ simply means "not the same"
        pass
    names = [(getattr(o, "__module__", None), getattr(o, "__qualname__", None)) for o in (a, b)]
    return None not in names[0] and names[0] == names[1]


class Registry(Generic[T]):
    """Named objects of one kind, filled by decorators, with lazily imported built-ins."""

    def __init__(self, kind: str, builtins: Sequence[str] = (), *,
                 unknown: Callable[[str, list[str]], TransferkitError] | None = None):
        self.kind = kind
        self._builtins = tuple(builtins)
        self._loaded = not self._builtins
        self._entries: dict[str, T] = {}
        self._unknown = unknown

    # ------------------------------------------------------------------ filling

    def register(self, name: str, obj: T | None = None):
        """`@REG.register("name")` on a class or function, or `REG.register("name", obj)`.

        A registered class gets `name` as its `name` attribute, so an instance knows its entry."""
        def add(value: T) -> T:
            old = self._entries.get(name)
            if old is not None and not _same(old, value):
                raise ValueError(f"{self.kind} {name!r} is registered twice ({_where(old)} and {_where(value)})")
            if isinstance(value, type):
                value.name = name  # type: ignore[attr-defined]
            self._entries[name] = value
            return value

        return add if obj is None else add(obj)

    @contextlib.contextmanager
    def registered(self, name: str, obj: T) -> Iterator[T]:
        """`obj` under `name` for the duration of a block (tests, temporary plug-ins); what was
        there before comes back afterwards."""
        self.load_builtins()
        missing = object()
        old = self._entries.get(name, missing)
        self._entries[name] = obj
        try:
            yield obj
        finally:
            if old is missing:
                self._entries.pop(name, None)
            else:
                self._entries[name] = old

    def load_builtins(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # before importing: a built-in module may look itself up
        for module in self._builtins:
            importlib.import_module(module)

    # ------------------------------------------------------------------ lookup

    def get(self, name: str) -> T:
        if name not in self._entries:
            self.load_builtins()
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    __getitem__ = get

    def unknown(self, name: str) -> TransferkitError:
        names = self.names()
        if self._unknown is not None:
            return self._unknown(name, names)
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return ConfigError(f"invalid {self.kind}: {name!r}; choose from {', '.join(names)}{hint}")

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self.load_builtins()
        return name in self._entries

    def names(self) -> list[str]:
        self.load_builtins()
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self.load_builtins()
        return list(self._entries.items())

    def values(self) -> list[T]:
        return [value for _, value in self.items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
