"""The `netpol-fix` command group: options common to all, and commands loaded when run.

Each command lives in its own module and is imported only when it is the one invoked (or
when `--help` lists them), so `netpol-fix rules` does not load the cluster reader, the
kubernetes client, jsonpatch or the PR code.
"""

from __future__ import annotations

import gc
import importlib
import sys

import click

from netpol_fix import __version__

RECURSION_LIMIT = 20_000
"""Documents may nest up to 1,000 levels (inventory/yaml_loader.py MAX_DEPTH); walking one
(copy.deepcopy, jsonpatch, comparisons) takes a few frames per level, more than Python's
default limit of 1,000 allows."""

GC_THRESHOLD = 100_000
"""Allocations between young-generation collections (Python's default: 700)."""

COMMANDS: dict[str, tuple[str, str]] = {
    "apply": ("netpol_fix.cli.apply", "apply_command"),
    "connectivity": ("netpol_fix.cli.connectivity", "connectivity"),
    "diff": ("netpol_fix.cli.diff", "diff"),
    "drops": ("netpol_fix.cli.drops", "drops_command"),
    "explain": ("netpol_fix.cli.explain", "explain"),
    "fix": ("netpol_fix.cli.fix", "fix"),
    "pr": ("netpol_fix.cli.pr", "pr"),
    "rule": ("netpol_fix.cli.rules", "show_rule"),
    "rules": ("netpol_fix.cli.rules", "list_rules"),
    "scan": ("netpol_fix.cli.scan", "scan"),
}
"""Command name -> (module, attribute): the one place that says which commands exist."""


class LazyGroup(click.Group):
    """A click Group whose commands are imported on first use (click's documented pattern
    for lazy subcommands: override list_commands and get_command)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))


def run() -> None:
    """Entry point that maps every usage error to exit code 2 (click's default too)."""
    main()
