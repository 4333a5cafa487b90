"""Typed objects the engine and the rules work on.

Everything a source (a file, stdin, a live cluster) provides ends up as one of these small
dataclasses. They keep the raw dict they were built from (fixes are JSON patches against it)
and where it came from (findings and errors name file, document and line).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.model.text import inert


@dataclass(frozen=True)
class Location:
    """Where an object was read: `document` counts from 0, `line` from 1."""

    file: str
    document: int
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line} (document {self.document})"


@dataclass(frozen=True)
class SourceObject:
    """One Kubernetes object as read from a source, before any interpretation.

    `location` is None for objects read from a live cluster. Items of a `kind: List` are
    separate SourceObjects that share the document index of the list and carry the line of
    the item. `item_index` is the item's index inside that list (None outside lists), which
    fixes need to address the object inside the file.
    """

    obj: dict[str, Any]
    location: Location | None
    item_index: int | None = None
    spec_defaulted: str | None = None
    """"absent" or "null" when the object as written had no `spec` mapping (the API server
    accepts a NetworkPolicy without one and reads it as an empty spec): `obj` then holds
    `spec: {}`, and an edit of the file writes that first."""


@dataclass(frozen=True)
class InputError:
    """Bad input: reported to the user, never raised past the CLI.

    `severity` is "error" (the input, or part of it, was not analysed; exit code 2) or
    "warning" (reported, analysis unaffected).
    """

    file: str
    document: int | None
    line: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = inert(self.file)
        if self.line is not None:
            where += f":{self.line}"
        if self.document is not None:
            where += f" (document {self.document})"
        return f"{where}: {self.severity}: {inert(self.message)}"


@dataclass(frozen=True)
class ObjectRef:
    """The identity of an API object, as in the JSON outputs."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str]
    declared: bool
    """False for a namespace that objects use but no Namespace manifest declares."""
    source: SourceObject | None = None


@dataclass(frozen=True)
class ContainerPort:
    name: str | None
    port: int
    protocol: str


@dataclass(frozen=True)
class Workload:
    """Pods that behave alike: the pods of one owner (or one bare pod).

    netpol-analyzer's naming: `ns/name[Kind]`, the top-level owner of the pods. A workload
    manifest without pods stands for one pod with its template's labels.
    """

    namespace: str
    name: str
    kind: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...] = ()
    host_network: bool = False
    ips: tuple[str, ...] = ()
    source: SourceObject | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    representative: bool = False
    """True for a stand-in pod that no source declares (e.g. a policy's selected pod)."""
    pods: tuple[str, ...] = ()
    """Names of the Pod objects grouped here (empty for a workload manifest)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class ServicePort:
    name: str | None
    port: int
    target_port: int | str | None
    protocol: str


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    selector: Mapping[str, str] | None
    ports: tuple[ServicePort, ...]
    cluster_ip: str | None = None
    source: SourceObject | None = None
    type: str = "ClusterIP"
    external_name: str | None = None


def endpoint_ref(endpoint: Workload) -> str:
    """How findings and flows name an endpoint: `ns/Kind/name`, or `ns/selector`.
    (Interned: a fix's `opens` may name the same few thousand endpoints a million times.)"""
    if endpoint.representative:
        return sys.intern(f"{endpoint.namespace}/{endpoint.name}")
    return sys.intern(f"{endpoint.namespace}/{endpoint.kind}/{endpoint.name}")
