"""`netpol-fix explain`: one connection's verdict with its trace, and `--fix`."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import click

from netpol_fix.cli.common import (
    DEFAULT_NAMESPACE,
    cluster_cni,
    cluster_options,
    cluster_read,
    color_option,
    exit_with,
    network_cni,
    read_inventory,
    read_settings,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_FINDINGS, EXIT_OK, fail
from netpol_fix.emit import explain as explain_emit
from netpol_fix.engine.network import Network
from netpol_fix.engine.services import (
    ServiceError,
    backends,
    backing_endpoints,
    describe_ports,
    mapping_line,
)
from netpol_fix.engine.verdict import DnsCheck, Explainer, Query, Verdict, parse_port
from netpol_fix.fixes.cilium_icmp import icmp_flow_policy
from netpol_fix.fixes.flow import narrowest_fix, policy_to_edit
from netpol_fix.inventory.build import Inventory
from netpol_fix.model.findings import UNSAFE, Finding, Fix, Flow, NewObject
from netpol_fix.model.objects import Service, endpoint_ref
from netpol_fix.model.policy import is_port_name
from netpol_fix.rules.context import Context
from netpol_fix.rules.missing_dns_egress import MissingDnsEgress, dns_rules, fix_protocols


def _endpoint_arg(network: Network, text: str, option: str) -> list[int]:
    namespace, sep, name = text.partition("/")
    default = click.get_current_context().meta.get(DEFAULT_NAMESPACE)
    if not sep and default and text:
        namespace, name = default, text  # kubectl's -n: `--to api -n shop`
    elif not sep or not namespace or not name:
        fail(f"{option} {text!r}: expected NAMESPACE/NAME (a workload or pod name), or NAME "
             "with -n NAMESPACE")
    found = network.find(namespace, name)
    if not found:
        here = sorted({e.name for e in network.endpoints if e.namespace == namespace})
        hint = f"; workloads in {namespace}: {', '.join(here)}" if here else (
            f"; the sources hold no workload in namespace {namespace!r}")
        fail(f"{option} {text!r}: no workload or pod of that name{hint}")
    return found


def _service_named(inventory: Inventory, text: str) -> tuple[Service | None, bool]:
    """The Service `--to` names, and whether the text can only mean a Service:
    `NAME.NS.svc[.cluster.local]`, `NS/svc/NAME`, `NS/service/NAME`, `svc/NAME` (namespace
    default); `NS/NAME` may be a Service when no workload has that name."""
    namespace = name = None
    explicit = True
    parts = text.split("/")
    dotted = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?\.?", text)
    if dotted:
        name, namespace = dotted.group(1), dotted.group(2)
    elif len(parts) == 3 and parts[1] in ("svc", "service", "services"):
        namespace, name = parts[0], parts[2]
    elif len(parts) == 2 and parts[0] in ("svc", "service", "services"):
        namespace = click.get_current_context().meta.get(DEFAULT_NAMESPACE) or "default"
        name = parts[1]
    elif len(parts) == 2:
        namespace, name = parts
        explicit = False
    else:
        return None, False
    for service in inventory.services:
        if service.namespace == namespace and service.name == name:
            return service, explicit
    if explicit:
        known = sorted(s.name for s in inventory.services if s.namespace == namespace)
        hint = f"; Services in {namespace}: {', '.join(known)}" if known else (
            f"; the sources hold no Service in namespace {namespace!r}")
        fail(f"--to {text!r}: no Service {namespace}/{name}{hint}")
    return None, False


def _service_backends(network: Network, service: Service, query: Query
                      ) -> list[tuple[int, Query, list[str], str | None]]:
    """(backend, the query as the pod sees it, trace lines, refused reason) per backing
    workload and Service port."""
    try:
        found = backends(network, service, query.port, query.protocol)
    except ServiceError as err:
        fail(str(err))
    result = []
    for backend in found:
        line = mapping_line(service, backend, network)
        refused = line if not backend.resolved else None
        result.append((backend.index, Query(backend.port, backend.protocol), [line], refused))
    return result


def _check_port(network: Network, targets: list[int], query: Query, to: str) -> None:
    """A named --port must be a container port of the destination: else a usage error
    naming the ports it has (a verdict on a port nobody listens on would mislead)."""
    if not isinstance(query.port, str):
        return
    for index in targets:
        endpoint = network.endpoints[index]
        if endpoint.representative:
            continue
        if not any(cp.name == query.port and cp.protocol == query.protocol
                   for cp in endpoint.ports):
            have = ", ".join(f"{cp.port}/{cp.protocol}" + (f" ({cp.name})" if cp.name else "")
                             for cp in endpoint.ports) or "no declared container ports"
            fail(f"--port {query.port}: {endpoint.key} has no {query.protocol} container port "
                 f"named {query.port!r}; its ports: {have}")


def _service_port_hint(inventory: Inventory, network: Network, targets: list[int],
                       query: Query) -> None:
    """A numeric --port that is a Service's port, not a container port of the workload it
    backs: a usage error pointing at the Service (80 is what clients dial, 8080 what the
    policy sees)."""
    if not isinstance(query.port, int):
        return
    for index in targets:
        endpoint = network.endpoints[index]
        if not endpoint.ports or any(cp.port == query.port for cp in endpoint.ports):
            continue
        for service in inventory.services:
            if service.namespace != endpoint.namespace or not service.selector \
                    or not backing_endpoints(network, service) >> index & 1:
                continue
            for sp in service.ports:
                if sp.port == query.port and sp.protocol == query.protocol:
                    fail(f"--port {query.port} is the port of Service {service.namespace}/"
                         f"{service.name} (targetPort {sp.target_port or sp.port}), not a "
                         f"container port of {endpoint.key}: ask with --to "
                         f"{service.namespace}/svc/{service.name} --port {query.port}, or "
                         f"with the container port ({describe_ports(service)})")


def _address_arg(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "%" in text:  # an IPv6 zone names a link, not an address a policy can match
        fail(f"{text!r}: an IPv6 zone (%...) is not an address NetworkPolicy can match")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@click.command()
@click.argument("sources", nargs=-1)
@sources_options
@click.option("--from", "from_", required=True, metavar="NS/NAME|IP|CIDR",
              help="Source workload, pod, or an address outside the cluster's pods.")
@click.option("--to", "to", required=True, metavar="NS/NAME|NS/svc/NAME|IP|CIDR",
              help="Destination workload, pod, Service (NS/svc/NAME, NAME.NS.svc), address "
                   "or CIDR.")
@click.option("--port", default=None,
              help="Destination port (number or container port name; for a Service, its "
                   "port, mapped to each backend's targetPort).")
@click.option("--protocol", type=click.Choice(["TCP", "UDP", "SCTP", "ICMP"],
                                              case_sensitive=False),
              default="TCP", show_default=True)
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(["text", "json", "mermaid"]),
              default="text", show_default=True,
              help="mermaid: the diagnosis flowchart with this connection's path highlighted.")
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour).")
@click.option("--fix", "with_fix", is_flag=True,
              help="Add the narrowest patch that admits exactly this flow, as a diff.")
@color_option
@settings_options
@cluster_options(names_namespace=True)
def explain(sources: tuple[str, ...], from_: str, to: str, port: str | None, protocol: str,
            fmt: str, host_network_as_pods: bool, with_fix: bool, **settings: Any) -> None:
    """Is this connection allowed, and why: the verdict with its trace.

    Exit code 0 allowed, 1 denied, 2 usage or input errors.

    Examples:

    \b
      netpol-fix explain manifests/ --from shop/web --to shop/api --port 8080
      netpol-fix explain manifests/ -n shop --from web --to api --port http --fix
      netpol-fix explain manifests/ --from shop/web --to shop/svc/api --port 80
      netpol-fix explain manifests/ --from shop/web --to 10.0.0.0/8 --protocol UDP --port 53
      netpol-fix explain --cluster --from shop/web --to payments/gateway -o json
    """
    query = Query(parse_port(port), protocol.upper())
    if query.protocol == "ICMP" and query.port is not None:
        fail("--port does not apply to ICMP")
    if isinstance(query.port, int) and not 1 <= query.port <= 65535:
        fail(f"--port {port}: must be between 1 and 65535")
    if isinstance(query.port, str) and not is_port_name(query.port):
        fail(f"--port {port!r}: neither a port number (1-65535) nor a port name (1-15 "
             "lower-case letters, digits and '-', with a letter)")
    chosen = read_settings(**settings)
    inventory = read_inventory(sources)
    cni = network_cni(chosen)
    network = Network(inventory, host_network_as_pods=host_network_as_pods, cni=cni)
    explainer = Explainer(network)
    verdicts: list[Verdict] = []
    pairs: list[tuple[Any, Any]] = []
    queries: list[Query] = []
    from_address, to_address = _address_arg(from_), _address_arg(to)
    if from_address is not None:
        if to_address is not None:
            fail("--from and --to cannot both be addresses: one side must be a pod")
        pairs = [(from_address, d) for d in _endpoint_arg(network, to, "--to")]
        verdicts = [explainer.explain_from_address(from_address, d, query) for _, d in pairs]
    elif to_address is not None:
        pairs = [(s, to_address) for s in _endpoint_arg(network, from_, "--from")]
        verdicts = [explainer.explain_to_address(s, to_address, query) for s, _ in pairs]
    else:
        sources_found = _endpoint_arg(network, from_, "--from")
        default = click.get_current_context().meta.get(DEFAULT_NAMESPACE)
        if default and "/" not in to and ".svc" not in to:
            to = f"{default}/{to}"  # kubectl's -n: `--to backend-svc -n backend`
        service, explicit = _service_named(inventory, to)
        namespace, _, name = to.partition("/")
        workloads = [] if explicit else network.find(namespace, name)
        if service is not None and workloads and isinstance(query.port, int) and not any(
                cp.port == query.port for i in workloads
                for cp in network.endpoints[i].ports) and any(
                sp.port == query.port for sp in service.ports):
            workloads = []  # the port is the Service's: the Service is meant
        if service is not None and not workloads:
            for s_idx in sources_found:
                for d_idx, backend_query, lines, refused in _service_backends(
                        network, service, query):
                    verdict = explainer.explain_pods(s_idx, d_idx, backend_query)
                    verdict.service = lines
                    verdict.refused = refused
                    pairs.append((s_idx, d_idx))
                    verdicts.append(verdict)
                    queries.append(backend_query)
        else:
            targets = _endpoint_arg(network, to, "--to")
            _check_port(network, targets, query, to)
            _service_port_hint(inventory, network, targets, query)
            pairs = [(s, d) for s in sources_found for d in targets]
            verdicts = [explainer.explain_pods(s, d, query) for s, d in pairs]
    _mark_unread_tiers(verdicts, cni.name)
    context = Context(inventory, chosen, cni=cni)
    dns_rule = MissingDnsEgress()
    for verdict, (s_idx, _d) in zip(verdicts, pairs):
        if isinstance(s_idx, int) and not network.endpoints[s_idx].host_network:
            target = context.dns.ref if context.dns.node_local is None \
                else f"NodeLocal DNSCache {context.dns.node_local}"
            verdict.dns = DnsCheck(target, dns_rule.lacking(context, s_idx))
    fixes: list[tuple[Fix, str]] = []
    fix_of: list[Fix | None] = []  # per verdict, for the flowchart
    if not queries:
        queries = [query] * len(verdicts)
    if with_fix:
        # the file editor (and jsonpatch) only when a fix is asked for
        from netpol_fix.fixes.files import apply_plan, unified_diff
        from netpol_fix.fixes.plan import build_plan

        for verdict, (s_idx, d_idx), asked in zip(verdicts, pairs, queries):
            if verdict.refused:
                fix_of.append(None)
                continue  # no policy fix makes a port nobody exposes answer
            if asked.protocol == "ICMP" and cni.icmp_by_extension and isinstance(s_idx, int) \
                    and isinstance(d_idx, int) and not verdict.allowed:
                fixes.append(_icmp_fix(network, verdict, s_idx, d_idx))
                fix_of.append(fixes[-1][0])
                continue
            dns = None
            if verdict.dns is not None and not verdict.dns.allowed:
                dns = dns_rules(context.dns, fix_protocols(context.dns, verdict.dns.lacking))
            # the rules' network also holds the DNS stand-in, so `opens` names the lookups
            # (same endpoint indices: stand-ins come after the workloads)
            fx = narrowest_fix(network if host_network_as_pods else context.network, verdict,
                               s_idx, d_idx, asked, dns)
            if fx is None and not dns and isinstance(s_idx, int) and isinstance(d_idx, int) \
                    and not verdict.allowed:
                from netpol_fix.rules.cilium_flow_fix import cilium_flow_fix

                fx = cilium_flow_fix(context.network, verdict, s_idx, d_idx, asked)
            fix_of.append(fx)
            if fx is not None:
                edited, source = (fx.patches[0].object, fx.patches[0].source) if fx.patches \
                    else (fx.creates[0].ref, fx.creates[0].after)
                finding = Finding("explain", "error", edited, source, "", fix=fx)
                results = apply_plan(build_plan([finding], unsafe=True))
                fixes.append((fx, unified_diff(results)))
    if fmt == "mermaid":
        from netpol_fix.emit.mermaid import explain_flowchart

        detected = cluster_cni(chosen)
        cni_name = detected.name if detected is not None else chosen.cni
        click.echo(explain_flowchart(verdicts, cni_name, fix_of), nl=False)
    elif fmt == "json":
        data = explain_emit.to_json(verdicts)
        if fixes:
            data["fix"] = {**fixes[0][0].to_json(), "diff": fixes[0][1]}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(explain_emit.render_text(verdicts), nl=False)
        if with_fix and not fixes and not all(v.allowed or v.refused for v in verdicts):
            click.echo("\nNo fix offered: no single rule netpol-fix writes admits it here (a "
                       "side decided by an admin policy, a Cilium deny rule or the baseline, "
                       "a policy read from the cluster, or both sides denying under Cilium); "
                       "the chain above names what decides")
        for fx, diff in fixes:
            click.echo(f"\nFix ({fx.applicability}): {fx.description}")
            for flow in fx.opens:
                click.echo(f"  opens {flow}")
            click.echo(diff, nl=False)
    # a Service is reached by name: a denied lookup fails the connection
    by_name = all(v.dns is None or v.dns.allowed for v in verdicts if v.service)
    ok = all(v.allowed for v in verdicts) and by_name
    exit_with(EXIT_OK if ok else EXIT_FINDINGS, inventory)


def _mark_unread_tiers(verdicts: list[Verdict], cni: str) -> None:
    """Each verdict names the policy kinds the cluster serves but did not let us read and
    that its CNI enforces (SOURCES holding some objects of such a kind do not make the
    cluster's others known)."""
    read = cluster_read()
    if read is None or not read.unread_tiers:
        return
    from netpol_fix.cluster.read import ADMIN_FAMILY
    from netpol_fix.engine.tiers import admin_enforced, cilium_enforced

    enforced = {t.text for t in read.unread_tiers
                if (admin_enforced(cni) if t.family == ADMIN_FAMILY else cilium_enforced(cni))}
    for verdict in verdicts:
        verdict.uncertain = [t.text for t in read.unread_tiers if t.text in enforced]


def _icmp_fix(network: Network, verdict: Verdict, src: int, dst: int) -> tuple[Fix, str]:
    """Under Cilium, ICMP is admitted by a CiliumNetworkPolicy `icmps` rule, one per side
    that denies it, each placed after the policy isolating that side."""
    source, target = network.endpoints[src], network.endpoints[dst]
    creates: list[NewObject] = []
    opens: list[Flow] = []
    for side, own, peer, index in ((verdict.ingress, target, source, dst),
                                   (verdict.egress, source, target, src)):
        if side.allowed:
            continue
        policy = policy_to_edit(network, index, side.direction)
        creates.append(NewObject(icmp_flow_policy(own, peer, side.direction),
                                 after=policy.source))
    if not verdict.ingress.allowed or not verdict.egress.allowed:
        opens.append(Flow(endpoint_ref(source), endpoint_ref(target), "ICMP"))
    fx = Fix(UNSAFE, f"create CiliumNetworkPolicy `icmps` rule(s) admitting ICMP echo from "
                     f"{verdict.source} to {verdict.destination} (a NetworkPolicy cannot name "
                     "ICMP)", [], creates, opens)
    from netpol_fix.fixes.files import apply_plan, unified_diff
    from netpol_fix.fixes.plan import build_plan

    finding = Finding("explain", "error", creates[0].ref, creates[0].after, "", fix=fx)
    return fx, unified_diff(apply_plan(build_plan([finding], unsafe=True)))
