"""`netpol-fix connectivity`: every allowed connection, as netpol-analyzer's connlist."""

from __future__ import annotations

from typing import Any

import click

from netpol_fix.cli.common import (
    cluster_options,
    color_option,
    exit_with,
    network_cni,
    read_inventory,
    read_settings,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_OK
from netpol_fix.emit import connlist as connlist_emit
from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.network import Network


@click.command()
@click.argument("sources", nargs=-1)
@sources_options
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(connlist_emit.FORMATS), default="text",
              show_default=True, help="Output format; text is netpol-analyzer's connlist.")
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour; "
                   "wrong for Kubernetes, useful to compare results).")
@color_option
@settings_options
@cluster_options
def connectivity(sources: tuple[str, ...], fmt: str, host_network_as_pods: bool,
                 **settings: Any) -> None:
    """Every allowed connection between workloads and external address ranges.

    One line per pair: SRC => DST : CONNS. Exit code 0 (2 on input errors).

    Examples:

    \b
      netpol-fix connectivity manifests/
      netpol-fix connectivity -f apps/ -f platform/ -o md
      netpol-fix connectivity --cluster -A -o json
    """
    chosen = read_settings(**settings)
    inventory = read_inventory(sources)
    cni = network_cni(chosen)
    for note in cni.trace_notes():
        click.echo(f"note: {note}", err=True)
    if not inventory.workloads:
        click.echo("warning: no workloads (pods or pod templates) in the sources: the "
                   "connectivity list is empty", err=True)
    elif not (inventory.policies or inventory.admin_policies or inventory.cilium):
        click.echo("warning: no NetworkPolicy in the sources: every connection is allowed",
                   err=True)
    network = Network(inventory, host_network_as_pods=host_network_as_pods, cni=cni)
    connections = ConnectivityAnalysis(network).connections()
    click.echo(connlist_emit.render(connections, fmt), nl=False)
    if fmt == "mermaid" and len(connections) > connlist_emit.MERMAID_MAX_EDGES:
        click.echo(f"warning: {len(connections)} edges: Mermaid renders at most "
                   f"{connlist_emit.MERMAID_MAX_EDGES} by default (its maxEdges setting)",
                   err=True)
    exit_with(EXIT_OK, inventory)
