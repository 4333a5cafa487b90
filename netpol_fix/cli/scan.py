"""`netpol-fix scan`: the findings, as text, JSON or SARIF."""

from __future__ import annotations

from typing import Any

import click

from netpol_fix.cli.common import (
    CLUSTER_CNI,
    NOTES,
    analyse,
    cluster_options,
    color_option,
    exit_with,
    fix_preference_options,
    rule_selection_options,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_FINDINGS, EXIT_OK
from netpol_fix.emit import findings as findings_emit
from netpol_fix.inventory.cni import CniDetection


@click.command()
@click.argument("sources", nargs=-1)
@sources_options
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(findings_emit.FORMATS), default="text",
              show_default=True)
@rule_selection_options
@fix_preference_options
@color_option
@settings_options
@cluster_options
def scan(sources: tuple[str, ...], fmt: str, select: str | None, ignore: str | None,
         **settings: Any) -> None:
    """Find the causes of silently dropped traffic.

    Exit code 0 no findings, 1 findings, 2 usage or input errors.

    Examples:

    \b
      netpol-fix scan manifests/
      netpol-fix scan . --exclude charts/ --exclude 'ci/*.yaml' -v
      netpol-fix scan -f apps/ -o sarif > netpol-fix.sarif
      helm template charts/api | netpol-fix scan -
      netpol-fix scan --cluster -A --select missing-dns-egress
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
