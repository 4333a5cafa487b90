"""Command line: parse options, call the library, pick an emitter. No semantics here.

Exit codes (every command): 0 nothing to report; 1 findings, changes that would be made,
or a denied verdict; 2 usage or input errors (they win over 1).
"""

from __future__ import annotations

import functools
import gc
import ipaddress
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

import click

from netpol_fix import __version__
from netpol_fix.cluster_apply_cmd import apply_command
from netpol_fix.config import CNIS, ConfigError, Settings, load_settings
from netpol_fix.emit import connlist as connlist_emit
from netpol_fix.emit import diff as diff_emit
from netpol_fix.emit import explain as explain_emit
from netpol_fix.emit import findings as findings_emit
from netpol_fix.emit import fix_diff
from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.diff import FAIL_ON, counts_as_failure, diff_inventories
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import DnsCheck, Explainer, Query, Verdict, parse_port
from netpol_fix.fixes.canonical import patch_entries
from netpol_fix.fixes.files import apply_plan, unified_diff, write_results
from netpol_fix.fixes.flow import narrowest_fix
from netpol_fix.fixes.plan import build_plan
from netpol_fix.fixes.rounds import ROUNDS, fix_until_stable
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.cluster import (
    ClusterRead,
    ClusterUnreachable,
    effective_cni,
    read_cluster,
)
from netpol_fix.inventory.cni import CniDetection
from netpol_fix.inventory.git import load_source_inventory
from netpol_fix.inventory.load import load_inventory, load_with_cluster
from netpol_fix.inventory.sources import STDIN_NAME, stdin_text
from netpol_fix.model.findings import Finding, Fix
from netpol_fix.pr.command import FORGES, PrOptions, run_pr
from netpol_fix.pr.errors import PrError, scrub
from netpol_fix.rules.base import Rule
from netpol_fix.rules.context import Context
from netpol_fix.rules.missing_dns_egress import MissingDnsEgress, dns_rules, fix_protocols
from netpol_fix.rules.registry import RULES, UnknownRule, run_rules, select_rules

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])

GC_THRESHOLD = 100_000
"""Allocations between young-generation collections (Python's default: 700)."""


class UsageFailure(click.UsageError):
    """A usage error with exit code 2 and a plain message."""


def fail(message: str) -> NoReturn:
    raise UsageFailure(message)


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
    return effective_cni(settings.cni, read.cni) if read is not None else None


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netpol-fix")
def main() -> None:
    """Find why Kubernetes NetworkPolicy silently drops traffic, and write the fix.

    Exit codes: 0 nothing to report, 1 findings / changes / denied, 2 usage or input errors.
    """
    # A run allocates millions of small objects (parsed documents, selectors, rules) and
    # frees few of them before it ends; the default collector threshold walks the growing
    # heap again and again (measured: building the 5,000-workload bench inventory 2.5 s ->
    # 1.6 s with fewer collections). Cycles are still collected, just less often.
    gc.set_threshold(GC_THRESHOLD, 50, 50)


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(connlist_emit.FORMATS), default="text",
              show_default=True, help="Output format; text is netpol-analyzer's connlist.")
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour; "
                   "wrong for Kubernetes, useful to compare results).")
@settings_options
@cluster_options
def connectivity(sources: tuple[str, ...], fmt: str, host_network_as_pods: bool,
                 **settings: Any) -> None:
    """Every allowed connection between workloads and external address ranges.

    One line per pair: SRC => DST : CONNS. Exit code 0 (2 on input errors).
    """
    read_settings(**settings)
    inventory = read_inventory(sources)
    if not inventory.workloads:
        click.echo("warning: no workloads (pods or pod templates) in the sources: the "
                   "connectivity list is empty", err=True)
    elif not inventory.policies:
        click.echo("warning: no NetworkPolicy in the sources: every connection is allowed",
                   err=True)
    network = Network(inventory, host_network_as_pods=host_network_as_pods)
    click.echo(connlist_emit.render(ConnectivityAnalysis(network).connections(), fmt), nl=False)
    exit_with(EXIT_OK, inventory)


