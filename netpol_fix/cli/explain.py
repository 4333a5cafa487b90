"""`netpol-fix explain`: one connection's verdict with its trace, and `--fix`."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import click

from netpol_fix.cli.common import (
    DEFAULT_NAMESPACE,
    cluster_cni,
    cluster_options,
    color_option,
    exit_with,
    read_inventory,
    read_settings,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_FINDINGS, EXIT_OK, fail
from netpol_fix.emit import explain as explain_emit
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import DnsCheck, Explainer, Query, Verdict, parse_port
from netpol_fix.fixes.flow import narrowest_fix
from netpol_fix.model.findings import Finding, Fix
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


def _address_arg(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@click.command()
@click.argument("sources", nargs=-1)
@sources_options
@click.option("--from", "from_", required=True, metavar="NS/NAME|IP|CIDR",
              help="Source workload, pod, or an address outside the cluster's pods.")
@click.option("--to", "to", required=True, metavar="NS/NAME|IP|CIDR",
              help="Destination workload, pod, address or CIDR.")
@click.option("--port", default=None, help="Destination port (number or container port name).")
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
      netpol-fix explain manifests/ --from shop/web --to 10.0.0.0/8 --protocol UDP --port 53
      netpol-fix explain --cluster --from shop/web --to payments/gateway -o json
    """
    chosen = read_settings(**settings)
    inventory = read_inventory(sources)
    network = Network(inventory, host_network_as_pods=host_network_as_pods)
    query = Query(parse_port(port), protocol.upper())
    if query.protocol == "ICMP" and query.port is not None:
        fail("--port does not apply to ICMP")
    if isinstance(query.port, int) and not 1 <= query.port <= 65535:
        fail(f"--port {port}: must be between 1 and 65535")
    explainer = Explainer(network)
    verdicts: list[Verdict] = []
    pairs: list[tuple[Any, Any]] = []
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
        targets = _endpoint_arg(network, to, "--to")
        pairs = [(s, d) for s in _endpoint_arg(network, from_, "--from") for d in targets]
        verdicts = [explainer.explain_pods(s, d, query) for s, d in pairs]
    context = Context(inventory, chosen)
    dns_rule = MissingDnsEgress()
    for verdict, (s_idx, _d) in zip(verdicts, pairs):
        if isinstance(s_idx, int) and not network.endpoints[s_idx].host_network:
            target = context.dns.ref if context.dns.node_local is None \
                else f"NodeLocal DNSCache {context.dns.node_local}"
            verdict.dns = DnsCheck(target, dns_rule.lacking(context, s_idx))
    fixes: list[tuple[Fix, str]] = []
    fix_of: list[Fix | None] = []  # per verdict, for the flowchart
    if with_fix:
        # the file editor (and jsonpatch) only when a fix is asked for
        from netpol_fix.fixes.files import apply_plan, unified_diff
        from netpol_fix.fixes.plan import build_plan

        for verdict, (s_idx, d_idx) in zip(verdicts, pairs):
            dns = None
            if verdict.dns is not None and not verdict.dns.allowed:
                dns = dns_rules(context.dns, fix_protocols(context.dns, verdict.dns.lacking))
            # the rules' network also holds the DNS stand-in, so `opens` names the lookups
            # (same endpoint indices: stand-ins come after the workloads)
            fx = narrowest_fix(network if host_network_as_pods else context.network, verdict,
                               s_idx, d_idx, query, dns)
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
        cni = detected.name if detected is not None else chosen.cni
        click.echo(explain_flowchart(verdicts, cni, fix_of), nl=False)
    elif fmt == "json":
        data = explain_emit.to_json(verdicts)
        if fixes:
            data["fix"] = {**fixes[0][0].to_json(), "diff": fixes[0][1]}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(explain_emit.render_text(verdicts), nl=False)
        for fx, diff in fixes:
            click.echo(f"\nFix ({fx.applicability}): {fx.description}")
            for flow in fx.opens:
                click.echo(f"  opens {flow}")
            click.echo(diff, nl=False)
    exit_with(EXIT_OK if all(v.allowed for v in verdicts) else EXIT_FINDINGS, inventory)
