"""`netpol-fix rules` and `netpol-fix rule ID`: the rules and their documentation."""

from __future__ import annotations

import click

from netpol_fix.cli.usage import fail
from netpol_fix.rules.base import rule_help
from netpol_fix.rules.registry import RULES


@click.command("rules")
def list_rules() -> None:
    """List every rule: id, severity, fix applicability, summary.

    Exit code 0.

    Examples:

    \b
      netpol-fix rules
      netpol-fix rule missing-dns-egress
    """
    width = max(len(r) for r in RULES)
    for rule in RULES.values():
        click.echo(f"{rule.id:<{width}}  {rule.severity:<7}  fix: {rule.applicability:<6}  "
                   f"{rule.summary}")


@click.command("rule")
@click.argument("rule_id")
def show_rule(rule_id: str) -> None:
    """Print a rule's documentation: why, example, fix, and when the fix is unsafe.

    RULE_ID is case-insensitive. Exit code 0, 2 for an unknown id.

    Examples:

    \b
      netpol-fix rule one-sided-allow
      netpol-fix rule MISSING-DNS-EGRESS
    """
    rule = RULES.get(rule_id.lower())
    if rule is None:
        fail(f"unknown rule id {rule_id!r} (see `netpol-fix rules`)")
    click.echo(rule_help(rule), nl=False)
