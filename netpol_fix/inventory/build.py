"""Turn raw SourceObjects into one typed Inventory.

Why a separate step from reading: the same objects come from files, stdin and a live
cluster, and the interpretation (which kinds matter, how pods group under their owner,
which namespaces exist implicitly, what the API server would reject) must be identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netpol_fix.inventory import model_reuse
from netpol_fix.inventory.admin_policies import check_admin_set, read_admin_policy
from netpol_fix.inventory.cilium_policies import read_cilium_policy
from netpol_fix.inventory.metadata import metadata_problem, template_labels_problem
from netpol_fix.inventory.policies import PolicyError, parse_network_policy, policy_warnings
from netpol_fix.model.admin_policy import ADMIN_KINDS, AdminPolicy
from netpol_fix.model.cilium_policy import CiliumPolicy
from netpol_fix.model.objects import (
    ContainerPort,
    InputError,
    Namespace,
    Service,
    ServicePort,
    SourceObject,
    Workload,
)
from netpol_fix.model.policy import LEGACY_API_VERSIONS, SUPPORTED_API_VERSIONS, NetworkPolicy

NAME_LABEL = "kubernetes.io/metadata.name"
TEMPLATE_OWNERS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
CILIUM_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
IGNORE_ANNOTATION = "netpol-fix.io/ignore"
READ_BY_BUILDER = frozenset({"NetworkPolicy", "Namespace", "Pod", "Service",
                             *TEMPLATE_OWNERS, *CILIUM_KINDS})

Locator = Callable[[SourceObject, Sequence[str | int]], int | None]


@dataclass
class Inventory:
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    cilium_policies: list[SourceObject] = field(default_factory=list)
    admin_policies: list[AdminPolicy] = field(default_factory=list)
    """AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy (v1alpha2)."""
    cilium: list[CiliumPolicy] = field(default_factory=list)
    """The Cilium policies parsed for the engine (the raw objects: cilium_policies)."""
    errors: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the user should know that is no problem (a Helm chart's templates skipped)."""
    skipped_files: list[str] = field(default_factory=list)
    """Files read that held no Kubernetes object (Chart.yaml, values.yaml, CI files)."""
    objects_read: int = 0
    """Kubernetes objects the sources held, of any kind (0: say so, the run is empty)."""

    def namespace(self, name: str) -> Namespace:
        """The namespace, or the implicit one every used namespace is."""
        found = self.namespaces.get(name)
        if found is None:
            found = Namespace(name, {NAME_LABEL: name}, declared=False)
        return found

    def policies_in(self, namespace: str) -> list[NetworkPolicy]:
        return [p for p in self.policies if p.namespace == namespace]


def _line_of_object(source: SourceObject, path: Sequence[str | int]) -> int | None:
    return source.location.line if source.location else None


def _error(source: SourceObject, message: str, line: int | None = None,
           severity: str = "error") -> InputError:
    loc = source.location
    if loc is None:
        meta = source.obj.get("metadata") or {}
        where = f"{source.obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"
        return InputError(f"<cluster:{where}>", None, None, message, severity)
    return InputError(loc.file, loc.document, line or loc.line, message, severity)


def _namespace_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else "default"


def _dig(obj: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _string_map(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): ("" if v is None else str(v)) for k, v in raw.items()}


class PodSpecError(ValueError):
    """A pod (template) spec the API server would reject; `path` is relative to the spec."""

    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.path = path


def _container_ports(pod_spec: Any) -> tuple[ContainerPort, ...]:
    """Named and numbered container ports; raises PodSpecError on malformed ones."""
    ports: list[ContainerPort] = []
    if pod_spec is None:
        return ()
    if not isinstance(pod_spec, dict):
        raise PodSpecError("spec must be a mapping", ())
    containers = pod_spec.get("containers") or []
    if not isinstance(containers, list):
        raise PodSpecError("containers must be a list", ("containers",))
    for i, container in enumerate(containers):
        if not isinstance(container, dict):
            raise PodSpecError("a container must be a mapping", ("containers", i))
        raw_ports = container.get("ports")
        if raw_ports is None:
            raw_ports = []
        if not isinstance(raw_ports, list):
            raise PodSpecError("ports must be a list", ("containers", i, "ports"))
        for j, p in enumerate(raw_ports):
            path: tuple[str | int, ...] = ("containers", i, "ports", j)
            if not isinstance(p, dict):
                raise PodSpecError("a container port must be a mapping", path)
            number = p.get("containerPort")
            if number is None:
                continue  # e.g. a misspelt `containerport`: no port to name, nothing to match
            if not isinstance(number, int) or isinstance(number, bool) \
                    or not 1 <= number <= 65535:
                raise PodSpecError(f"containerPort {number!r} must be a number 1-65535",
                                   path + ("containerPort",))
            ports.append(ContainerPort(p.get("name"), number, p.get("protocol") or "TCP"))
    return tuple(ports)


