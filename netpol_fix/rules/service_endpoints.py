"""service-selects-nothing and service-target-port-unexposed: a Service with no endpoint.

"Connection refused" (or a timeout through a load balancer) is often blamed on policy when
the Service itself has no endpoint: its selector matches no pod, or its targetPort names a
port no selected container exposes, so the EndpointSlice controller leaves those pods out
(Kubernetes API reference, ServicePort.targetPort: a name "will be looked up as a named port
in the target Pod's container ports"). No NetworkPolicy fix helps; the Service or the pod
template must change. Reported only for namespaces whose workloads the sources hold.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.engine.network import iter_bits
from netpol_fix.engine.services import backing_endpoints, is_headless, target_port_on
from netpol_fix.model.findings import ERROR, NONE, WARNING, Finding
from netpol_fix.model.objects import ObjectRef, Service, endpoint_ref
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed


def _ref(service: Service) -> ObjectRef:
    return ObjectRef("v1", "Service", service.namespace, service.name)


def _labels(selector: object) -> str:
    if not isinstance(selector, dict):
        return "{}"
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) + "}"


def _namespaces_with_workloads(ctx: Context) -> set[str]:
    return {w.namespace for w in ctx.inventory.workloads if not w.representative}


class ServiceSelectsNothing(Rule):
    id = "service-selects-nothing"
    about_enforcement = False
    severity = WARNING
    applicability = NONE
    summary = "A Service whose selector matches no pod of its namespace: connections are refused"
    doc = RuleDoc(
        why=(
            "A Service forwards to the pods its selector matches in its own namespace. When "
            "it matches none of the workloads the sources hold there, it has no endpoint: "
            "clients get 'connection refused' (or time out through a load balancer), which "
            "looks like a NetworkPolicy drop and is not one. Typically a label renamed in "
            "the Deployment and not in the Service."),
        example=(
            "kind: Service\nmetadata: {name: api, namespace: shop}\nspec:\n"
            "  selector: {app: api}\n# the Deployment's pods are labelled app: api-server"),
        fix=("None: correct the Service's selector or the pod template's labels. "
             "`netpol-fix explain --to NS/svc/NAME` says the same for one connection."),
        unsafe="There is no automatic fix.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        namespaces = _namespaces_with_workloads(ctx)
        findings = []
        for service in ctx.inventory.services:
            if service.namespace not in namespaces or not service.selector \
                    or service.type == "ExternalName" or suppressed(self.id, service.source):
                continue
            if backing_endpoints(ctx.network, service):
                continue
            here = sorted({f"{w.kind}/{w.name}" for w in ctx.inventory.workloads
                           if w.namespace == service.namespace and not w.representative})
            message = (f"Service {service.namespace}/{service.name} selects "
                       f"{_labels(service.selector)}, which matches none of the workload(s) "
                       f"the sources hold in namespace {service.namespace} "
                       f"({', '.join(here[:5])}{', ...' if len(here) > 5 else ''}): it has "
                       "no endpoint, so connections to it are refused, not dropped by a "
                       "policy")
            findings.append(Finding(self.id, self.severity, _ref(service), service.source,
                                    message, []))
        return findings


class ServiceTargetPortUnexposed(Rule):
    id = "service-target-port-unexposed"
    about_enforcement = False
    severity = ERROR
    applicability = NONE
    summary = "A Service targetPort that no container of its selected pods exposes"
    doc = RuleDoc(
        why=(
            "A named targetPort is looked up in each selected pod's container ports; a pod "
            "that has no container port of that name (and protocol) gets no endpoint for it, "
            "so connections to that Service port are refused. A numeric targetPort that the "
            "selected containers declare nowhere, while they declare others, is most likely "
            "a typo (a warning: declaring container ports is optional)."),
        example=(
            "kind: Service\nspec:\n  selector: {app: api}\n"
            "  ports: [{port: 80, targetPort: grpc}]\n# the api container names its port http"),
        fix=("None: name an existing container port in `targetPort`, or add the port to the "
             "container. Policies must admit the targetPort, not the Service port."),
        unsafe="There is no automatic fix.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        namespaces = _namespaces_with_workloads(ctx)
        net = ctx.network
        findings = []
        for service in ctx.inventory.services:
            if service.namespace not in namespaces or is_headless(service) \
                    or suppressed(self.id, service.source):
                continue
            workloads = [net.endpoints[i] for i in iter_bits(backing_endpoints(net, service))]
            for sp in service.ports:
                named = isinstance(sp.target_port, str) and not sp.target_port.isdigit()
                missing = [w for w in workloads if isinstance(target_port_on(w, sp), str)] \
                    if named else [w for w in workloads if w.ports and not any(
                        cp.port == target_port_on(w, sp) for cp in w.ports)]
                if not missing:
                    continue
                target = sp.target_port if sp.target_port is not None else sp.port
                names = ", ".join(f"{w.kind}/{w.name}" for w in missing)
                exposed = "; ".join(
                    f"{w.kind}/{w.name}: " + (", ".join(
                        f"{cp.port}/{cp.protocol}" + (f" ({cp.name})" if cp.name else "")
                        for cp in w.ports) or "none") for w in missing)
                if named:
                    message = (f"Service {service.namespace}/{service.name} port {sp.port} "
                               f"targets the named port {target!r} ({sp.protocol}), which no "
                               f"container of {names} exposes: those pods get no endpoint "
                               f"and connections are refused (their ports: {exposed})")
                    severity = ERROR
                else:
                    message = (f"Service {service.namespace}/{service.name} port {sp.port} "
                               f"targets {sp.protocol} {target}, which the containers of "
                               f"{names} do not declare (they declare {exposed}): if nothing "
                               "listens there, connections are refused")
                    severity = WARNING
                findings.append(Finding(self.id, severity, _ref(service), service.source,
                                        message, [endpoint_ref(w) for w in missing]))
        return findings
