"""What the commands share: exit codes, option groups, reading settings and SOURCES (and
the live cluster), and `analyse` (load, then run the rules) for scan and fix.

Heavy dependencies (the cluster reader, the rules) are imported inside the functions
that need them, so a command that does not use them never loads them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from netpol_fix.cli.usage import EXIT_ERROR, fail
from netpol_fix.config import CNIS, ConfigError, Settings, load_settings
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.load import load_inventory

if TYPE_CHECKING:
    from netpol_fix.cluster.read import ClusterRead
    from netpol_fix.inventory.cni import CniDetection
    from netpol_fix.model.findings import Finding
    from netpol_fix.rules.base import Rule
    from netpol_fix.rules.context import Context


F = TypeVar("F", bound=Callable[..., Any])


def settings_options(func: F) -> F:
    """Options for what a manifest repository cannot say (they override .netpol-fix.yaml)."""
    options = [
        click.option("--cni", type=click.Choice(CNIS), default=None,
                     help="CNI plugin of the target cluster (default: auto; without a "
                          "cluster, unknown)."),
        click.option("--dns-namespace", default=None,
                     help="Namespace of the cluster DNS pods (default kube-system)."),
        click.option("--dns-selector", default=None,
                     help="Labels of the cluster DNS pods (default k8s-app=kube-dns)."),
        click.option("--pod-cidr", default=None, help="The cluster's pod CIDR."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def fix_preference_options(func: F) -> F:
    """How fixes are written, for `scan` and `fix` (they override .netpol-fix.yaml)."""
    return click.option(
        "--prefer-selector", "prefer_selector", is_flag=True, default=None,
        help="namespace-selector-unmatched: select the namespace by "
             "kubernetes.io/metadata.name instead of labelling the Namespace.")(func)


CLUSTER_OPTIONS, CLUSTER_READ = "netpol_fix.cluster_options", "netpol_fix.cluster_read"


CLUSTER_CNI, NOTES = "netpol_fix.cluster_cni", "netpol_fix.notes"


def cluster_options(func: F) -> F:
    """`--cluster` and kubectl's options to read a live cluster; kept in the click context
    so that read_inventory() finds them and the commands' signatures stay unchanged."""
    @functools.wraps(func)
    def wrapper(*args: Any, cluster: bool, kubeconfig: str | None, context: str | None,
                namespace: str | None, all_namespaces: bool, **kwargs: Any) -> Any:
        if not cluster and (kubeconfig or context or namespace or all_namespaces):
            fail("--kubeconfig, --context, -n/--namespace and -A/--all-namespaces apply to "
                 "a live cluster: add --cluster")
        click.get_current_context().meta[CLUSTER_OPTIONS] = (
            {"kubeconfig": kubeconfig, "context": context, "namespace": namespace,
             "all_namespaces": all_namespaces} if cluster else None)
        return func(*args, **kwargs)

    options = [
        click.option("--cluster", is_flag=True,
                     help="Read the live cluster (with SOURCES too: files win for objects "
                          "both hold)."),
        click.option("--kubeconfig", default=None, metavar="PATH",
                     help="kubeconfig file (default $KUBECONFIG, ~/.kube/config; in a pod, "
                          "the service account)."),
        click.option("--context", default=None, help="kubeconfig context to use."),
        click.option("-n", "--namespace", default=None,
                     help="Namespace to read (default: the context's, else default)."),
        click.option("-A", "--all-namespaces", is_flag=True, help="Read all namespaces."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def cluster_read() -> ClusterRead | None:
    return click.get_current_context().meta.get(CLUSTER_READ)


def cluster_cni(settings: Settings) -> CniDetection | None:
    """The CNI in use and why, when a cluster was read (`--cni auto` takes the detected)."""
    read = cluster_read()
    if read is None:
        return None
    from netpol_fix.cluster.read import effective_cni

    return effective_cni(settings.cni, read.cni)


def read_settings(**options: Any) -> Settings:
    try:
        return load_settings(options)
    except ConfigError as err:
        fail(str(err))


def read_inventory(sources: Sequence[str], notes_to_stderr: bool = True,
                   overrides: Mapping[str, str] | None = None) -> Inventory:
    """SOURCES and/or the live cluster; input errors (and, unless the caller shows them in
    its output, notes) go to stderr. An unreachable cluster exits 2 with one line.
    With `overrides` (texts `fix` has edited, read instead of the files) this is a reread:
    the cluster read is reused and nothing is printed again."""
    ctx = click.get_current_context()
    options = ctx.meta.get(CLUSTER_OPTIONS)
    if options is None:
        if not sources:
            fail("no SOURCES given (files, directories, or - for stdin), and no --cluster")
        inventory = load_inventory(sources, sys.stdin, overrides)
        notes: list[str] = []
    else:
        from netpol_fix.cluster.kubeconfig import ClusterUnreachable
        from netpol_fix.cluster.load import load_with_cluster
        from netpol_fix.cluster.read import read_cluster

        read = ctx.meta.get(CLUSTER_READ) if overrides is not None else None
        if read is None:
            try:
                read = read_cluster(**options, progress=True)
            except ClusterUnreachable as err:
                click.echo(f"error: {err}", err=True)
                sys.exit(EXIT_ERROR)
            ctx.meta[CLUSTER_READ] = read
        inventory, notes = load_with_cluster(sources, read, sys.stdin, overrides)
    if overrides is not None:
        return inventory
    ctx.meta[NOTES] = notes
    if notes_to_stderr:
        for note in notes:
            click.echo(f"note: {note}", err=True)
    for error in inventory.errors:
        click.echo(str(error), err=True)
    return inventory


def has_errors(inventory: Inventory) -> bool:
    return any(e.severity == "error" for e in inventory.errors)


def exit_with(code: int, inventory: Inventory | None = None) -> NoReturn:
    if inventory is not None and has_errors(inventory):
        code = EXIT_ERROR
    sys.exit(code)


def id_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def rule_selection_options(func: F) -> F:
    func = click.option("--ignore", default=None, metavar="IDS",
                        help="Comma-separated rule ids to skip.")(func)
    func = click.option("--select", default=None, metavar="IDS",
                        help="Comma-separated rule ids to run (default: all).")(func)
    return func


def inventory_and_findings(analysed: tuple[Inventory, Context, list[Rule], list[Finding]]
                            ) -> tuple[Inventory, list[Finding]]:
    return analysed[0], analysed[3]


def analyse(sources: Sequence[str], select: str | None, ignore: str | None,
            settings: dict[str, Any], notes_to_stderr: bool = True,
            overrides: Mapping[str, str] | None = None
            ) -> tuple[Inventory, Context, list[Rule], list[Finding]]:
    """Load, then run the selected rules: what scan and fix share (`overrides`: see
    read_inventory)."""
    from netpol_fix.rules.context import Context
    from netpol_fix.rules.registry import UnknownRule, run_rules, select_rules

    chosen = read_settings(**settings)
    try:
        # an option replaces the config file's list (as every option does)
        rules = select_rules(id_list(select) if select is not None else chosen.select,
                             id_list(ignore) if ignore is not None else chosen.ignore)
    except UnknownRule as err:
        where = f" in {chosen.config_file}" if chosen.config_file and (
            select is None or ignore is None) else ""
        fail(f"{err}{where}")
    inventory = read_inventory(sources, notes_to_stderr, overrides)
    cni = cluster_cni(chosen)
    click.get_current_context().meta[CLUSTER_CNI] = cni
    if cni is not None:
        chosen = replace(chosen, cni=cni.name)
        if notes_to_stderr and overrides is None:
            click.echo(f"note: CNI {cni.name}: {cni.reason}", err=True)
    ctx = Context(inventory, chosen)
    return inventory, ctx, rules, run_rules(ctx, rules)
