"""What the commands share: exit codes, option groups, reading settings and SOURCES (and
the live cluster), and `analyse` (load, then run the rules) for scan and fix.

Heavy dependencies (the cluster reader, the rules) are imported inside the functions
that need them, so a command that does not use them never loads them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from netpol_fix.cli.usage import EXIT_ERROR, fail
from netpol_fix.config import CNIS, ConfigError, Settings, load_settings
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.load import load_inventory
from netpol_fix.inventory.sources import Selection

if TYPE_CHECKING:
    from netpol_fix.cluster.read import ClusterRead
    from netpol_fix.engine.cni import CniModel
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
        click.option("--node-cidr", default=None,
                     help="The nodes' address range (hostNetwork pods send from it)."),
        click.option("--ipblocks-never-match-pods", is_flag=True, default=None,
                     help="netpol-analyzer's model: an ipBlock matches no pod or node."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def fix_preference_options(func: F) -> F:
    """How fixes are written and told, for `scan` and `fix` (they override
    .netpol-fix.yaml)."""
    options = [
        click.option(
            "--prefer-selector", "prefer_selector", is_flag=True, default=None,
            help="namespace-selector-unmatched: select the namespace by "
                 "kubernetes.io/metadata.name instead of labelling the Namespace."),
        click.option(
            "--strict", "strict", is_flag=True, default=None,
            help="one-sided-allow: also report broad permissions (a namespaceSelector by "
                 "team/env labels, a tier across namespaces) that some admitted pods "
                 "cannot use, one warning per policy."),
        click.option(
            "--all-opens", "all_opens", is_flag=True, default=None,
            help="List every workload pair each fix opens (default: the first 20, the "
                 "rest counted)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


CLUSTER_OPTIONS, CLUSTER_READ = "netpol_fix.cluster_options", "netpol_fix.cluster_read"


CLUSTER_CNI, NOTES = "netpol_fix.cluster_cni", "netpol_fix.notes"


DEFAULT_NAMESPACE = "netpol_fix.default_namespace"


def cluster_options(func: F | None = None, *, names_namespace: bool = False) -> Any:
    """`--cluster` and kubectl's options to read a live cluster; kept in the click context
    so that read_inventory() finds them and the commands' signatures stay unchanged.

    With `names_namespace` (explain), `-n NS` also works without `--cluster`, as kubectl's
    does: it is the namespace of `--from`/`--to` names given without one."""
    if func is None:
        return functools.partial(cluster_options, names_namespace=names_namespace)

    @functools.wraps(func)
    def wrapper(*args: Any, cluster: bool, kubeconfig: str | None, context: str | None,
                namespace: str | None, all_namespaces: bool, **kwargs: Any) -> Any:
        loose = (kubeconfig or context or all_namespaces
                 or (namespace and not names_namespace))
        if not cluster and loose:
            fail("--kubeconfig, --context, -n/--namespace and -A/--all-namespaces apply to "
                 "a live cluster: add --cluster")
        meta = click.get_current_context().meta
        meta[DEFAULT_NAMESPACE] = namespace
        meta[CLUSTER_OPTIONS] = (
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
                     help=("Namespace to read (default: the context's, else default); also "
                           "the namespace of --from/--to names without one."
                           if names_namespace else
                           "Namespace to read (default: the context's, else default).")),
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


SETTINGS = "netpol_fix.settings"
SELECTION = "netpol_fix.selection"


def network_cni(settings: Settings) -> CniModel:
    """What the cluster's CNI enforces, for the engine: `--cni` (or the CNI detected on a
    cluster that was read, under `--cni auto`), the address ranges and the ipBlock model."""
    from netpol_fix.engine.cni import cni_model

    detected = cluster_cni(settings)
    name = detected.name if detected is not None else settings.cni
    read = cluster_read()
    return cni_model(name, settings.ipblocks_never_match_pods, settings.pod_cidr,
                     settings.node_cidr, read.node_addresses if read is not None else ())


def read_settings(**options: Any) -> Settings:
    try:
        settings = load_settings(options)
    except ConfigError as err:
        fail(str(err))
    click.get_current_context().meta[SETTINGS] = settings
    return settings


def selection() -> Selection:
    """The exclude patterns of this run: `--exclude` (relative to each SOURCES directory)
    and `exclude:` of .netpol-fix.yaml (relative to its folder)."""
    meta = click.get_current_context().meta
    settings: Settings | None = meta.get(SETTINGS)
    config = settings.config_file if settings else None
    return Selection(tuple(meta.get(SELECTION, ())), settings.exclude if settings else (),
                     os.path.dirname(config) if config else None)


def sources_options(func: F) -> F:
    """kubectl's `-f/--filename` (repeatable) beside the SOURCES arguments, and
    exclude_options' `--exclude` and `-v`."""
    @functools.wraps(func)
    def wrapper(*args: Any, filenames: tuple[str, ...], **kwargs: Any) -> Any:
        if filenames:
            kwargs["sources"] = (*kwargs.get("sources", ()), *filenames)
        return func(*args, **kwargs)

    with_filename = click.option(
        "-f", "--filename", "filenames", multiple=True, metavar="PATH",
        help="A file or directory to read, as kubectl's -f (repeatable; adds to SOURCES)."
    )(wrapper)
    return exclude_options(with_filename)  # type: ignore[return-value]


