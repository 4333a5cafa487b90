"""A Service as a destination: its backing workloads and what its port becomes on each.

Clients connect to a Service's port; kube-proxy (or the CNI's service handling) rewrites
the connection to a backing pod's `targetPort` before NetworkPolicy sees it, so a policy
must admit the targetPort, never the Service port. The targetPort is a number, or the name
of a container port, resolved per pod (pods of different workloads may give the same name
different numbers); a pod that does not expose a named targetPort gets no endpoint for it.
Omitted, it equals `port` (Kubernetes API reference, ServicePort.targetPort).

Headless Services (`clusterIP: None`) have no port mapping: their name resolves to the pod
addresses and clients connect to the pods' ports directly. ExternalName Services are a DNS
CNAME to a name outside the cluster: no pod backs them. A Service without a selector has
endpoints managed by hand, which the sources do not tell.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpol_fix.engine.network import Network, iter_bits
from netpol_fix.model.objects import Service, ServicePort, Workload
from netpol_fix.model.selectors import LabelSelector


class ServiceError(ValueError):
    """The Service cannot be resolved to pods (said, never guessed)."""


@dataclass(frozen=True)
class Backend:
    """One backing workload of a Service port: the pod port the connection reaches."""

    index: int
    service_port: ServicePort | None
    """None for a headless Service (no mapping: the asked port is the pod's port)."""
    port: int | str | None
    """The pod port (number), or the unresolved name when the pod does not expose it."""
    protocol: str

    @property
    def resolved(self) -> bool:
        return isinstance(self.port, int) or self.port is None


def is_headless(service: Service) -> bool:
    return service.cluster_ip == "None"


def backing_endpoints(network: Network, service: Service) -> int:
    """Endpoints (bits) the Service's selector picks in its namespace; never stand-ins."""
    if not service.selector:
        return 0
    selector = LabelSelector(tuple(sorted(service.selector.items())))
    bits = network.ns_members.get(service.namespace, 0) & network.pod_index.select(selector)
    for i in iter_bits(bits):
        if network.endpoints[i].representative:
            bits &= ~(1 << i)
    return bits


def target_port_on(workload: Workload, service_port: ServicePort) -> int | str:
    """The number a ServicePort's targetPort is on one workload's pods, or the name when the
    pods expose no container port of that name (and protocol)."""
    target = service_port.target_port
    if target is None:
        return service_port.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    for cp in workload.ports:
        if cp.name == target and cp.protocol == service_port.protocol:
            return cp.port
    return target


def service_ports_for(service: Service, port: int | str | None,
                      protocol: str) -> list[ServicePort]:
    """The Service ports a `--port` means: its number or name (all ports of the protocol
    when no port is given). Raises ServiceError naming the ports it has."""
    if service.type == "ExternalName":
        raise ServiceError(f"Service {service.namespace}/{service.name} is of type "
                           f"ExternalName (a DNS alias of {service.external_name or '?'}): no "
                           "pod of the cluster backs it, so no NetworkPolicy verdict applies "
                           "to it; ask about the address it resolves to instead")
    if not service.selector:
        raise ServiceError(f"Service {service.namespace}/{service.name} has no selector: its "
                           "endpoints are managed by hand (EndpointSlices), which the sources "
                           "do not tell; ask about the backing workload instead")
    candidates = [p for p in service.ports if p.protocol == protocol] \
        if protocol in ("TCP", "UDP", "SCTP") else list(service.ports)
    if port is None:
        return candidates
    chosen = [p for p in candidates if port in (p.port, p.name)]
    if not chosen:
        raise ServiceError(f"--port {port}: Service {service.namespace}/{service.name} has no "
                           f"{protocol} port {port}; its ports: {describe_ports(service)}")
    return chosen


def describe_ports(service: Service) -> str:
    parts = []
    for p in service.ports:
        name = f" ({p.name})" if p.name else ""
        target = p.port if p.target_port is None else p.target_port
        parts.append(f"{p.protocol} {p.port}{name} → targetPort {target}")
    return ", ".join(parts) or "none"


def backends(network: Network, service: Service, port: int | str | None,
             protocol: str) -> list[Backend]:
    """Each backing workload with the pod port a connection to the Service reaches there.
    Raises ServiceError when the Service cannot be resolved to pods of the sources."""
    bits = backing_endpoints(network, service)
    ports = service_ports_for(service, port, protocol) if not is_headless(service) else []
    if not bits:
        raise ServiceError(f"Service {service.namespace}/{service.name} selects no pod of the "
                           f"sources (selector {_labels(service.selector)} in namespace "
                           f"{service.namespace}): connections to it are refused, not "
                           "dropped by a policy")
    result = []
    for i in iter_bits(bits):
        workload = network.endpoints[i]
        if is_headless(service):
            result.append(Backend(i, None, port, protocol))
            continue
        for sp in ports:
            result.append(Backend(i, sp, target_port_on(workload, sp), sp.protocol))
    return result


def mapping_line(service: Service, backend: Backend, network: Network) -> str:
    """"Service backend/api port 80 → targetPort http (8080) on backend/api[Deployment]"."""
    workload = network.endpoints[backend.index].key
    where = f"Service {service.namespace}/{service.name}"
    if backend.service_port is None:
        return (f"{where} is headless (clusterIP: None): its name resolves to the pods' "
                f"addresses, so the connection reaches {workload} on the port asked, "
                "unchanged")
    sp = backend.service_port
    port = f"port {sp.port}" + (f" ({sp.name})" if sp.name else "")
    target = sp.target_port
    if target is None:
        return f"{where} {port} → targetPort {sp.port} (the same; omitted) on {workload}"
    if isinstance(backend.port, str):
        return (f"{where} {port} → targetPort {target}, which no container of {workload} "
                "exposes: the Service has no endpoint there and the connection is refused")
    if isinstance(target, str) and not target.isdigit():
        return f"{where} {port} → targetPort {target} ({backend.port}) on {workload}"
    return f"{where} {port} → targetPort {backend.port} on {workload}"


def _labels(selector: object) -> str:
    if not isinstance(selector, dict) or not selector:
        return "{}"
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) + "}"
