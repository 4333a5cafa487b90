"""Command line: parse options, call the library, pick an emitter. No semantics here.

Exit codes (every command): 0 nothing to report; 1 findings, changes that would be made,
or a denied verdict; 2 usage or input errors (they win over 1).
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

from netpol_fix import __version__
from netpol_fix.cluster_apply_cmd import apply_command
from netpol_fix.config import CNIS, ConfigError, Settings, load_settings
from netpol_fix.emit import connlist as connlist_emit
from netpol_fix.emit import explain as explain_emit
from netpol_fix.emit import findings as findings_emit
from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import Explainer, Query, Verdict, parse_port
from netpol_fix.fixes.files import apply_plan, unified_diff, write_results
from netpol_fix.fixes.flow import narrowest_fix
from netpol_fix.fixes.plan import build_plan
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.sources import STDIN_NAME, stdin_text
from netpol_fix.inventory.load import load_inventory
from netpol_fix.rules import RULES, UnknownRule, run_rules, select_rules
from netpol_fix.rules.base import Finding, Fix, Rule
from netpol_fix.rules.context import Context

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


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


def read_settings(**options: Any) -> Settings:
    try:
        return load_settings(options)
    except ConfigError as err:
        fail(str(err))


def read_inventory(sources: Sequence[str]) -> Inventory:
    if not sources:
        fail("no SOURCES given (files, directories, or - for stdin)")
    inventory = load_inventory(sources, sys.stdin)
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


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(connlist_emit.FORMATS), default="text",
              show_default=True, help="Output format; text is netpol-analyzer's connlist.")
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour; "
                   "wrong for Kubernetes, useful to compare results).")
@settings_options
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
def explain(sources: tuple[str, ...], from_: str, to: str, port: str | None, protocol: str,
            fmt: str, host_network_as_pods: bool, with_fix: bool, **settings: Any) -> None:
    """Is this connection allowed, and why: the verdict with its trace.

    Exit code 0 allowed, 1 denied, 2 usage or input errors.
    """
    read_settings(**settings)
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
    fixes: list[tuple[Fix, str]] = []
    if with_fix:
        for verdict, (s_idx, d_idx) in zip(verdicts, pairs):
            fx = narrowest_fix(network, verdict, s_idx, d_idx, query)
            if fx is not None:
                finding = Finding("explain", "error", fx.patches[0].object,
                                  fx.patches[0].source, "", fix=fx)
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


def analyse(sources: Sequence[str], select: str | None, ignore: str | None,
            settings: dict[str, Any]) -> tuple[Inventory, Context, list[Rule], list[Finding]]:
    """Load, then run the selected rules: what scan and fix share."""
    chosen = read_settings(**settings)
    try:
        rules = select_rules(_id_list(select), _id_list(ignore))
    except UnknownRule as err:
        fail(str(err))
    inventory = read_inventory(sources)
    ctx = Context(inventory, chosen)
    return inventory, ctx, rules, run_rules(ctx, rules)


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(findings_emit.FORMATS), default="text",
              show_default=True)
@rule_selection_options
@settings_options
def scan(sources: tuple[str, ...], fmt: str, select: str | None, ignore: str | None,
         **settings: Any) -> None:
    """Find the causes of silently dropped traffic.

    Exit code 0 no findings, 1 findings, 2 usage or input errors.
    """
    inventory, ctx, rules, findings = analyse(sources, select, ignore, settings)
    if fmt == "json":
        click.echo(findings_emit.render_json(findings, inventory.errors), nl=False)
    elif fmt == "sarif":
        click.echo(findings_emit.render_sarif(findings, rules, inventory.errors), nl=False)
    else:
        click.echo(findings_emit.render_text(findings), nl=False)
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
@settings_options
def fix(sources: tuple[str, ...], dry_run: bool, fmt: str, unsafe_fixes: bool,
        select: str | None, ignore: str | None, **settings: Any) -> None:
    """Apply the fixes: comment-preserving edits of the manifests, atomically.

    Only safe fixes unless --unsafe-fixes. Exit code: with --dry-run 1 when changes would
    be made, else 0; without it, 0 when every finding with an applicable fix was fixed and
    none is left, 1 when findings remain; 2 on usage or input errors, or a file that could
    not be edited.
    """
    inventory, _ctx, _rules, findings = analyse(sources, select, ignore, settings)
    plan = build_plan(findings, unsafe_fixes)
    for finding, reason in plan.skipped:
        click.echo(f"{findings_emit.where(finding)}: skipped fix for [{finding.rule}] "
                   f"{finding.object}: {reason}", err=True)
    texts = {STDIN_NAME: stdin_text() or ""} if "-" in sources else None
    results = apply_plan(plan, texts)
    failed = [r for r in results if r.error]
    for result in failed:
        click.echo(f"{result.file}: error: cannot edit: {result.error}; file left unchanged",
                   err=True)
    changed = [r for r in results if r.changed]
    if dry_run:
        if fmt == "json-patch":
            entries = [e for f, fx in plan.applied for e in _patch_entries(f, fx)]
            click.echo(json.dumps(entries, indent=2))
        else:
            click.echo(unified_diff(changed), nl=False)
        exit_with(EXIT_ERROR if failed else (EXIT_FINDINGS if changed else EXIT_OK), inventory)
    for result in changed:
        if result.file == STDIN_NAME:
            click.echo(result.new, nl=False)
    written = write_results(changed)
    applied = len(plan.applied)
    if written or applied:
        click.echo(f"Applied {applied} fix(es) to {len(written)} file(s).", err=True)
    remaining = [f for f in findings if all(f is not done for done, _fx in plan.applied)]
    if remaining:
        click.echo(f"{len(remaining)} finding(s) left (no fix, an unsafe fix, or skipped); "
                   "see `netpol-fix scan`.", err=True)
    exit_with(EXIT_ERROR if failed else (EXIT_FINDINGS if remaining else EXIT_OK), inventory)


def _patch_entries(finding: Finding, fx: Fix) -> list[dict[str, Any]]:
    """`fix --format json-patch` elements for one fix: its canonical form, one element per
    object it patches (the fix's `creates` and `opens` ride on the first element)."""
    entries: list[dict[str, Any]] = [{
        "rule": finding.rule,
        "object": patch.object.as_dict(),
        "operations": patch.operations,
        "creates": [],
        "opens": [],
        "applicability": fx.applicability,
    } for patch in fx.patches]
    if not entries:
        entries.append({"rule": finding.rule,
                        "object": fx.creates[0].ref.as_dict() if fx.creates else None,
                        "operations": [], "creates": [], "opens": [],
                        "applicability": fx.applicability})
    entries[0]["creates"] = [new.obj for new in fx.creates]
    entries[0]["opens"] = [flow.to_json() for flow in fx.opens]
    return entries


main.add_command(apply_command)


def run() -> None:
    """Entry point that maps every usage error to exit code 2 (click's default too)."""
    main()
