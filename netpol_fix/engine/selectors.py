"""Kubernetes label selectors (metav1.LabelSelector), exactly as the API server reads them.

Semantics worth remembering:
- `{}` (no matchLabels, no matchExpressions) matches everything;
- matchLabels and matchExpressions are ANDed;
- `NotIn` and `DoesNotExist` match objects that lack the key;
- `In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` none.

A selector that is absent (None) is not a selector: callers decide what absence means
(for a NetworkPolicy peer, "no podSelector" differs from `podSelector: {}`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class SelectorError(ValueError):
    """A selector the API server would reject. `path` is relative to the selector."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


def validate_label_key(key: str) -> str | None:
    """Return why `key` is not a valid label key (prefix/name), or None."""
    if not isinstance(key, str) or not key:
        return "label key must be a non-empty string"
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: prefix must be a DNS subdomain"
    if len(name) > 63 or not _NAME.match(name):
        return (
            f"label key {key!r}: name part must be 63 characters or less, alphanumeric, "
            "'-', '_' or '.', starting and ending with an alphanumeric character"
        )
    return None


def validate_label_value(value: Any) -> str | None:
    """Return why `value` is not a valid label value, or None."""
    if not isinstance(value, str):
        return f"label value {value!r} must be a string"
    if value == "":
        return None
    if len(value) > 63 or not _NAME.match(value):
        return (
            f"label value {value!r} must be 63 characters or less, alphanumeric, "
            "'-', '_' or '.', starting and ending with an alphanumeric character"
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed, validated label selector; hashable so that matches can be cached."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def __hash__(self) -> int:
        # selectors key the network's match caches and are hashed for every lookup; the
        # generated __hash__ would rebuild the tuple hash each time
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:
        return hash((self.match_labels, self.match_expressions))

    @property
    def is_empty(self) -> bool:
        """An empty selector matches every object."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def requirements(self) -> tuple[Requirement, ...]:
        """matchLabels as `In` requirements followed by matchExpressions."""
        as_in = tuple(Requirement(k, "In", frozenset([v])) for k, v in self.match_labels)
        return as_in + self.match_expressions

    def explain_mismatch(self, labels: Mapping[str, str]) -> str | None:
        """Say which part of the selector `labels` fail, or None when they match."""
        for key, value in self.match_labels:
            if key not in labels:
                return f"{key}={value} required, label {key} absent"
            if labels[key] != value:
                return f"{key}={value} required, found {key}={labels[key]}"
        for req in self.match_expressions:
            if not req.matches(labels):
                found = f"{req.key}={labels[req.key]}" if req.key in labels else f"no {req.key}"
                return f"{req} not satisfied ({found})"
        return None

    def __str__(self) -> str:
        if self.is_empty:
            return "{}"
        parts = [f"{k}={v}" for k, v in self.match_labels]
        parts += [str(r) for r in self.match_expressions]
        return ",".join(parts)


_PARSED: dict[str, LabelSelector] = {}
_PARSED_MAX = 100_000


def parse_selector(raw: Any) -> LabelSelector:
    """Parse a LabelSelector dict; `None` and `{}` both give the empty selector.

    Raises SelectorError for what the API server rejects (bad keys, values, operators).
    Parsed selectors are memoised by their text (`repr`): repositories repeat the same
    few peers (kube-dns, a namespace, an app label) thousands of times, and validating
    every key and value with regular expressions was a third of building the inventory.
    """
    if raw is None:
        return LabelSelector()
    if not isinstance(raw, dict):
        raise SelectorError(f"a label selector must be a mapping, not {type(raw).__name__}")
    key = repr(raw)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse_selector(raw)
        if len(_PARSED) < _PARSED_MAX:
            _PARSED[key] = parsed
    return parsed


def _parse_selector(raw: dict[Any, Any]) -> LabelSelector:
    unknown = set(raw) - {"matchLabels", "matchExpressions"}
    if unknown:
        first = min(unknown)
        raise SelectorError(f"unknown selector field {first!r}", (first,))
    labels_raw = raw.get("matchLabels") or {}
    if not isinstance(labels_raw, dict):
        raise SelectorError("matchLabels must be a mapping", ("matchLabels",))
    labels: list[tuple[str, str]] = []
    for key, value in labels_raw.items():
        problem = validate_label_key(key) or validate_label_value(value)
        if problem:
            raise SelectorError(problem, ("matchLabels", key))
        labels.append((key, value))
    exprs_raw = raw.get("matchExpressions") or []
    if not isinstance(exprs_raw, list):
        raise SelectorError("matchExpressions must be a list", ("matchExpressions",))
    exprs = [_parse_requirement(item, i) for i, item in enumerate(exprs_raw)]
    return LabelSelector(tuple(sorted(labels)), tuple(exprs))


def _parse_requirement(item: Any, index: int) -> Requirement:
    path: tuple[str | int, ...] = ("matchExpressions", index)
    if not isinstance(item, dict):
        raise SelectorError("a matchExpressions item must be a mapping", path)
    key = item.get("key")
    operator = item.get("operator")
    values = item.get("values") or []
    problem = validate_label_key(key) if isinstance(key, str) else "matchExpressions key is missing"
    if problem:
        raise SelectorError(problem, path + ("key",))
    if operator not in OPERATORS:
        raise SelectorError(
            f"unknown selector operator {operator!r} (valid: {', '.join(OPERATORS)})",
            path + ("operator",),
        )
    if not isinstance(values, list):
        raise SelectorError("values must be a list", path + ("values",))
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"operator {operator} requires at least one value", path)
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"operator {operator} takes no values", path + ("values",))
    for i, value in enumerate(values):
        problem = validate_label_value(value)
        if problem:
            raise SelectorError(problem, path + ("values", i))
    assert isinstance(key, str)
    return Requirement(key, operator, frozenset(values))


class LabelIndex:
    """Inverted index from labels to bitsets of objects, for set-algebra selector matching.

    Matching a selector against thousands of pods one by one is what makes naive analyzers
    slow; with the index a selector costs a few big-integer ANDs and ORs.
    """

    def __init__(self, label_sets: list[Mapping[str, str]]) -> None:
        self.size = len(label_sets)
        self.all = (1 << self.size) - 1
        self._by_pair: dict[tuple[str, str], int] = {}
        self._by_key: dict[str, int] = {}
        for i, labels in enumerate(label_sets):
            bit = 1 << i
            for key, value in labels.items():
                self._by_pair[(key, value)] = self._by_pair.get((key, value), 0) | bit
                self._by_key[key] = self._by_key.get(key, 0) | bit
        self._cache: dict[LabelSelector, int] = {}

    def select(self, selector: LabelSelector) -> int:
        """Bitset of the objects `selector` matches."""
        cached = self._cache.get(selector)
        if cached is not None:
            return cached
        bits = self.all
        for key, value in selector.match_labels:
            bits &= self._by_pair.get((key, value), 0)
        for req in selector.match_expressions:
            if not bits:
                break
            bits &= self._requirement_bits(req)
        self._cache[selector] = bits
        return bits

    def _requirement_bits(self, req: Requirement) -> int:
        if req.operator in ("In", "NotIn"):
            hit = 0
            for value in req.values:
                hit |= self._by_pair.get((req.key, value), 0)
            return hit if req.operator == "In" else self.all & ~hit
        has_key = self._by_key.get(req.key, 0)
        return has_key if req.operator == "Exists" else self.all & ~has_key
