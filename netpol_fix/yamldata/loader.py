"""The YAML loader: libyaml's composer with a constructor that is fast for plain manifests
and exact for everything else.

Kubernetes reads YAML as JSON, so timestamps stay strings. Tag resolution is memoised in a
C-level cache, and the common node shapes are built directly instead of through PyYAML's
generic constructor (a third of the load time); anything unusual (merge keys, custom tags,
recursive aliases) falls back to PyYAML so results never differ.

Reading is bounded like the API server's own YAML reader (go-yaml, `decode.go`): a document
whose alias expansion does most of the work is refused ("document contains excessive
aliasing": more than 99% of the decoded nodes come from aliases below 400,000 decodes,
falling to 10% at 4,000,000), so a 700-byte billion laughs stops after a few thousand
nodes instead of growing to gigabytes; nesting, aliases included, is bounded by MAX_DEPTH
(libyaml's own limit for what it parses). The count is kept while constructing.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that keeps timestamps as strings.

    Kubernetes reads YAML as JSON, where `2024-01-01` is a string; a `datetime` here would
    later break JSON output and JSON patches.
    """

    # Tag resolution runs regular expressions in Python for every scalar, and the C
    # composer calls it for every node; field names and values repeat a lot. The answer
    # depends only on the arguments (no path resolvers are registered), so it is memoised
    # in a C-level cache the composer calls directly: composing is about twice as fast as
    # without a cache, and a tenth faster than with a Python-level one.
    resolve = staticmethod(functools.lru_cache(maxsize=100_000)(
        functools.partial(yaml.resolver.Resolver.resolve, yaml.resolver.Resolver())))

    if not yaml.resolver.Resolver.yaml_path_resolvers:
        # Without path resolvers there is no path to track, yet the composer calls these
        # for every node: C built-ins taking the same arguments, whose results it ignores,
        # cost a fraction of a Python call.
        descend_resolver = staticmethod(slice)  # (parent node, index)
        ascend_resolver = staticmethod(tuple)  # ()


Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


_STR_TAG = "tag:yaml.org,2002:str"


_MAP_TAG = "tag:yaml.org,2002:map"


_SEQ_TAG = "tag:yaml.org,2002:seq"


_NULL_TAG = "tag:yaml.org,2002:null"


_BOOL_TAG = "tag:yaml.org,2002:bool"


_INT_TAG = "tag:yaml.org,2002:int"


_FLOAT_TAG = "tag:yaml.org,2002:float"


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


_PLAIN_KEY_TAGS = frozenset((_INT_TAG, _BOOL_TAG, _NULL_TAG, _FLOAT_TAG))


class _NeedsFullConstructor(Exception):
    """Raised by the fast path for anything unusual (merge keys, custom tags, cycles)."""


MAX_DEPTH = 1000
"""Nesting levels a document may have (libyaml refuses deeper flow and block nesting
itself; aliases and JSON are held to the same bound)."""

ALIAS_RATIO_LOW = 400_000
ALIAS_RATIO_HIGH = 4_000_000


class DocumentTooComplex(ValueError):
    """A bound was exceeded; `line` (0-based, in the parsed text) is where it tripped."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def allowed_alias_ratio(decodes: int) -> float:
    """go-yaml's allowedAliasRatio: 99% for small documents, 10% for huge ones."""
    if decodes <= ALIAS_RATIO_LOW:
        return 0.99
    if decodes >= ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - ALIAS_RATIO_LOW) / (ALIAS_RATIO_HIGH - ALIAS_RATIO_LOW)


class Budget:
    """Nodes decoded, and how many of them through an alias, for one document."""

    __slots__ = ("aliases", "decodes", "in_alias", "seen")

    def __init__(self) -> None:
        self.decodes = 1
        self.aliases = 0
        self.in_alias = 0
        self.seen: set[int] = set()

    def enter(self, node: yaml.Node, depth: int) -> bool:
        """Count a collection's children; True when `node` is reached again (an alias
        expansion: the caller passes it to leave()). Raises DocumentTooComplex."""
        nid = id(node)
        again = nid in self.seen
        if again:
            self.in_alias += 1
        else:
            self.seen.add(nid)
        children = len(node.value) * (2 if isinstance(node, yaml.MappingNode) else 1)
        self.decodes += children
        if self.in_alias:
            self.aliases += children
            if self.aliases > 100 and self.decodes > 1000 \
                    and self.aliases > allowed_alias_ratio(self.decodes) * self.decodes:
                raise DocumentTooComplex(
                    f"document contains excessive aliasing: its aliases expand to "
                    f"{self.aliases:,} of {self.decodes:,} nodes read so far (at most 99% "
                    f"below {ALIAS_RATIO_LOW:,} nodes, as the Kubernetes API server's YAML "
                    "reader allows); refused", node.start_mark.line)
        if depth >= MAX_DEPTH:
            raise DocumentTooComplex(f"nested deeper than {MAX_DEPTH} levels; refused",
                                     node.start_mark.line)
        return again

    def leave(self, again: bool) -> None:
        if again:
            self.in_alias -= 1


