"""The `netpol-fix` command group: options common to all, and commands loaded when run.

Each command lives in its own module and is imported only when it is the one invoked (or
when `--help` lists them), so `netpol-fix rules` does not load the cluster reader, the
kubernetes client, jsonpatch or the PR code.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from netpol_fix import __version__

RECURSION_LIMIT = 20_000
"""Documents may nest up to 1,000 levels (yamldata/loader.py MAX_DEPTH); walking one
(copy.deepcopy, jsonpatch, comparisons) takes a few frames per level, more than Python's
default limit of 1,000 allows."""

GC_THRESHOLD = 100_000
"""Allocations between young-generation collections (Python's default: 700)."""

_FREEZE_AT_EXIT: list[bool] = []
"""Whether gc.freeze is registered to run at exit (once per process: main runs many times
in tests)."""

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
    # At exit CPython runs one last full collection before it frees the modules. A network
    # with policy tiers is a reference cycle (Network.tiers <-> Tiers.net) holding the whole
    # inventory, so that collection walked ~800,000 objects: 1.0 s of the 5,000-workload
    # `kinds` bench's scan, after the output was written (measured with gc.collect in an
    # atexit hook). Freezing moves what is alive into the permanent generation, which no
    # collection walks; the process ends and the OS takes the memory back. atexit only runs
    # when the interpreter exits (a CliRunner in tests does not), after click closed its
    # context and flushed the output; files are written with `with` blocks, closed already.
    if not _FREEZE_AT_EXIT:
        atexit.register(gc.freeze)
        _FREEZE_AT_EXIT.append(True)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))


def run(args: Sequence[str] | None = None) -> NoReturn:
    """The program (the console scripts and `python -m netpol_fix`): main, then the
    process ends as soon as the output is flushed.

    A normal exit first unwinds the command's frames, and with them the analysis: freeing
    the millions of objects of a large inventory one by one costs a tenth of a second per
    thousand workloads (measured: 0.2 s of the 5,000-workload bench's 3.5 s scan, after the
    last line was written), and the interpreter's teardown frees them again. The operating
    system takes the memory back at once, so the process leaves with os._exit after
    flushing stdout and stderr. Nothing else is pending then: files are written and closed
    by the commands (yamledit/atomic.py), no thread runs, and no atexit hook of the
    program does anything the OS does not (the gc.freeze above is for callers of main).
    Usage errors exit 2, as click's own standalone mode does; a stdout closed early by
    the reader (`| head`) ends the process quietly with 1 (see _flushed)."""
    from netpol_fix.inventory.collector import freeze_survivors

    freeze_survivors()  # one command, then the end: see inventory/collector.py
    try:
        main(args)  # click's standalone mode: always ends in SystemExit
        code = 0
    except SystemExit as done:
        code = _exit_status(done.code)
    os._exit(_flushed(code))


def _exit_status(code: object) -> int:
    """sys.exit's argument as the status the interpreter would exit with: None 0, an int
    itself, anything else printed to stderr and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _flushed(code: int) -> int:
    """Flush stdout and stderr; the status to exit with. A reader that closed the pipe
    (`netpol-fix scan . | head -1`) has what it wanted: exit 1 without a traceback, where
    the interpreter would print "Exception ignored ... BrokenPipeError" and exit 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a broken pipe, or a stream closed by the caller
            code = code or 1
    return code
