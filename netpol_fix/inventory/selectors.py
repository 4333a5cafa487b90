"""Label selectors and label keys/values validated and parsed as the API server does.

Parsing lives with the inventory (sources -> objects); the parsed LabelSelector is
plain data in netpol_fix.model.selectors, which the engine only reads.
"""

from __future__ import annotations

import re
from typing import Any

from netpol_fix.model.selectors import OPERATORS, LabelSelector, Requirement

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
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f"label key {key!r}: prefix must be a DNS subdomain"
    if len(name) > 63 or not _NAME.fullmatch(name):
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
    if len(value) > 63 or not _NAME.fullmatch(value):
        return (
            f"label value {value!r} must be 63 characters or less, alphanumeric, "
            "'-', '_' or '.', starting and ending with an alphanumeric character"
        )
    return None


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