def check_bounds(root: yaml.Node) -> None:
    """The same bounds for a document the fast path hands to PyYAML (merge keys, custom
    tags), walked without recursion; a node that contains itself is refused too (the API
    server's reader: "anchor ... value contains itself")."""
    budget = Budget()
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool | None]] = [(root, 0, None)]
    while stack:
        node, depth, leaving = stack.pop()
        if leaving is not None:
            on_path.discard(id(node))
            budget.leave(leaving)
            continue
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            continue
        if id(node) in on_path:
            raise DocumentTooComplex("an anchored value contains itself (a recursive "
                                     "alias); refused", node.start_mark.line)
        again = budget.enter(node, depth)
        on_path.add(id(node))
        stack.append((node, depth, again))
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = list(node.value)
        stack.extend((child, depth + 1, None) for child in reversed(children))


def construct(loader: Any, node: yaml.Node, aliases: bool = True) -> Any:
    """Build a document's data, fast for plain Kubernetes YAML, exact for everything else.

    PyYAML's constructor is generic and slow (a third of the load time); manifests are
    almost always plain mappings, sequences and standard scalars, which this builds directly.
    Anything else goes through PyYAML so results never differ. `aliases=False` says the
    text holds no `*` at all, so no alias (or merge key) can expand: the alias budget is
    not kept (libyaml already bounds the nesting of what it parses).
    """
    try:
        return _fast_construct(loader, node, set(), Budget() if aliases else None)
    except (_NeedsFullConstructor, RecursionError):
        check_bounds(node)
        return loader.construct_document(node)


def _fast_construct(loader: Any, node: yaml.Node, path: set[int],
                    budget: Budget | None) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR_TAG or tag == _TIMESTAMP_TAG:
            return node.value
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            return loader.construct_yaml_bool(node)
        if tag == _INT_TAG:
            return loader.construct_yaml_int(node)
        if tag == _FLOAT_TAG:
            return loader.construct_yaml_float(node)
        raise _NeedsFullConstructor
    if id(node) in path:
        raise _NeedsFullConstructor  # a recursive alias
    again = budget.enter(node, len(path)) if budget is not None else False
    path.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode) and tag == _MAP_TAG:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _STR_TAG and type(key_node) is yaml.ScalarNode:
                    key = key_node.value
                elif type(key_node) is yaml.ScalarNode and key_node.tag in _PLAIN_KEY_TAGS:
                    key = _fast_construct(loader, key_node, path, budget)
                else:
                    raise _NeedsFullConstructor  # merge keys `<<`, complex keys
                # Inline the commonest value, a string, to save a call per field.
                if value_node.tag == _STR_TAG and type(value_node) is yaml.ScalarNode:
                    result[key] = value_node.value
                else:
                    result[key] = _fast_construct(loader, value_node, path, budget)
            return result
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ_TAG:
            return [_fast_construct(loader, item, path, budget) for item in node.value]
        raise _NeedsFullConstructor
    finally:
        path.discard(id(node))
        if again:
            budget.leave(again)  # type: ignore[union-attr]


def compose_single(text: str) -> tuple[Any, yaml.Node | None]:
    """(loader, root node) of the one document of ``text`` (None for no document), composed
    by libyaml; the caller constructs with the loader and then disposes of it. Raises
    yaml.YAMLError when the text does not parse or holds more than one document."""
    loader = Loader(text)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def load_single(text: str) -> Any:
    """The data of the one document of ``text`` (None for none), as `construct` builds it.

    Raises yaml.YAMLError when the text does not parse or holds more than one document,
    DocumentTooComplex past the reading bounds."""
    loader, node = compose_single(text)
    try:
        return None if node is None else construct(loader, node, "*" in text)
    finally:
        loader.dispose()