@main.command("diff")
@click.argument("old")
@click.argument("new", required=False)
@click.option("--format", "fmt", type=click.Choice(diff_emit.FORMATS), default="text",
              show_default=True, help="md is a pull-request comment; netpol-analyzer is its "
                                      "diff format, line for line.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="any", show_default=True,
              help="Which differences exit 1: removed also counts pairs that lost some "
                   "connections, added pairs that gained some.")
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour).")
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
    """
    read_settings(**settings)
    from_cluster = click.get_current_context().meta.get(CLUSTER_OPTIONS) is not None
    if from_cluster == (new is not None):
        fail("give NEW, or --cluster to compare OLD with the live cluster (not both)")
    if old == "-" and new == "-":
        fail("OLD and NEW cannot both be - (stdin)")
    old_inventory = load_source_inventory(old, sys.stdin)
    for error in old_inventory.errors:
        click.echo(str(error), err=True)
    if new is None:
        new_inventory = read_inventory([])  # the cluster; prints its own errors
    else:
        new_inventory = load_source_inventory(new, sys.stdin)
        for error in new_inventory.errors:
            click.echo(str(error), err=True)
    inventories = [old_inventory, new_inventory]
    if not any(i.workloads for i in inventories):
        click.echo("warning: no workloads (pods or pod templates) in either version: there "
                   "are no connections to compare", err=True)
    result = diff_inventories(old_inventory, new_inventory,
                              host_network_as_pods=host_network_as_pods)
    click.echo(diff_emit.render(result, fmt), nl=False)
    if fmt == "netpol-analyzer":
        hidden = [c for c in result.changes if not diff_emit.ports_only(c)]
        if hidden:
            click.echo(f"note: {len(hidden)} pair(s) differ in ICMP only, which this format "
                       "cannot show (see --format text)", err=True)
    failing = any(counts_as_failure(c, fail_on) for c in result.changes)
    code = EXIT_ERROR if any(has_errors(i) for i in inventories) else int(failing)
    sys.exit(code)


def _endpoint_arg(network: Network, text: str, option: str) -> list[int]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name:
        fail(f"{option} {text!r}: expected NAMESPACE/NAME (a workload or pod name)")
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


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--from", "from_", required=True, metavar="NS/NAME|IP|CIDR",
              help="Source workload, pod, or an address outside the cluster's pods.")
@click.option("--to", "to", required=True, metavar="NS/NAME|IP|CIDR",
              help="Destination workload, pod, address or CIDR.")
@click.option("--port", default=None, help="Destination port (number or container port name).")
@click.option("--protocol", type=click.Choice(["TCP", "UDP", "SCTP", "ICMP"],
                                              case_sensitive=False),
              default="TCP", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour).")
@click.option("--fix", "with_fix", is_flag=True,
              help="Add the narrowest patch that admits exactly this flow, as a diff.")
@settings_options
@cluster_options
def explain(sources: tuple[str, ...], from_: str, to: str, port: str | None, protocol: str,
            fmt: str, host_network_as_pods: bool, with_fix: bool, **settings: Any) -> None:
    """Is this connection allowed, and why: the verdict with its trace.

    Exit code 0 allowed, 1 denied, 2 usage or input errors.
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
    if with_fix:
        for verdict, (s_idx, d_idx) in zip(verdicts, pairs):
            dns = None
            if verdict.dns is not None and not verdict.dns.allowed:
                dns = dns_rules(context.dns, fix_protocols(context.dns, verdict.dns.lacking))
            # the rules' network also holds the DNS stand-in, so `opens` names the lookups
            # (same endpoint indices: stand-ins come after the workloads)
            fx = narrowest_fix(network if host_network_as_pods else context.network, verdict,
                               s_idx, d_idx, query, dns)
            if fx is not None:
                edited, source = (fx.patches[0].object, fx.patches[0].source) if fx.patches \
                    else (fx.creates[0].ref, fx.creates[0].after)
                finding = Finding("explain", "error", edited, source, "", fix=fx)
                results = apply_plan(build_plan([finding], unsafe=True))
                fixes.append((fx, unified_diff(results)))
    if fmt == "json":
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


def _id_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def rule_selection_options(func: F) -> F:
    func = click.option("--ignore", default=None, metavar="IDS",
                        help="Comma-separated rule ids to skip.")(func)
    func = click.option("--select", default=None, metavar="IDS",
                        help="Comma-separated rule ids to run (default: all).")(func)
    return func


