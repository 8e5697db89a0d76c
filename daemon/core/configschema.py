"""YAML -> frozen dataclasses, with every problem reported at once.

The loader composes the YAML node tree with PyYAML's safe loader (no tags, no objects), so
each value keeps its line number; then it walks the dataclass schema, converting and
checking each value and collecting `Problem`s instead of stopping at the first. A schema
is a tree of frozen dataclasses whose fields are declared with `option()`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from daemon.core.redact import MASK, Secret

T = TypeVar("T")
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file: where it is and what was expected."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def option(default: Any = dataclasses.MISSING, doc: str = "", *, check: Check | None = None,
           each: Check | None = None, factory: Callable[[], Any] | None = None,
           live: bool = False) -> Any:
    """Declare a config field: its default (none: the key is required), a one-line doc, an
    optional value check, and for a list an optional check of each item.

    `live=True` marks a field that SIGHUP can change without a restart.
    """
    meta = {"doc": doc, "check": check, "each": each, "live": live}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type[T], doc: str = "") -> T:
    """A nested section whose defaults come from its own dataclass."""
    spec: T = field(default_factory=cls,
                    metadata={"doc": doc, "check": None, "each": None, "live": False})
    return spec


# --- checks used by schemas -----------------------------------------------------------

def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {_num(value)}"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {_num(value)}"


def port_number(value: int) -> str | None:
    return None if 0 <= value <= 65535 else f"must be a port number 0-65535, got {value}"


def in_range(low: float, high: float) -> Check:
    def check(value: float) -> str | None:
        if low <= value <= high:
            return None
        return f"must be between {_num(low)} and {_num(high)}, got {_num(value)}"
    return check


# --- loading ---------------------------------------------------------------------------

class _Invalid(Exception):
    """Internal: a value could not be converted; the message is the problem."""


class SchemaLoader:
    """Converts one composed YAML document into an instance of a schema dataclass."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    def problem(self, node: yaml.Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(Problem(self.filename, line, path, message))

    def load(self, schema: type[T], node: yaml.Node | None) -> T | None:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            return self._build(schema, None, "")
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "", "the top level must be a mapping of sections")
            return None
        return self._build(schema, node, "")

    def _build(self, schema: type[T], node: yaml.MappingNode | None, prefix: str) -> T | None:
        hints = typing.get_type_hints(schema)
        fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
        given: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in (node.value if node is not None else []):
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            path = f"{prefix}{key}"
            if not isinstance(key, str):
                self.problem(key_node, prefix.rstrip("."), "keys must be plain strings")
                continue
            if key not in fields:
                hint = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
                suggestion = f" (did you mean '{prefix}{hint[0]}'?)" if hint else ""
                known = ", ".join(fields)
                self.problem(key_node, path, f"unknown key{suggestion}; known keys: {known}")
                continue
            if key in given:
                self.problem(key_node, path, "given twice")
                continue
            given[key] = (key_node, value_node)
        values: dict[str, Any] = {}
        ok = True
        for name, f in fields.items():
            if name not in given:
                continue
            _, value_node = given[name]
            path = f"{prefix}{name}"
            try:
                value = self._convert(hints[name], value_node, path)
            except _Reported:
                ok = False
                continue
            except _Invalid as exc:
                self.problem(value_node, path, str(exc))
                ok = False
                continue
            check = f.metadata.get("check")
            message = check(value) if check is not None and value is not None else None
            if message:
                self.problem(value_node, path, message)
                ok = False
                continue
            if not self._check_items(f.metadata.get("each"), value, value_node, path):
                ok = False
                continue
            values[name] = value
        for name, f in fields.items():
            if name not in given and _required(f):
                self.problem(node, f"{prefix}{name}", "missing key")
                ok = False
        if not ok:
            return None
        try:
            return schema(**values)
        except TypeError as exc:  # a required field without default
            self.problem(node, prefix.rstrip("."), f"incomplete section: {exc}")
            return None

    def _check_items(self, each: Check | None, value: Any, node: yaml.Node,
                     path: str) -> bool:
        if each is None or not isinstance(value, tuple) or \
                not isinstance(node, yaml.SequenceNode):
            return True
        ok = True
        for index, (item, item_node) in enumerate(zip(value, node.value, strict=True)):
            message = each(item)
            if message:
                self.problem(item_node, f"{path}[{index}]", message)
                ok = False
        return ok

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            raise _Invalid(f"expected a single value, got {kind}")
        return self._constructor.construct_object(node, deep=True)

    def _convert(self, hint: Any, node: yaml.Node, path: str) -> Any:
        origin = get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            args = get_args(hint)
            if type(None) in args and isinstance(node, yaml.ScalarNode) \
                    and node.tag.endswith(":null"):
                return None
            errors = []
            for arg in (a for a in args if a is not type(None)):
                try:
                    return self._convert(arg, node, path)
                except _Reported:
                    raise  # the nested section's own problems say it better
                except _Invalid as exc:
                    errors.append(str(exc))
            raise _Invalid(" or ".join(dict.fromkeys(errors)))
        if origin is Literal:
            value = self._scalar(node)
            choices = get_args(hint)
            if value in choices:
                return value
            shown = ", ".join(repr(c) for c in choices)
            hint_ = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            suggestion = f" (did you mean {hint_[0]!r}?)" if hint_ else ""
            raise _Invalid(f"must be one of {shown}, got {value!r}{suggestion}")
        if origin in (list, tuple):
            if not isinstance(node, yaml.SequenceNode):
                raise _Invalid(f"expected a list, got {_describe(node)}")
            (item_hint, *_) = get_args(hint)
            items = []
            bad = False
            for index, item in enumerate(node.value):
                item_path = f"{path}[{index}]"
                try:
                    items.append(self._convert(item_hint, item, item_path))
                except _Reported:
                    bad = True
                except _Invalid as exc:
                    self.problem(item, item_path, str(exc))
                    bad = True
            if bad:
                raise _Reported()
            return tuple(items)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            value = self._scalar(node)
            members = [m.value for m in hint]
            if value in members:
                return hint(value)
            shown = ", ".join(repr(m) for m in members)
            close = difflib.get_close_matches(str(value), [str(m) for m in members], n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Invalid(f"must be one of {shown}, got {value!r}{suggestion}")
        if dataclasses.is_dataclass(hint):
            if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
                return hint()  # type: ignore[operator]
            if not isinstance(node, yaml.MappingNode):
                raise _Invalid(f"expected a mapping (a section), got {_describe(node)}")
            built = self._build(hint, node, f"{path}.")  # type: ignore[arg-type]
            if built is None:
                raise _Reported()
            return built
        value = self._scalar(node)
        return _coerce(hint, value)


class _Reported(_Invalid):
    """Problems inside a nested section were already recorded."""


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def node_at(node: yaml.Node | None, path: str) -> yaml.Node | None:
    """The value node at a dotted path of mappings (for a problem's line), or None."""
    for key in path.split(".") if path else []:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((value for k, value in node.value
                     if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node


def line_of(node: yaml.Node | None) -> int | None:
    """1-based line where a node starts."""
    return node.start_mark.line + 1 if node is not None else None


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"{node.value!r}"


def _coerce(hint: Any, value: Any) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Invalid(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Invalid(f"expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Invalid(f"expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Invalid(f"expected text, got {value!r}")
    if hint is Path:
        if isinstance(value, str) and value:
            return Path(value).expanduser()
        raise _Invalid(f"expected a file path, got {value!r}")
    if hint is Secret:
        if isinstance(value, str) and value:
            return Secret(value)
        raise _Invalid("expected a secret as text")
    raise _Invalid(f"unsupported type {hint!r}")  # a schema bug, reported rather than raised


def compose(text: str, filename: str) -> tuple[yaml.Node | None, Problem | None]:
    """Parse YAML text into a node tree; a syntax error becomes one `Problem`."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        return None, Problem(filename, line, "", f"YAML syntax error: {reason}")
    except yaml.YAMLError as exc:
        return None, Problem(filename, None, "", f"YAML error: {exc}")


# --- walking a schema -----------------------------------------------------------------

def iter_fields(schema: type[Any],
                prefix: str = "") -> Iterator[tuple[str, dataclasses.Field[Any]]]:
    """Every leaf field of a schema with its dotted path."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from iter_fields(hint, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        else:
            yield f"{prefix}{f.name}", f


def to_plain(value: Any) -> Any:
    """A config value as plain YAML-able data, secrets masked."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def diff_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of leaf fields whose values differ between two configs."""
    changed = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if dataclasses.is_dataclass(a) and not isinstance(a, type):
            changed += diff_fields(a, b, f"{prefix}{f.name}.")
        elif isinstance(a, Secret) or isinstance(b, Secret):
            if not (isinstance(a, Secret) and isinstance(b, Secret) and a == b):
                changed.append(f"{prefix}{f.name}")
        elif a != b:
            changed.append(f"{prefix}{f.name}")
    return changed


def is_live(schema: type[Any], dotted: str) -> bool:
    """Whether a field may change on SIGHUP without a restart."""
    for path, f in iter_fields(schema):
        if path == dotted:
            return bool(f.metadata.get("live"))
    return False
