"""Documents to SourceObjects: what is a Kubernetes object (a mapping with `apiVersion` and
`kind`), how `kind: List` (and `FooList`) items become objects of their own, and the
LoadResult that gathers objects and input problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netpol_fix.model.objects import InputError, Location, SourceObject


@dataclass
class LoadResult:
    """What the sources held: the objects, and every input problem (errors and warnings)."""

    objects: list[SourceObject] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def add_document(
    name: str,
    index: int,
    line: int,
    data: Any,
    result: LoadResult,
    item_lines: Any,
) -> None:
    """Check one parsed document and add its object, or each item of a list, to `result`.

    `item_lines` is a callable giving the item lines; it is only called for lists, so the
    common case pays nothing for it.
    """
    if data is None:
        return  # an empty document: `---` followed by nothing, or only comments
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"
        result.errors.append(
            InputError(name, index, line, f"not a Kubernetes object (a mapping) but {kind}")
        )
        return
    problem = _missing_fields(data)
    if problem:
        result.errors.append(InputError(name, index, line, problem))
        return
    kind = data["kind"]
    if not (kind.endswith("List") and "items" in data):
        result.objects.append(SourceObject(data, Location(name, index, line)))
        return
    items = data["items"]
    if items is None:
        return
    if not isinstance(items, list):
        result.errors.append(
            InputError(name, index, line, f"`items` of a {kind} must be a list of objects")
        )
        return
    lines = item_lines() if items else []
    item_kind = kind[: -len("List")] if kind != "List" else None
    for position, item in enumerate(items):
        item_line = lines[position] if position < len(lines) else line
        if item is None:
            continue
        if not isinstance(item, dict):
            result.errors.append(
                InputError(name, index, item_line, f"item {position} of {kind} is not an object")
            )
            continue
        if item_kind:
            if "kind" not in item:
                item = {**item, "kind": item_kind}
            if "apiVersion" not in item and isinstance(data.get("apiVersion"), str):
                item = {**item, "apiVersion": data["apiVersion"]}
        problem = _missing_fields(item)
        if problem:
            result.errors.append(
                InputError(name, index, item_line, f"item {position} of {kind} {problem}")
            )
            continue
        result.objects.append(
            SourceObject(item, Location(name, index, item_line), item_index=position)
        )


def _missing_fields(obj: dict[str, Any]) -> str | None:
    """Why `obj` is not a Kubernetes object, or None if it has `kind` and `apiVersion`."""
    for key in ("kind", "apiVersion"):
        value = obj.get(key)
        if value is None or value == "":
            return f"is missing `{key}`"
        if not isinstance(value, str):
            return f"has a `{key}` that is not a string"
    return None