VERBOSE = "netpol_fix.verbose"


def exclude_options(func: F) -> F:
    """`--exclude` (repeatable gitignore-style patterns) and `-v/--verbose`, kept in the
    click context for read_inventory() (diff uses them alone: its OLD and NEW are no
    SOURCES)."""
    @functools.wraps(func)
    def wrapper(*args: Any, exclude: tuple[str, ...], verbose: bool, **kwargs: Any) -> Any:
        meta = click.get_current_context().meta
        meta[SELECTION] = exclude
        meta[VERBOSE] = verbose
        return func(*args, **kwargs)

    wrapper = click.option("-v", "--verbose", is_flag=True,
                           help="List the files skipped because they hold no Kubernetes "
                                "object.")(wrapper)
    wrapper = click.option("--exclude", multiple=True, metavar="GLOB",
                           help="Skip files and directories matching this gitignore-style "
                                "pattern, relative to each SOURCES directory (repeatable; "
                                "adds to `exclude:` of .netpol-fix.yaml).")(wrapper)
    return wrapper  # type: ignore[return-value]


def color_option(func: F) -> F:
    """`--color auto|always|never`: `always` keeps colours through a pipe (`| less -R`),
    `never` drops them; `auto` colours a terminal unless NO_COLOR is set."""
    def set_color(ctx: click.Context, _param: click.Parameter, value: str) -> str:
        ctx.color = {"always": True, "never": False}.get(value)
        if value == "never":
            os.environ["NO_COLOR"] = "1"
        elif value == "always":
            os.environ.pop("NO_COLOR", None)
        return value

    return click.option("--color", type=click.Choice(["auto", "always", "never"]),
                        default="auto", show_default=True, expose_value=False,
                        is_eager=True, callback=set_color,
                        help="Colour the output: always (also through a pipe, for less -R), "
                             "never, or auto (a terminal, unless NO_COLOR is set).")(func)


def format_option(choices: Sequence[str], default: str, help_text: str | None = None
                  ) -> Callable[[F], F]:
    """`--format`, also spelt `-o/--output` as kubectl spells it."""
    return click.option("-o", "--output", "--format", "fmt", type=click.Choice(choices),
                        default=default, show_default=True, help=help_text)


def no_objects(sources: Sequence[str], inventory: Inventory) -> NoReturn:
    """A run that read no Kubernetes object says so and exits 2: "No findings." would be
    a false all-clear."""
    skipped = len(inventory.skipped_files)
    detail = f" ({skipped} file(s) held none; -v lists them)" if skipped else ""
    where = " ".join(sources) or "SOURCES"
    click.echo(f"error: no Kubernetes objects in {where}{detail}", err=True)
    sys.exit(EXIT_ERROR)


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
        inventory = load_inventory(sources, sys.stdin, overrides, selection())
        notes: list[str] = list(inventory.notes)
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
        inventory, notes = load_with_cluster(sources, read, sys.stdin, overrides,
                                             selection())
    if overrides is not None:
        return inventory
    notes.extend(skipped_notes(inventory, bool(ctx.meta.get(VERBOSE))))
    ctx.meta[NOTES] = notes
    if notes_to_stderr:
        for note in notes:
            click.echo(f"note: {note}", err=True)
    for error in inventory.errors:
        click.echo(str(error), err=True)
    if not inventory.objects_read and options is None:
        no_objects(sources, inventory)
    return inventory


def show_input_notes(inventory: Inventory, verbose: bool) -> None:
    """Notes, skipped files and input errors of an inventory read outside read_inventory
    (diff's OLD and NEW), on stderr."""
    for note in [*inventory.notes, *skipped_notes(inventory, verbose)]:
        click.echo(f"note: {note}", err=True)
    for error in inventory.errors:
        click.echo(str(error), err=True)


def skipped_notes(inventory: Inventory, verbose: bool) -> list[str]:
    """One note counting the files that held no Kubernetes object; with -v one each."""
    files = inventory.skipped_files
    if not files:
        return []
    if verbose:
        return [f"skipped {f}: no Kubernetes object in it" for f in files]
    return [f"skipped {len(files)} file(s) that hold no Kubernetes object (-v lists them)"]


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
            overrides: Mapping[str, str] | None = None, messages: bool = True
            ) -> tuple[Inventory, Context, list[Rule], list[Finding]]:
    """Load, then run the selected rules: what scan and fix share (`overrides`: see
    read_inventory; `messages=False`: the caller shows no finding message, see
    Context.traced_messages)."""
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
    ctx = Context(inventory, chosen, cni=network_cni(chosen))
    ctx.traced_messages = messages
    return inventory, ctx, rules, run_rules(ctx, rules)
