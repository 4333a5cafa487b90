"""`netpol-fix fix`: apply the fixes to the files (or print them with --dry-run)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from netpol_fix.cli.common import (
    analyse,
    cluster_options,
    color_option,
    exit_with,
    fix_preference_options,
    inventory_and_findings,
    rule_selection_options,
    settings_options,
    sources_options,
)
from netpol_fix.cli.usage import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from netpol_fix.emit import findings as findings_emit
from netpol_fix.emit import fix_diff
from netpol_fix.fixes.canonical import patch_entries
from netpol_fix.fixes.files import unified_diff, write_results
from netpol_fix.fixes.rounds import ROUNDS, fix_until_stable
from netpol_fix.fixes.scope import WriteScope
from netpol_fix.inventory.sources import STDIN_NAME, stdin_text
from netpol_fix.inventory.texts import reuse_unchanged_texts
from netpol_fix.model.findings import Finding
from netpol_fix.model.text import inert


@click.command()
@click.argument("sources", nargs=-1)
@sources_options
@click.option("--dry-run", is_flag=True,
              help="Print the changes instead of writing them (nothing is written).")
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(["diff", "json-patch"]), default="diff",
              show_default=True,
              help="What --dry-run prints: a unified diff, or the canonical JSON patches.")
@click.option("--unsafe-fixes", is_flag=True,
              help="Also apply fixes marked unsafe (they change more than the intended flow "
                   "or guess intent; read what each opens).")
@click.option("--write-outside-sources", is_flag=True,
              help="Also write files whose real path (through symlinks) lies outside the "
                   "SOURCES directories (refused by default).")
@rule_selection_options
@fix_preference_options
@color_option
@settings_options
@cluster_options
def fix(sources: tuple[str, ...], dry_run: bool, fmt: str, unsafe_fixes: bool,
        write_outside_sources: bool, select: str | None, ignore: str | None,
        **settings: Any) -> None:
    """Apply the fixes: comment-preserving edits of the manifests, atomically.

    Only safe fixes unless --unsafe-fixes. Exit code: with --dry-run 1 when changes would
    be made, else 0; without it, 0 when every finding with an applicable fix was fixed and
    none is left, 1 when findings remain; 2 on usage or input errors, or a file that could
    not be edited.

    Examples:

    \b
      netpol-fix fix --dry-run manifests/
      netpol-fix fix --dry-run --color always manifests/ | less -R
      netpol-fix fix manifests/                      # edit the files in place
      netpol-fix fix --dry-run -o json-patch manifests/ > fixes.json
    """
    reuse_unchanged_texts()  # the rounds read every source again; most are unchanged
    # only the inventory and the findings are kept: the analysis context holds the
    # network, which would stay alive through the next round's analysis otherwise
    # fix prints fixes, never a finding's message: its trace is left out (Context)
    inventory, findings = inventory_and_findings(analyse(sources, select, ignore, settings,
                                                         messages=False))

    def analyse_again(texts: Mapping[str, str]) -> list[Finding]:
        nonlocal inventory
        inventory, found = inventory_and_findings(
            analyse(sources, select, ignore, settings, overrides=texts, messages=False))
        return found

    def tell_skipped(finding: Finding, reason: str) -> None:
        click.echo(f"{findings_emit.where(finding)}: skipped fix for [{finding.rule}] "
                   f"{inert(str(finding.object))}: {inert(reason)}", err=True)

    stdin = {STDIN_NAME: stdin_text() or ""} if "-" in sources else None
    scope = None if write_outside_sources else WriteScope.of_sources(sources)
    run = fix_until_stable(findings, unsafe_fixes, analyse_again, stdin, tell_skipped,
                           scope=scope)
    for result in run.failed:
        click.echo(inert(f"{result.file}: error: cannot edit: {result.error}; file left "
                         "unchanged"), err=True)
    if not run.converged:
        click.echo(f"note: the fixes still change the files after {ROUNDS} rounds; run "
                   "`fix` again", err=True)
    failed = bool(run.failed)
    if not unsafe_fixes:
        held = [f for f in run.remaining if f.fix is not None and f.fix.applicability != "safe"]
        if held:
            click.echo(f"note: {len(held)} unsafe fix(es) not shown or applied: they open more "
                       "than the intended flow or guess the intent (see `netpol-fix scan`); "
                       "add --unsafe-fixes to include them", err=True)
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
    outcome = write_results(run.files)
    for file, reason in outcome.failed:
        click.echo(inert(f"{file}: error: {reason}; file left unchanged"), err=True)
    failed = failed or bool(outcome.failed)
    written = outcome.written
    if written or run.applied:
        fixed = len(run.applied)
        if outcome.failed:
            lost = {f for f, _ in outcome.failed}
            fixed = sum(1 for _f, fx in run.applied if not _touches(fx, lost))
        click.echo(f"Applied {fixed} fix(es) to {len(written)} file(s).", err=True)
    if run.remaining:
        click.echo(f"{len(run.remaining)} finding(s) left (no fix, an unsafe fix, or "
                   "skipped); see `netpol-fix scan`.", err=True)
    exit_with(EXIT_ERROR if failed else (EXIT_FINDINGS if run.remaining else EXIT_OK),
              inventory)


def _touches(fx: Any, files: set[str]) -> bool:
    """Does the fix edit one of `files` (its patched or anchoring objects' files)?"""
    sources = [p.source for p in fx.patches] + [n.after for n in fx.creates]
    return any(s is not None and s.location is not None and s.location.file in files
               for s in sources)
