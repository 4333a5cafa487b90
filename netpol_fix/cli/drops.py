"""`netpol-fix drops`: observed drops -> groups -> the sources' explanation and fix."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import replace
from types import FrameType
from typing import Any

import click

from netpol_fix.cli.common import (
    cluster_cni,
    cluster_options,
    color_option,
    exit_with,
    format_option,
    read_inventory,
    read_settings,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, fail
from netpol_fix.drops import render as drops_emit
from netpol_fix.drops.explain import EXPLAINED, EXPLICIT_DENY, GAP, DropExplainer, Explanation
from netpol_fix.drops.fixes import drop_findings
from netpol_fix.drops.group import DROPPED, FORWARDED, Grouper
from netpol_fix.drops.read import STDIN, BadLines, read_flows
from netpol_fix.drops.resolve import Resolver
from netpol_fix.emit import fix_diff
from netpol_fix.fixes.files import apply_plan, unified_diff
from netpol_fix.fixes.plan import build_plan

FINDING_CLASSES = (EXPLAINED, EXPLICIT_DENY, GAP)


class _Stop(Exception):
    """SIGTERM during --follow: end like Ctrl-C, with the summary."""


def _on_term(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


@click.command("drops")
@click.argument("sources", nargs=-1)
@sources_options
@click.option("--flows", "flow_files", multiple=True, required=True, metavar="FILE|-",
              help="Flow log: Hubble JSON (jsonpb, legacy, camelCase, exporter files), "
                   "cilium monitor drop lines or -j JSON, Calico flow logs; gzip is read "
                   "directly; - is stdin. Repeatable.")
@click.option("--follow", is_flag=True,
              help="Keep reading (a growing file, or a pipe until it closes): print each "
                   "new group once, and the summary on exit (Ctrl-C).")
@format_option(drops_emit.FORMATS, "text",
               "text: one block per group; json; md: an incident note; sarif: on the "
               "policies named.")
@click.option("--fix", "with_fix", is_flag=True,
              help="With --dry-run: the diff of the fixes of every explained group.")
@click.option("--dry-run", is_flag=True, help="With --fix: print, write nothing.")
@color_option
@settings_options
@cluster_options
def drops_command(sources: tuple[str, ...], flow_files: tuple[str, ...], follow: bool,
                  fmt: str, with_fix: bool, dry_run: bool, **settings: Any) -> None:
    """Why the dataplane dropped these flows: each group of drops with the policies
    behind it, the causes and the fix, or why the sources do not explain it.

    Exit code 0 no drop explained by the sources and no enforcement gap, 1 explained
    drops (or explicit denies, or enforcement gaps), 2 usage or input errors.

    Examples:

    \b
      hubble observe --verdict DROPPED -o jsonpb --last 1000 > drops.json
      netpol-fix drops manifests/ --flows drops.json
      netpol-fix drops manifests/ --flows drops.json --fix --dry-run | git apply
      hubble observe -f -o jsonpb | netpol-fix drops manifests/ --flows - --follow
      cilium-dbg monitor --type drop | netpol-fix drops --cluster --flows -
      netpol-fix drops repo/ --flows flows.log.gz -o md > incident.md
    """
    if with_fix != dry_run:
        fail("--fix and --dry-run go together: `drops --fix --dry-run` prints the fixes "
             "as a diff (apply it with `git apply`, or run `netpol-fix fix`)")
    if with_fix and follow:
        fail("--fix --dry-run needs the whole input: leave out --follow")
    if list(flow_files).count(STDIN) > 1 or (STDIN in flow_files and "-" in sources):
        fail("stdin (-) can be read once: give it to --flows or to SOURCES, not both")
    chosen = read_settings(**settings)
    inventory = read_inventory(sources)
    cni = cluster_cni(chosen)
    if cni is not None:
        chosen = replace(chosen, cni=cni.name)
    explainer = DropExplainer(inventory, chosen)
    dns = explainer.context().dns
    grouper = Grouper(Resolver(inventory.workloads, (dns.namespace, dict(dns.labels))))
    bad = BadLines()

    def tell(message: str) -> None:
        click.echo(message, err=True)

    flows = read_flows(list(flow_files), bad, follow=follow, on_bad=tell)
    previous = signal.signal(signal.SIGTERM, _on_term) if follow else None
    try:
        if follow:
            for group in grouper.add_all(flows):
                explanation = explainer.explain(group)
                if group.observed == DROPPED or explanation.classification == GAP:
                    text = drops_emit.new_group_text(explanation) if fmt != "json" else \
                        json.dumps({"new_group": drops_emit.item_json(explanation)})
                    click.echo(text)
                    sys.stdout.flush()
        else:
            for _ in grouper.add_all(flows):
                pass
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for note in bad.notes:
        click.echo(note, err=True)
    report = _report(grouper, explainer, bad)
    if follow:
        click.echo(drops_emit.summary_line(report) if fmt != "json" else
                   json.dumps({"summary": report.summary()}))
    elif with_fix:
        explained = [e for e in report.drops if e.classification == EXPLAINED]
        plan = build_plan(drop_findings(explained), unsafe=True)
        for finding, reason in plan.skipped:
            click.echo(f"note: fix for {finding.object} skipped: {reason}", err=True)
        click.echo(fix_diff.render(plan.applied, unified_diff(apply_plan(plan))), nl=False)
    else:
        click.echo(drops_emit.render(report, fmt), nl=False)
    if bad.errors:
        exit_with(EXIT_ERROR, inventory)
    if grouper.flows == 0 and bad.total:
        click.echo("error: no line of the flow input is a flow of a known format", err=True)
        exit_with(EXIT_ERROR, inventory)
    found = any(e.classification in FINDING_CLASSES for e in report.drops + report.gaps)
    exit_with(EXIT_FINDINGS if found else EXIT_OK, inventory)


def _report(grouper: Grouper, explainer: DropExplainer, bad: BadLines
            ) -> drops_emit.DropsReport:
    dropped = grouper.ranked(DROPPED)
    explainer.context(dropped + grouper.ranked(FORWARDED))  # one network for all groups
    drops: list[Explanation] = [explainer.explain(g) for g in dropped]
    gaps = [e for e in (explainer.explain(g) for g in grouper.ranked(FORWARDED))
            if e.classification == GAP]
    counts = {"flows": grouper.flows,
              "dropped": sum(g.count for g in dropped),
              "forwarded": grouper.forwarded, "other": grouper.ignored}
    return drops_emit.DropsReport(drops, gaps, counts, dict(bad.counts))
