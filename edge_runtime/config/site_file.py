"""Reading a site file into plain data: strict UTF-8, and YAML that cannot mislead or crash.

``yaml.safe_load`` alone lets the later of two equal keys win silently (a site
engineer's correction above it is lost), recurses once per nesting level (a
file nested 20,000 deep ends in RecursionError), expands aliases without bound
(a few lines can stand for billions of values) and raises ValueError or
TypeError for values like ``2024-02-30`` or ``!!int x``. Here each of those is
a :class:`ConfigError` naming the key, so ``check-config`` and ``run`` exit 2.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .base import ConfigError

MAX_DEPTH = 64  # nesting levels; a site file needs about 6
MAX_NODES = 1_000_000  # values once aliases are expanded; a 1,000-worker site has about 20,000
_SHOWN_LEVELS = 8  # a key path in a message is cut after this many levels
_MERGE = "tag:yaml.org,2002:merge"


def read_site_file(path: str | Path) -> object:
    """The data of a site file; :class:`ConfigError` for anything but readable UTF-8 YAML."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([("<file>", f"cannot read {path}: {exc.strerror or exc}")]) from None
    return parse_site_yaml(_decode(raw))


def parse_site_yaml(text: str) -> object:
    """One YAML document with unique keys, at most ``MAX_DEPTH`` deep and ``MAX_NODES`` values."""
    loader: _SiteLoader | None = None
    try:
        loader = _SiteLoader(text)  # the reader refuses unprintable characters here
        root = loader.get_single_node()
        if root is None:
            return None
        _Walk(loader).node(root, [], 1)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        where = _key(loader.failed_at) if loader and loader.failed_at else "<yaml>"
        raise ConfigError([(where, _describe(exc))]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _decode(raw: bytes) -> str:
    """Strict UTF-8; NUL bytes (UTF-16 text, binary) are refused even though UTF-8 allows them."""
    nul = raw.find(0)
    if nul >= 0:
        raise _not_text(f"it contains NUL bytes (UTF-16 or binary?), the first at offset {nul}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_text(f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8") from None


def _not_text(why: str) -> ConfigError:
    return ConfigError([("<file>", f"not a UTF-8 text file: {why}")])


def _key(path: list[str]) -> str:
    shown = ".".join(path[:_SHOWN_LEVELS])
    return (shown + ".…" if len(path) > _SHOWN_LEVELS else shown) or "<root>"


def _describe(exc: yaml.YAMLError) -> str:
    """``line L, column C: problem`` on one line."""
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"character #x{code:04x} at position {exc.position} is not allowed in YAML text"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return where + " ".join(str(exc.problem or exc.context or "").split())
    return " ".join(str(exc).split())


def _segment(index: object) -> str:
    """The key path segment of a node composed at ``index`` (a position, a key node, or None for a key)."""
    if isinstance(index, int):
        return str(index)
    return index.value if isinstance(index, ScalarNode) else "<key>"


class _SiteLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past ``MAX_DEPTH`` (long before Python's recursion
    limit), remembers the key path where composing failed, and turns a value its
    constructors cannot build into a YAML error at that value."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._path: list[str] = []
        self.failed_at: list[str] | None = None

    def compose_node(self, parent: Node | None, index: object) -> Node:
        if parent is None:
            return self._compose_at(parent, index)
        self._path.append(_segment(index))
        try:
            return self._compose_at(parent, index)
        finally:
            self._path.pop()

    def _compose_at(self, parent: Node | None, index: object) -> Node:
        try:
            if len(self._path) >= MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        except yaml.YAMLError:
            if self.failed_at is None:
                self.failed_at = list(self._path)
            raise

    def construct_object(self, node: Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            value = f"{node.value!r:.40}" if isinstance(node, ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {value} as {node.tag.rpartition(':')[2]}: {exc}", node.start_mark
            ) from None


class _Walk:
    """One pass over the composed nodes before the document is built: every scalar is
    constructed with its key path at hand (so a bad value names its key), duplicate keys
    are refused, and depth and size are measured as they would be once aliases are
    expanded. An alias is a second reference to a node, so each node is measured once."""

    def __init__(self, loader: _SiteLoader) -> None:
        self._loader = loader
        self._measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) of its expansion
        self._open: set[int] = set()  # nodes being walked: meeting one again is an alias cycle

    def node(self, node: Node, path: list[str], depth: int) -> tuple[int, int]:
        """(values, levels) of ``node`` expanded, found at ``path`` and nesting level ``depth``."""
        if id(node) in self._open:
            raise ConfigError([(_key(path), "an alias refers to a collection that contains it")])
        if depth > MAX_DEPTH:
            raise ConfigError([(_key(path), f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")])
        measure = self._measured.get(id(node))
        if measure is None:
            self._open.add(id(node))
            children = self._children(node, path, depth + 1)
            self._open.discard(id(node))
            measure = 1 + sum(s for s, _ in children), 1 + max((lv for _, lv in children), default=0)
            self._measured[id(node)] = measure
        size, levels = measure
        if depth - 1 + levels > MAX_DEPTH:
            raise ConfigError([(_key(path), f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")])
        if size > MAX_NODES:
            raise ConfigError([(_key(path), f"more than {MAX_NODES:,} values once aliases are expanded")])
        return measure

    def _scalar(self, node: ScalarNode, path: list[str]) -> object:
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise ConfigError([(_key(path), _describe(exc))]) from None

    def _children(self, node: Node, path: list[str], depth: int) -> list[tuple[int, int]]:
        if isinstance(node, ScalarNode):
            self._scalar(node, path)
            return []
        if isinstance(node, SequenceNode):
            return [self.node(item, [*path, str(i)], depth) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: list[tuple[int, int]] = []
        first_at: dict[object, str] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # merged keys may be overridden: that is what a merge is for
                out.append(self.node(value_node, path, depth))
                continue
            sub = [*path, "<key>"]
            out.append(self.node(key_node, sub, depth))
            if isinstance(key_node, ScalarNode):
                key = self._scalar(key_node, sub)
                sub = [*path, str(key)]
                at = f"line {key_node.start_mark.line + 1}, column {key_node.start_mark.column + 1}"
                if key in first_at:
                    raise ConfigError([(_key(sub), f"duplicate key {key!r} at {at} (first at {first_at[key]}): "
                                                   "the last one would silently win")])
                first_at[key] = at
            out.append(self.node(value_node, sub, depth))
        return out