def _inventory_and_findings(analysed: tuple[Inventory, Context, list[Rule], list[Finding]]
                            ) -> tuple[Inventory, list[Finding]]:
    return analysed[0], analysed[3]


def analyse(sources: Sequence[str], select: str | None, ignore: str | None,
            settings: dict[str, Any], notes_to_stderr: bool = True,
            overrides: Mapping[str, str] | None = None
            ) -> tuple[Inventory, Context, list[Rule], list[Finding]]:
    """Load, then run the selected rules: what scan and fix share (`overrides`: see
    read_inventory)."""
    chosen = read_settings(**settings)
    try:
        # an option replaces the config file's list (as every option does)
        rules = select_rules(_id_list(select) if select is not None else chosen.select,
                             _id_list(ignore) if ignore is not None else chosen.ignore)
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


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(findings_emit.FORMATS), default="text",
              show_default=True)
@rule_selection_options
@fix_preference_options
@settings_options
@cluster_options
def scan(sources: tuple[str, ...], fmt: str, select: str | None, ignore: str | None,
         **settings: Any) -> None:
    """Find the causes of silently dropped traffic.

    Exit code 0 no findings, 1 findings, 2 usage or input errors.
    """
    inventory, _ctx, rules, findings = analyse(sources, select, ignore, settings,
                                               notes_to_stderr=fmt != "text")
    cni: CniDetection | None = click.get_current_context().meta[CLUSTER_CNI]
    if fmt == "json":
        extra = {"cni": cni.to_json()} if cni is not None else None
        for piece in findings_emit.iter_json(findings, inventory.errors, extra):
            click.echo(piece, nl=False)
    elif fmt == "sarif":
        click.echo(findings_emit.render_sarif(findings, rules, inventory.errors), nl=False)
    else:
        notes = list(click.get_current_context().meta.get(NOTES, []))
        if cni is not None:
            notes.insert(0, f"CNI {cni.name}: {cni.reason}")
        click.echo(findings_emit.render_text(findings, notes), nl=False)
    exit_with(EXIT_FINDINGS if findings else EXIT_OK, inventory)


@main.command("rules")
def list_rules() -> None:
    """List every rule: id, severity, fix applicability, summary."""
    width = max(len(r) for r in RULES)
    for rule in RULES.values():
        click.echo(f"{rule.id:<{width}}  {rule.severity:<7}  fix: {rule.applicability:<6}  "
                   f"{rule.summary}")


@main.command("rule")
@click.argument("rule_id")
def show_rule(rule_id: str) -> None:
    """Print a rule's documentation: why, example, fix, and when the fix is unsafe."""
    rule = RULES.get(rule_id)
    if rule is None:
        fail(f"unknown rule id {rule_id!r} (see `netpol-fix rules`)")
    click.echo(findings_emit.rule_help(rule), nl=False)


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--dry-run", is_flag=True,
              help="Print the changes instead of writing them (nothing is written).")
@click.option("--format", "fmt", type=click.Choice(["diff", "json-patch"]), default="diff",
              show_default=True,
              help="What --dry-run prints: a unified diff, or the canonical JSON patches.")
@click.option("--unsafe-fixes", is_flag=True,
              help="Also apply fixes marked unsafe (they change more than the intended flow "
                   "or guess intent; read what each opens).")
