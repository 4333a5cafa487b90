"""Documents to SourceObjects: what is a Kubernetes object (a mapping with `apiVersion` and
`kind`), how `kind: List` (and `FooList`) items become objects of their own, and the
LoadResult that gathers objects and input problems.

What is not a Kubernetes object is not an error: a GitOps repository holds Helm's
Chart.yaml and values.yaml, docker-compose files, CI workflows, renovate.json. A document
without `kind`, or one whose `kind` netpol-fix does not read and that lacks `apiVersion`,
is skipped and counted. A document that names a kind netpol-fix reads (a NetworkPolicy
without `apiVersion`, say) is still an error with its line: that is a broken manifest.
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
    notes: list[str] = field(default_factory=list)
    """Things the user should know that are not problems (a Helm chart's templates skipped)."""
    skipped: dict[str, list[int]] = field(default_factory=dict)
    """Per file, the documents skipped because they are not Kubernetes objects."""

    def extend(self, other: LoadResult) -> None:
        """Add what `other` read after what this one holds, as if read into it directly
        (a part read on its own: by another process, or a reread's documents)."""
        self.objects += other.objects
        self.errors += other.errors
        self.notes += other.notes
        for name, documents in other.skipped.items():
            self.skipped.setdefault(name, []).extend(documents)

    def skipped_files(self) -> list[str]:
        """Files that held documents but no Kubernetes object and no error: tool
        configuration, Helm values, CI workflows."""
        used = {o.location.file for o in self.objects if o.location}
        used |= {e.file for e in self.errors}
        return [f for f in self.skipped if f not in used]


READ_KINDS = frozenset({
    "NetworkPolicy", "Namespace", "Pod", "Service", "Node",
    "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
    "CronJob", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy",
    "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy", "List",
})
"""Kinds whose objects netpol-fix reads (or lists of them): such a document with a broken
shape is an error, never skipped. (A test keeps the inventory builder's kinds in here.)"""
OBJECT_FIELDS = ("metadata", "spec", "items")


def is_kubernetes_object(data: Any) -> bool:
    """Whether a parsed document is meant as a Kubernetes object (then a missing field is
    an error): a mapping with both `apiVersion` and `kind`; one naming a kind netpol-fix
    reads; or one with either of them beside the fields only objects have (`metadata`,
    `spec`, `items`: a misspelt `kind` key is a broken manifest). Helm's Chart.yaml
    (`apiVersion: v2`, name, version), values files, compose files and CI workflows are
    not."""
    if not isinstance(data, dict):
        return False
    kind = data.get("kind")
    if isinstance(kind, str) and (kind in READ_KINDS or kind.endswith("List")):
        return True
    api_version = data.get("apiVersion")
    if kind is not None and api_version is not None:
        return True
    if kind is None and api_version is None:
        return False
    return any(key in data for key in OBJECT_FIELDS)


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
    if not is_kubernetes_object(data):
        result.skipped.setdefault(name, []).append(index)
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
