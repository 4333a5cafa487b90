"""The YAML loader: libyaml's composer with a constructor that is fast for plain manifests
and exact for everything else.

Kubernetes reads YAML as JSON, so timestamps stay strings. Tag resolution is memoised in a
C-level cache, and the common node shapes are built directly instead of through PyYAML's
generic constructor (a third of the load time); anything unusual (merge keys, custom tags,
recursive aliases) falls back to PyYAML so results never differ.
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


def construct(loader: Any, node: yaml.Node) -> Any:
    """Build a document's data, fast for plain Kubernetes YAML, exact for everything else.

    PyYAML's constructor is generic and slow (a third of the load time); manifests are
    almost always plain mappings, sequences and standard scalars, which this builds directly.
    Anything else goes through PyYAML so results never differ.
    """
    try:
        return _fast_construct(loader, node, set())
    except (_NeedsFullConstructor, RecursionError):
        return loader.construct_document(node)


def _fast_construct(loader: Any, node: yaml.Node, path: set[int]) -> Any:
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
    path.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode) and tag == _MAP_TAG:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _STR_TAG and type(key_node) is yaml.ScalarNode:
                    key = key_node.value
                elif type(key_node) is yaml.ScalarNode and key_node.tag in _PLAIN_KEY_TAGS:
                    key = _fast_construct(loader, key_node, path)
                else:
                    raise _NeedsFullConstructor  # merge keys `<<`, complex keys
                # Inline the commonest value, a string, to save a call per field.
                if value_node.tag == _STR_TAG and type(value_node) is yaml.ScalarNode:
                    result[key] = value_node.value
                else:
                    result[key] = _fast_construct(loader, value_node, path)
            return result
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ_TAG:
            return [_fast_construct(loader, item, path) for item in node.value]
        raise _NeedsFullConstructor
    finally:
        path.discard(id(node))