@rule_selection_options
@fix_preference_options
@settings_options
@cluster_options
def fix(sources: tuple[str, ...], dry_run: bool, fmt: str, unsafe_fixes: bool,
        select: str | None, ignore: str | None, **settings: Any) -> None:
    """Apply the fixes: comment-preserving edits of the manifests, atomically.

    Only safe fixes unless --unsafe-fixes. Exit code: with --dry-run 1 when changes would
    be made, else 0; without it, 0 when every finding with an applicable fix was fixed and
    none is left, 1 when findings remain; 2 on usage or input errors, or a file that could
    not be edited.
    """
    # only the inventory and the findings are kept: the analysis context holds the
    # network, which would stay alive through the next round's analysis otherwise
    inventory, findings = _inventory_and_findings(analyse(sources, select, ignore, settings))

    def analyse_again(texts: Mapping[str, str]) -> list[Finding]:
        nonlocal inventory
        inventory, found = _inventory_and_findings(
            analyse(sources, select, ignore, settings, overrides=texts))
        return found

    def tell_skipped(finding: Finding, reason: str) -> None:
        click.echo(f"{findings_emit.where(finding)}: skipped fix for [{finding.rule}] "
                   f"{finding.object}: {reason}", err=True)

    stdin = {STDIN_NAME: stdin_text() or ""} if "-" in sources else None
    run = fix_until_stable(findings, unsafe_fixes, analyse_again, stdin, tell_skipped)
    for result in run.failed:
        click.echo(f"{result.file}: error: cannot edit: {result.error}; file left unchanged",
                   err=True)
    if not run.converged:
        click.echo(f"note: the fixes still change the files after {ROUNDS} rounds; run "
                   "`fix` again", err=True)
    failed = bool(run.failed)
    if dry_run:
        if fmt == "json-patch":
            entries = [e for f, fx in run.applied
                       for e in patch_entries(f, fx, run.operations[id(fx)])]
            click.echo(json.dumps(entries, indent=2))
        else:
            click.echo(fix_diff.render(run.applied, unified_diff(run.files)), nl=False)
        exit_with(EXIT_ERROR if failed else (EXIT_FINDINGS if run.files else EXIT_OK),
                  inventory)
    for result in run.files:
        if result.file == STDIN_NAME:
            click.echo(result.new, nl=False)
    written = write_results(run.files)
    if written or run.applied:
        click.echo(f"Applied {len(run.applied)} fix(es) to {len(written)} file(s).", err=True)
    if run.remaining:
        click.echo(f"{len(run.remaining)} finding(s) left (no fix, an unsafe fix, or "
                   "skipped); see `netpol-fix scan`.", err=True)
    exit_with(EXIT_ERROR if failed else (EXIT_FINDINGS if run.remaining else EXIT_OK),
              inventory)


@main.command("pr")
@click.argument("sources", nargs=-1)
@click.option("--base", default=None, metavar="BRANCH",
              help="Branch to fix and target (default: the remote's default branch, else "
                   "the current branch's upstream).")
@click.option("--branch", default=None, metavar="NAME",
              help="Branch to push (default netpol-fix/<base>/<hash of the fixed objects>).")
@click.option("--remote", default="origin", show_default=True)
@click.option("--forge", type=click.Choice(FORGES), default="github", show_default=True,
              help="Where to open the pull request; none only pushes the branch.")
@click.option("--api-url", default=None, metavar="URL",
              help="Forge API root (default from the remote's host: https://api.github.com, "
                   "https://HOST/api/v3, https://HOST/api/v4).")
@click.option("--repository", default=None, metavar="OWNER/NAME",
              help="Repository on the forge (default: parsed from the remote URL).")
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes marked unsafe.")
@rule_selection_options
@settings_options
def pr(sources: tuple[str, ...], base: str | None, branch: str | None, remote: str,
       forge: str, api_url: str | None, repository: str | None, draft: bool,
       unsafe_fixes: bool, select: str | None, ignore: str | None, **settings: Any) -> None:
    """Commit the fixes on one branch, push it, and open or update its pull request.

    SOURCES are paths relative to the repository root. The work happens in a temporary
    worktree of the base branch: your checkout, index and branch are never touched. A rerun
    with the same fixes pushes nothing. Tokens: GITHUB_TOKEN / GITLAB_TOKEN. Prints the pull
    request URL (or the branch with --forge none). Exit code 0 done, 2 on errors.
    """
    options = PrOptions(sources, base, branch, remote, forge, api_url, repository, draft,
                        unsafe_fixes, _id_list(select), _id_list(ignore), settings)
    try:
        result = run_pr(options, lambda line: click.echo(scrub(line), err=True))
    except PrError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    if result.outcome is not None:
        click.echo(f"{result.outcome.action} pull request #{result.outcome.number}", err=True)
        click.echo(result.outcome.url)
    elif result.branch is not None:
        click.echo(result.branch)
    sys.exit(EXIT_OK)


main.add_command(apply_command)


def run() -> None:
    """Entry point that maps every usage error to exit code 2 (click's default too)."""
    main()