def _pod_ips(obj: dict[str, Any]) -> tuple[str, ...]:
    status = obj.get("status") or {}
    if not isinstance(status, dict):
        return ()
    ips = [entry.get("ip") for entry in status.get("podIPs") or [] if isinstance(entry, dict)]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return tuple(str(ip) for ip in ips if ip)


class InventoryBuilder:
    """Accumulates objects; `build()` returns the Inventory. One instance per run."""

    def __init__(self, locate: Locator | None = None) -> None:
        self.locate = locate or _line_of_object
        self.inventory = Inventory()
        self._declared_ns: dict[str, SourceObject] = {}
        self._policy_keys: dict[tuple[str, str], SourceObject] = {}
        self._pod_groups: dict[tuple[str, str, str], list[Workload]] = {}

    def add_all(self, objects: Iterable[SourceObject]) -> Inventory:
        for source in objects:
            self.add(source)
        return self.build()

    def add(self, source: SourceObject) -> None:
        obj = source.obj
        kind = obj.get("kind")
        try:
            if kind in READ_BY_BUILDER and not model_reuse.parsed(obj, "valid metadata"):
                invalid = metadata_problem(obj)
                if invalid is None:
                    model_reuse.keep(obj, "valid metadata", True)
                else:
                    message, path, severity = invalid
                    consequence = "object skipped" if severity == "error" else "analysed anyway"
                    self.inventory.errors.append(_error(
                        source, f"{kind} is invalid: {message}; the API server would reject "
                        f"it, {consequence}", self.locate(source, path), severity))
                    if severity == "error":
                        return
            if kind == "NetworkPolicy":
                self._add_policy(source)
            elif kind == "Namespace":
                self._add_namespace(source)
            elif kind == "Pod":
                self._add_pod(source)
            elif kind in TEMPLATE_OWNERS:
                self._add_template_owner(source, kind)
            elif kind == "Service":
                self._add_service(source)
            elif kind in CILIUM_KINDS:
                self.inventory.cilium_policies.append(source)
                self._add_parsed(source, read_cilium_policy, self.inventory.cilium)
            elif kind in ADMIN_KINDS:
                self._add_admin_policy(source)
        except (TypeError, AttributeError, ValueError) as err:
            # A malformed object of a kind we use: say so, keep going with the rest.
            self.inventory.errors.append(_error(source, f"malformed {kind}: {err}"))

    def _add_policy(self, source: SourceObject) -> None:
        if source.obj.get("spec") is None:
            # the API server accepts a NetworkPolicy without spec (or `spec: null`) and
            # reads it as the empty spec; fixes then patch `spec: {}`, written first
            source = replace(source, obj={**source.obj, "spec": {}},
                             spec_defaulted="null" if "spec" in source.obj else "absent")
        obj = source.obj
        api_version = obj.get("apiVersion")
        if api_version not in SUPPORTED_API_VERSIONS:
            if api_version in LEGACY_API_VERSIONS:
                self.inventory.errors.append(_error(
                    source,
                    f"NetworkPolicy uses the removed apiVersion {api_version}; analysed as "
                    "networking.k8s.io/v1 (same semantics), but the API server no longer "
                    "serves it",
                    severity="warning",
                ))
            else:
                self.inventory.errors.append(_error(
                    source, f"unknown apiVersion {api_version!r} for NetworkPolicy "
                    "(expected networking.k8s.io/v1); object skipped"))
                return
        policy = model_reuse.parsed(obj, "NetworkPolicy")
        if policy is not None:
            policy = model_reuse.with_source(policy, source)  # parsed before, no warning
        else:
            try:
                policy = parse_network_policy(obj, _namespace_of(obj), source)
            except PolicyError as err:
                line = self.locate(source, err.path) if err.path else None
                name = _dig(obj, ("metadata", "name"))
                self.inventory.errors.append(_error(
                    source, f"NetworkPolicy {_namespace_of(obj)}/{name} is invalid: {err}; "
                    "the API server would reject it, object skipped", line))
                return
            warnings = policy_warnings(policy)
            for message, path in warnings:
                self.inventory.errors.append(_error(
                    source, f"NetworkPolicy {policy.key}: {message}",
                    self.locate(source, path), severity="warning"))
            if not warnings:
                model_reuse.keep(obj, "NetworkPolicy", policy)
        key = (policy.namespace, policy.name)
        if key in self._policy_keys:
            first = self._policy_keys[key].location
            self.inventory.errors.append(_error(
                source, f"NetworkPolicy {policy.key} is defined twice (first at {first}); "
                "only one object of a kind can have a given name, the second is skipped"))
            return
        self._policy_keys[key] = source
        self.inventory.policies.append(policy)

    def _add_admin_policy(self, source: SourceObject) -> None:
        self._add_parsed(source, read_admin_policy, self.inventory.admin_policies)

    def _add_parsed(self, source: SourceObject,
                    reader: Callable[[SourceObject], tuple[Any, list[tuple[str, Any, str]]]],
                    into: list[Any]) -> None:
        """A policy kind parsed in its own module: its problems become errors with lines."""
        policy, problems = reader(source)
        for message, path, severity in problems:
            self.inventory.errors.append(_error(
                source, message, self.locate(source, path) if path else None, severity))
        if policy is not None:
            into.append(policy)

    def _add_namespace(self, source: SourceObject) -> None:
        name = _dig(source.obj, ("metadata", "name"))
        if not isinstance(name, str) or not name:
            self.inventory.errors.append(_error(source, "Namespace without metadata.name"))
            return
        if name in self._declared_ns:
            first = self._declared_ns[name].location
            self.inventory.errors.append(_error(
                source, f"Namespace {name!r} is defined twice (first at {first}); "
                "the second is skipped"))
            return
        self._declared_ns[name] = source
        labels = _string_map(_dig(source.obj, ("metadata", "labels")))
        labels[NAME_LABEL] = name  # set by the API server on every namespace
        self.inventory.namespaces[name] = Namespace(name, labels, declared=True, source=source)

    def _add_pod(self, source: SourceObject) -> None:
        obj = source.obj
        meta = obj.get("metadata") or {}
        name = meta.get("name") or meta.get("generateName") or "pod"
        owner_kind, owner_name = "Pod", name
        owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict)]
        if owners:
            controller = next((o for o in owners if o.get("controller")), owners[0])
            owner_kind = controller.get("kind") or "Pod"
            owner_name = controller.get("name") or name
        spec = obj.get("spec") or {}
        ports = self._ports_or_error(source, ("spec",), spec, f"Pod {_namespace_of(obj)}/{name}")
        if ports is None:
            return
        workload = Workload(
            namespace=_namespace_of(obj),
            name=owner_name,
            kind=owner_kind,
            labels=_string_map(meta.get("labels")),
            ports=ports,
            host_network=bool(spec.get("hostNetwork")),
            ips=_pod_ips(obj),
            source=source,
            annotations=_string_map(meta.get("annotations")),
            pods=(name,),
        )
        self._group_pod(workload)

    def _ports_or_error(self, source: SourceObject, prefix: tuple[str, ...], spec: Any,
                        what: str) -> tuple[ContainerPort, ...] | None:
        try:
            return _container_ports(spec)
        except PodSpecError as err:
            line = self.locate(source, prefix + err.path)
            self.inventory.errors.append(_error(
                source, f"{what} is invalid: {err}; the API server would reject it, "
                "object skipped", line))
            return None

    def _group_pod(self, workload: Workload) -> None:
        """Pods of one owner are one workload; pods whose labels differ stay apart."""
        group = self._pod_groups.setdefault(
            (workload.namespace, workload.kind, workload.name), [])
        for i, existing in enumerate(group):
            if (existing.labels == workload.labels and existing.ports == workload.ports
                    and existing.host_network == workload.host_network):
                group[i] = Workload(
                    existing.namespace, existing.name, existing.kind, existing.labels,
                    existing.ports, existing.host_network, existing.ips + workload.ips,
                    existing.source, existing.annotations, existing.representative,
                    existing.pods + workload.pods)
                return
        group.append(workload)

    def _add_template_owner(self, source: SourceObject, kind: str) -> None:
        obj = source.obj
        kept = model_reuse.parsed(obj, kind)
        if kept is not None:  # parsed before, without a problem
            self.inventory.workloads.append(model_reuse.with_source(kept, source))
            return
        template = _dig(obj, TEMPLATE_OWNERS[kind])
        if not isinstance(template, dict):
            template = {}
        meta = template.get("metadata") or {}
        spec = template.get("spec") or {}
        name = _dig(obj, ("metadata", "name")) or kind.lower()
        invalid = None
        if isinstance(meta, dict):
            invalid = template_labels_problem(meta.get("labels"))
            if invalid:
                message, path, severity = invalid
                consequence = "object skipped" if severity == "error" else "analysed anyway"
                self.inventory.errors.append(_error(
                    source, f"{kind} {_namespace_of(obj)}/{name} is invalid: pod template "
                    f"{message}; the API server would reject it, {consequence}",
                    self.locate(source, TEMPLATE_OWNERS[kind] + path), severity))
                if severity == "error":
                    return
        ports = self._ports_or_error(source, TEMPLATE_OWNERS[kind] + ("spec",), spec,
                                     f"{kind} {_namespace_of(obj)}/{name}")
        if ports is None:
            return
        workload = Workload(
            namespace=_namespace_of(obj),
            name=str(name),
            kind=kind,
            labels=_string_map(meta.get("labels")),
            ports=ports,
            host_network=bool(spec.get("hostNetwork")),
            source=source,
            annotations=_string_map(_dig(obj, ("metadata", "annotations"))),
        )
        self.inventory.workloads.append(workload)
        if invalid is None:
            model_reuse.keep(obj, kind, workload)

    def _add_service(self, source: SourceObject) -> None:
        obj = source.obj
        spec = obj.get("spec") or {}
        ports = []
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and isinstance(p.get("port"), int):
                target = p.get("targetPort")
                ports.append(ServicePort(p.get("name"), p["port"],
                                         target if isinstance(target, (int, str)) else None,
                                         p.get("protocol") or "TCP"))
        selector = spec.get("selector")
        self.inventory.services.append(Service(
            namespace=_namespace_of(obj),
            name=str(_dig(obj, ("metadata", "name"))),
            selector=_string_map(selector) if isinstance(selector, dict) else None,
            ports=tuple(ports),
            cluster_ip=spec.get("clusterIP"),
            source=source,
            type=str(spec.get("type") or "ClusterIP"),
            external_name=spec.get("externalName"),
        ))

    def build(self) -> Inventory:
        inv = self.inventory
        for group in self._pod_groups.values():
            if len(group) > 1:
                first = group[0]
                inv.errors.append(_error(
                    group[1].source or first.source,  # type: ignore[arg-type]
                    f"pods of {first.key} differ in labels or ports; each variant is "
                    "analysed on its own (netpol-analyzer refuses such input)",
                    severity="warning"))
            inv.workloads.extend(group)
        self._pod_groups = {}
        inv.admin_policies, problems = check_admin_set(inv.admin_policies)
        for policy, (message, path, severity) in problems:
            assert policy.source is not None
            inv.errors.append(_error(policy.source, message,
                                     self.locate(policy.source, path), severity))
        used = {w.namespace for w in inv.workloads} | {p.namespace for p in inv.policies}
        used |= {s.namespace for s in inv.services}
        for name in sorted(used):
            if name not in inv.namespaces:
                inv.namespaces[name] = Namespace(name, {NAME_LABEL: name}, declared=False)
        inv.workloads.sort(key=lambda w: (w.namespace, w.name, w.kind))
        return inv


def build_inventory(objects: Iterable[SourceObject], locate: Locator | None = None) -> Inventory:
    return InventoryBuilder(locate).add_all(objects)
