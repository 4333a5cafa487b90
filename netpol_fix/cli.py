"""Command line: parse options, call the library, pick an emitter. No semantics here.

Exit codes (every command): 0 nothing to report; 1 findings, changes that would be made,
or a denied verdict; 2 usage or input errors (they win over 1).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

from netpol_fix import __version__
from netpol_fix.config import CNIS, ConfigError, Settings, load_settings
from netpol_fix.emit import connlist as connlist_emit
from netpol_fix.emit import explain as explain_emit
from netpol_fix.emit import findings as findings_emit
from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import Explainer, Query, Verdict, parse_port
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.load import load_inventory
from netpol_fix.rules import RULES, UnknownRule, run_rules, select_rules
from netpol_fix.rules.base import Finding, Rule
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


def fix_preference_options(func: F) -> F:
    """How fixes are written, for `scan` and `fix` (they override .netpol-fix.yaml)."""
    return click.option(
        "--prefer-selector", "prefer_selector", is_flag=True, default=None,
        help="namespace-selector-unmatched: select the namespace by "
             "kubernetes.io/metadata.name instead of labelling the Namespace.")(func)


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
@click.option("--from", "from_", required=True, metavar="NS/NAME",
              help="Source workload or pod.")
@click.option("--to", "to", required=True, metavar="NS/NAME|IP|CIDR",
              help="Destination workload, pod, address or CIDR.")
@click.option("--port", default=None, help="Destination port (number or container port name).")
@click.option("--protocol", type=click.Choice(["TCP", "UDP", "SCTP"], case_sensitive=False),
              default="TCP", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--host-network-as-pods", is_flag=True,
              help="Analyse hostNetwork pods as ordinary pods (netpol-analyzer's behaviour).")
@settings_options
def explain(sources: tuple[str, ...], from_: str, to: str, port: str | None, protocol: str,
            fmt: str, host_network_as_pods: bool, **settings: Any) -> None:
    """Is this connection allowed, and why: the verdict with its trace.

    Exit code 0 allowed, 1 denied, 2 usage or input errors.
    """
    read_settings(**settings)
    inventory = read_inventory(sources)
    network = Network(inventory, host_network_as_pods=host_network_as_pods)
    query = Query(parse_port(port), protocol.upper())
    if isinstance(query.port, int) and not 1 <= query.port <= 65535:
        fail(f"--port {port}: must be between 1 and 65535")
    explainer = Explainer(network)
    sources_idx = _endpoint_arg(network, from_, "--from")
    verdicts: list[Verdict] = []
    address = _address_arg(to)
    if address is not None:
        verdicts = [explainer.explain_to_address(s, address, query) for s in sources_idx]
    else:
        targets = _endpoint_arg(network, to, "--to")
        verdicts = [explainer.explain_pods(s, d, query) for s in sources_idx for d in targets]
    if fmt == "json":
        click.echo(explain_emit.render_json(verdicts), nl=False)
    else:
        click.echo(explain_emit.render_text(verdicts), nl=False)
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
@fix_preference_options
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


def run() -> None:
    """Entry point that maps every usage error to exit code 2 (click's default too)."""
    main()
