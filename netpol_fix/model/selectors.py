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
from collections.abc import Mapping
from dataclasses import dataclass

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


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
