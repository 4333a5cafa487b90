"""`netpol-fix diff`: what changed between two versions (or the repository and the cluster)."""

from __future__ import annotations

import sys
from typing import Any

import click

from netpol_fix.cli.common import (
    CLUSTER_OPTIONS,
    VERBOSE,
    cluster_options,
    color_option,
    exclude_options,
    has_errors,
    network_cni,
    no_objects,
    read_inventory,
    read_settings,
    selection,
    settings_options,
    show_input_notes,
)
from netpol_fix.cli.usage import EXIT_ERROR, fail
from netpol_fix.emit import diff as diff_emit
from netpol_fix.engine.diff import FAIL_ON, counts_as_failure, diff_inventories
from netpol_fix.inventory.git import load_source_inventory


@click.command("diff")
@click.argument("old")
@click.argument("new", required=False)
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(diff_emit.FORMATS), default="text",
              show_default=True, help="md is a pull-request comment; netpol-analyzer is its "
                                      "diff format, line for line.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="any", show_default=True,
              help="Which differences exit 1: removed also counts pairs that lost some "
                   "connections, added pairs that gained some.")
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour).")
@exclude_options
@color_option
@settings_options
@cluster_options
def diff(old: str, new: str | None, fmt: str, fail_on: str, host_network_as_pods: bool,
         **settings: Any) -> None:
    """What changed between OLD and NEW: every pair whose allowed connections differ,
    and the policy, namespace or workload change responsible.

    OLD and NEW are each a file, a directory, - (stdin), or git:REV[:PATH], read from the
    history of the repository containing the current directory without touching the
    checkout (git:HEAD~1:apps/). With --cluster instead of NEW, the live cluster is NEW:
    what drifted from the repository. Exit code 0 same connectivity, 1 it differs (see
    --fail-on), 2 usage or input errors.

    Examples:

    \b
      netpol-fix diff git:HEAD~1 .                 # what this change does
      netpol-fix diff git:origin/main:apps/ apps/ -o md
      netpol-fix diff manifests/ --cluster -A      # drift from the repository
    """
    configured = read_settings(**settings)
    from_cluster = click.get_current_context().meta.get(CLUSTER_OPTIONS) is not None
    if from_cluster == (new is not None):
        fail("give NEW, or --cluster to compare OLD with the live cluster (not both)")
    if old == "-" and new == "-":
        fail("OLD and NEW cannot both be - (stdin)")
    chosen = selection()
    verbose = bool(click.get_current_context().meta.get(VERBOSE))
    old_inventory = load_source_inventory(old, sys.stdin, chosen)
    show_input_notes(old_inventory, verbose)
    if new is None:
        new_inventory = read_inventory([])  # the cluster; prints its own errors
    else:
        new_inventory = load_source_inventory(new, sys.stdin, chosen)
        show_input_notes(new_inventory, verbose)
    inventories = [old_inventory, new_inventory]
    if not any(i.objects_read for i in inventories):
        no_objects([old, new or ""], old_inventory)
    if not any(i.workloads for i in inventories):
        click.echo("warning: no workloads (pods or pod templates) in either version: there "
                   "are no connections to compare", err=True)
    cni = network_cni(configured)
    for note in cni.trace_notes():
        click.echo(f"note: {note}", err=True)
    result = diff_inventories(old_inventory, new_inventory,
                              host_network_as_pods=host_network_as_pods, cni=cni)
    click.echo(diff_emit.render(result, fmt), nl=False)
    if fmt == "netpol-analyzer":
        hidden = [c for c in result.changes if not diff_emit.ports_only(c)]
        if hidden:
            click.echo(f"note: {len(hidden)} pair(s) differ in ICMP only, which this format "
                       "cannot show (see --format text)", err=True)
    failing = any(counts_as_failure(c, fail_on) for c in result.changes)
    code = EXIT_ERROR if any(has_errors(i) for i in inventories) else int(failing)
    sys.exit(code)
